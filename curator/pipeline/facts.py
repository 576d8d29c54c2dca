"""What the planner knows about a dataset before anything heavy runs: its size, whether its items have text,
whether it carries ground-truth labels, and whether a denoise adapter was made for its catalog.

An adapter fits a dataset when the data it was trained on (its recorded content hash, curator.denoise's
`denoiser.json`) is the dataset itself or one of its ancestors (each manifest names its parent): a curated or
injected copy of MovieLens-100K keeps the catalog and the co-occurrence the adapter was calibrated on. Any other
data is another catalog, whatever its size: its items were never seen, its calibration does not carry over.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from curator.data.dataset import Dataset
from curator.data.schema import MANIFEST_FILE
from curator.inject.config import FAKE_USERS_LABELS, NOISE_LABELS

TEXT_SHARE = 0.5  # items with a title: below this share the catalog is treated as having no item text


@dataclass(frozen=True)
class AdapterFit:
    adapter: str
    fits: bool
    trained_on: dict[str, Any]  # name, hash, users, interactions of the adapter's training data
    uses_text: bool  # whether the adapter has an LLM part (needs item titles)
    reason: str


@dataclass(frozen=True)
class DataFacts:
    name: str
    path: str
    content_hash: str
    users: int
    items: int
    interactions: int
    titled_items: float  # share of items with a non-empty title
    noise_labels: bool
    fake_user_labels: bool
    lineage: tuple[str, ...]  # content hashes: the dataset's, its parent's, ...

    @property
    def has_text(self) -> bool:
        return self.titled_items >= TEXT_SHARE

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lineage": list(self.lineage), "has_text": self.has_text}


def data_facts(dataset: Dataset) -> DataFacts:
    items = dataset.tables.items
    titled = 0.0
    if "title" in items.column_names and items.num_rows:
        titles = pc.utf8_trim_whitespace(pc.fill_null(items["title"].cast("string"), ""))
        titled = float(pc.sum(pc.greater(pc.utf8_length(titles), 0)).as_py() or 0) / items.num_rows
    counts = dataset.manifest["counts"]
    return DataFacts(
        name=dataset.name,
        path=str(dataset.path.resolve()),
        content_hash=dataset.content_hash,
        users=int(counts["users"]),
        items=int(counts["items"]),
        interactions=int(counts["interactions"]),
        titled_items=round(titled, 4),
        noise_labels=(dataset.path / NOISE_LABELS).is_file(),
        fake_user_labels=(dataset.path / FAKE_USERS_LABELS).is_file(),
        lineage=lineage(dataset),
    )


def lineage(dataset: Dataset, limit: int = 32) -> tuple[str, ...]:
    """The content hashes of `dataset` and its recorded ancestors, nearest first (as far as their folders are
    still on disk; the parent's hash itself is recorded in the manifest either way)."""
    hashes = [dataset.content_hash]
    manifest = dataset.manifest
    while len(hashes) < limit and manifest.get("parent"):
        parent = manifest["parent"]
        hashes.append(parent["content_hash"])
        file = Path(parent.get("path", "")) / MANIFEST_FILE
        if not file.is_file():
            break
        manifest = json.loads(file.read_text(encoding="utf-8"))
    return tuple(hashes)


def adapter_fit(adapter: str, facts: DataFacts) -> AdapterFit:
    """Whether denoise adapter `adapter` (a shipped name or a folder) was made for this data's catalog."""
    from curator.denoise.denoiser import denoiser_meta
    from curator.llm.adapters import adapter_folder

    meta = denoiser_meta(adapter_folder(adapter))
    trained_on = meta.get("data", {})
    uses_text = bool(meta.get("config", {}).get("use_text", True))
    trained_hash = trained_on.get("hash", "")
    short = f"{trained_on.get('name', '?')}, {trained_on.get('users', '?')} users, hash {trained_hash[:12]}"
    if trained_hash and trained_hash in facts.lineage:
        relation = "this very data" if trained_hash == facts.content_hash else "an ancestor of this data"
        reason = (
            f"the denoise adapter {adapter} was trained on {relation} ({short}): same catalog and co-occurrence, "
            "so its calibration holds here"
        )
        return AdapterFit(adapter, True, trained_on, uses_text, reason)
    reason = (
        f"the denoise adapter {adapter} was made for another catalog ({short}); this data ({facts.name}, "
        f"{facts.items:,} items, hash {facts.content_hash[:12]}) is neither that data nor derived from it, so "
        "its p(noise) would not be calibrated here"
    )
    return AdapterFit(adapter, False, trained_on, uses_text, reason)
