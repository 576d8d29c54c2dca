"""The catalog a denoise adapter was trained on, and the check that an input is of that catalog.

A denoiser's calibration holds on the data it was trained on: handed another catalog (another domain,
other items), its p keeps the look of a probability but loses the meaning, and `--threshold` edits at a
precision nobody measured. So `curator adapt` records the catalog in the adapter folder (CATALOG_FILE,
beside the denoiser's own files), and `curator denoise` compares the input with it before loading anything.

The record is a bottom-k sketch: the SKETCH_SIZE smallest 64-bit hashes of the keys (item id and title)
of the items some training sequence holds. Every item below the sketch's largest hash is in it, so the
share of an input's items below that hash which the sketch holds estimates the share of the input's items
the adapter has seen (exact for catalogs of up to SKETCH_SIZE items, e.g. MovieLens-100K's 1,682). The id
alone would not do: two catalogs numbered 1..N share every id and no item.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curator.data.collaborative import training_interactions
from curator.data.dataset import Dataset
from curator.errors import ModelError

CATALOG_FILE = "catalog.json"
SKETCH_SIZE = 2048
MIN_OVERLAP = 0.5  # of the input's items the adapter must have seen for its p to be taken as calibrated


@dataclass(frozen=True)
class CatalogCheck:
    overlap: float | None  # estimated share of the input's items in the adapter's catalog; None: not recorded
    foreign: bool  # the adapter was not trained on this catalog (or does not say), so p is uncalibrated here

    def to_dict(self) -> dict[str, Any]:
        return {"item_overlap": self.overlap, "foreign": self.foreign, "calibrated": not self.foreign}

    def p_meaning(self) -> str:
        """What a score table's p is, in a word or two."""
        return "uncalibrated (foreign adapter)" if self.foreign else "calibrated"


def item_hashes(dataset: Dataset) -> np.ndarray:
    """(items some training sequence holds,) sorted unique 64-bit hashes of their id and title."""
    held = np.unique(training_interactions(dataset).item)
    ids = dataset.items["item_id"].to_pylist()
    titles = dataset.items["title"].to_pylist()
    keys = (f"{ids[k]}\x1f{titles[k] or ''}".encode() for k in held)
    hashes = (int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") for key in keys)
    return np.unique(np.fromiter(hashes, np.uint64))


def catalog_record(dataset: Dataset) -> dict[str, Any]:
    """What CATALOG_FILE holds for an adapter trained on `dataset`."""
    hashes = item_hashes(dataset)
    return {
        "data": {"name": dataset.name, "hash": dataset.content_hash},
        "items": len(hashes),
        "sketch": [f"{h:016x}" for h in hashes[:SKETCH_SIZE]],
    }


def write_catalog(folder: Path, dataset: Dataset) -> None:
    (folder / CATALOG_FILE).write_text(json.dumps(catalog_record(dataset)) + "\n", encoding="utf-8")


def item_overlap(record: dict[str, Any], dataset: Dataset) -> float:
    """The estimated share of `dataset`'s items (those some training sequence holds) that the adapter
    whose CATALOG_FILE holds `record` was trained on."""
    sketch = np.array([int(h, 16) for h in record["sketch"]], dtype=np.uint64)
    hashes = item_hashes(dataset)
    if not len(sketch) or not len(hashes):
        return 0.0
    # Below the sketch's largest hash the sketch is the whole catalog (all of it when it is not full).
    below = hashes if record["items"] <= len(sketch) else hashes[hashes <= sketch[-1]]
    if not len(below):  # a few items, all above: the sketch cannot say; compare what it can
        below = hashes
    return float(np.isin(below, sketch).mean())


def check_catalog(folder: Path, dataset: Dataset, *, allow_foreign: bool) -> CatalogCheck:
    """Whether adapter `folder` was trained on `dataset`'s catalog: ModelError naming `curator adapt` when
    it was not (or does not say), unless `allow_foreign`; then the check says p is uncalibrated."""
    file = folder / CATALOG_FILE
    if not file.is_file():
        overlap, why = None, f"{folder.name} records no catalog ({CATALOG_FILE})"
    else:
        overlap = item_overlap(json.loads(file.read_text(encoding="utf-8")), dataset)
        why = f"{folder.name} was trained on another catalog: {overlap:.0%} of {dataset.name}'s items are in it"
    foreign = overlap is None or overlap < MIN_OVERLAP
    if foreign and not allow_foreign:
        raise ModelError(
            f"--adapter {folder}: {why}, so its p would not be calibrated here; train one on this data with "
            f"`curator adapt {dataset.path} --task denoise --out adapters/NAME` (or pass --allow-foreign-adapter)"
        )
    return CatalogCheck(overlap, foreign)
