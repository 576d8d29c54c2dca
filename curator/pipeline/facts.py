"""What the planner knows about a dataset before anything heavy runs: its size, whether its items have text,
whether it carries ground-truth labels, and whether a denoise adapter was made for its catalog.

An adapter fits a dataset when most of the dataset's items are in the adapter's catalog, by id and title (the
item overlap that `curator denoise` itself checks before it accepts an adapter: curator.denoise.catalog): a
slice, a curated or an injected copy of MovieLens-100K keeps the catalog the adapter was calibrated on; another
catalog, whatever its size or numbering, does not, and its calibration does not carry over. An adapter that
records no catalog is judged by lineage instead: the data it was trained on (its recorded content hash) is the
dataset itself or one of its ancestors (each manifest names its parent).
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
    item_overlap: float | None  # share of the data's items in the adapter's catalog; None: no catalog recorded
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


def adapter_fit(adapter: str, dataset: Dataset, facts: DataFacts) -> AdapterFit:
    """Whether denoise adapter `adapter` (a shipped name or a folder) was made for `dataset`'s catalog."""
    from curator.denoise.catalog import CATALOG_FILE, MIN_OVERLAP, item_overlap
    from curator.denoise.denoiser import denoiser_meta
    from curator.llm.adapters import adapter_folder

    folder = adapter_folder(adapter)
    meta = denoiser_meta(folder)
    trained_on = meta.get("data", {})
    uses_text = bool(meta.get("config", {}).get("use_text", True))
    trained_hash = trained_on.get("hash", "")
    short = f"{trained_on.get('name', '?')}, {trained_on.get('users', '?')} users, hash {trained_hash[:12]}"
    derived = bool(trained_hash) and trained_hash in facts.lineage
    relation = "this very data" if trained_hash == facts.content_hash else "an ancestor of this data"
    if (folder / CATALOG_FILE).is_file():
        overlap = item_overlap(json.loads((folder / CATALOG_FILE).read_text(encoding="utf-8")), dataset)
        fits = overlap >= MIN_OVERLAP
        measured = (
            f"{overlap:.0%} of this data's items ({facts.name}, {facts.items:,} items) are in its catalog, by id and "
            f"title ({MIN_OVERLAP:.0%} needed)"
        )
        if fits:
            reason = (
                f"the denoise adapter {adapter} was trained on {short}: {measured}"
                + (f"; it was trained on {relation}" if derived else "")
                + ", so its calibration holds here"
            )
        else:
            reason = (
                f"the denoise adapter {adapter} was made for another catalog ({short}): only {measured}, so its "
                "p(noise) would not be calibrated here"
            )
        return AdapterFit(adapter, fits, trained_on, uses_text, round(overlap, 4), reason)
    if derived:
        reason = (
            f"the denoise adapter {adapter} records no catalog ({CATALOG_FILE}), but it was trained on {relation} "
            f"({short}): same catalog, so its calibration holds here"
        )
        return AdapterFit(adapter, True, trained_on, uses_text, None, reason)
    reason = (
        f"the denoise adapter {adapter} records no catalog ({CATALOG_FILE}) and was trained on other data ({short}); "
        f"this data ({facts.name}, hash {facts.content_hash[:12]}) is neither that data nor derived from it, so its "
        "p(noise) would not be calibrated here"
    )
    return AdapterFit(adapter, False, trained_on, uses_text, None, reason)
