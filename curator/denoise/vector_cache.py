"""Item vectors outlive the run that computed them.

Encoding the catalog is most of what `curator denoise` costs on a CPU (about two thirds of a MovieLens-100K
run), and a user who tries a second threshold, denoises the clean and the noisy copy of one catalog, or
resumes a killed run would otherwise pay it again for the same numbers. The vectors are kept under the
user cache (`$CURATOR_CACHE/item-vectors`, see curator.llm.models.cache_root), in a file named by a digest
of everything they depend on: the base weights (a local folder's files; a hub id by its name), the
adapters' files, quantization, dtype, device, the library versions and the exact item texts. A change in
any of them is another name, never a stale hit. The folder may be deleted at any time to reclaim space.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import transformers

from curator.data.atomic import atomic_write_file
from curator.llm.config import EngineInfo
from curator.llm.models import cache_root, file_digest

FORMAT = 2  # bump when what a vector means changes without any of the digested inputs changing (2: encoded in
# fixed chunks of items, curator.denoise.inference.ITEM_CHUNK)


def cache_folder() -> Path:
    return cache_root() / "item-vectors"


def _folder_fingerprint(folder: Path, contents: bool) -> list:
    """Each file's relative name with its content digest (`contents`) or its size and modification time
    (for model weights, too large to read on every run; a rewritten file gets a new time)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if contents:
        return [[str(p.relative_to(folder)), file_digest(p)] for p in files]
    return [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def vectors_key(info: EngineInfo, texts: Sequence[str], max_tokens: int) -> str:
    """The digest naming the vectors of `texts` as the engine described by `info` encodes them."""
    model = Path(info.model_path)
    identity = {
        "format": FORMAT,
        "model": _folder_fingerprint(model, contents=False) if model.is_dir() else info.model_path,
        "adapters": {
            name: _folder_fingerprint(Path(folder), contents=True) for name, folder in sorted(info.adapters.items())
        },
        "quant": info.quant,
        "dtype": info.dtype,
        "device": str(info.device).split(":")[0],
        "versions": [torch.__version__, transformers.__version__],
        "max_tokens": max_tokens,
        "texts": hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest(),
        "count": len(texts),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def cached_vectors(key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The vectors stored under `key`, else `compute()`, stored for the next run."""
    path = cache_folder() / f"{key}.npy"
    if path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError):
            pass  # a damaged entry (a full disk, a killed writer on a filesystem without atomic rename)
    vectors = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_file(path, lambda staging: _save(staging, vectors))
    except OSError:
        pass  # a read-only or full cache costs the next run the encoding, never this run its result
    return vectors


def _save(path: Path, array: np.ndarray) -> None:
    # Through a file object: np.save given a path appends ".npy" to a name without it (the staging name).
    with path.open("wb") as file:
        np.save(file, array)
