"""The output of a profile run: the input dataset folder with `profiles/items.parquet` and/or
`profiles/users.parquet` added (one row per profiled id, in dataset order), and the merge of the outputs of a
sharded run (`--shard 1/N` ... `N/N`) into what the unsharded run writes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curator.data.dataset import Dataset, read_dataset, write_dataset
from curator.data.schema import MANIFEST_FILE
from curator.errors import InputError
from curator.profile.config import ID_COLUMN, PROFILE_FILE, ProfileOptions, stages_of
from curator.run.sharding import Shard

SHARD_NOTE = "shard "  # how the note of a shard's output begins; the merged output drops it


def in_dataset_order(table: pa.Table, stage: str, dataset: Dataset) -> pa.Table:
    """`table`'s rows in the order of their ids in `dataset`'s items (or users) table."""
    source = dataset.items if stage == "items" else dataset.users
    column = ID_COLUMN[stage]
    position = {identifier: k for k, identifier in enumerate(source[column].to_pylist())}
    return table.take(np.argsort([position[i] for i in table[column].to_pylist()], kind="stable"))


def status_counts(profiles: dict[str, pa.Table]) -> dict[str, dict[str, int]]:
    """stage -> status -> profiles."""
    return {stage: dict(sorted(Counter(table["status"].to_pylist()).items())) for stage, table in profiles.items()}


def run_notes(options: ProfileOptions, engine_info: dict[str, Any] | None) -> list[str]:
    """The manifest's notes: that a shard's output is partial, and why the quantization differs from the one
    asked for."""
    notes = (
        [f"{SHARD_NOTE}{options.shard}: only this shard's profiles; join the shards with `curator profile-merge`"]
        if Shard.parse(options.shard).count > 1
        else []
    )
    if engine_info and engine_info["quant_note"]:
        notes.append(engine_info["quant_note"])
    return notes


def write_profiled(
    folder: Path,
    dataset: Dataset,
    profiles: dict[str, pa.Table],
    *,
    command: Sequence[str],
    notes: Sequence[str],
    config: dict[str, Any],
    parent: Dataset | None = None,
) -> Dataset:
    """`dataset`'s tables and extras (its other profiles included) plus `profiles`, written into `folder`."""
    written = {PROFILE_FILE[stage]: table for stage, table in profiles.items()}
    return write_dataset(
        folder,
        dataset.interactions,
        dataset.items,
        dataset.users,
        name=dataset.name,
        source=dataset.manifest.get("source"),
        command=list(command),
        config=config,
        parent=parent or dataset,
        notes=notes,
        extra_files={**carried_extras(dataset, set(written)), **written},
    )


def carried_extras(dataset: Dataset, written: set[str]) -> dict[str, Path]:
    """`dataset`'s extras that the output keeps: all but the profiles it writes anew."""
    carried: dict[str, Path] = {}
    for name in dataset.extras:
        if name == "profiles":
            carried.update(
                {
                    f"profiles/{file.name}": file
                    for file in (dataset.path / "profiles").iterdir()
                    if f"profiles/{file.name}" not in written
                }
            )
        else:
            carried[name] = dataset.path / name
    return carried


def unsharded_record(shards: Sequence[Dataset]) -> dict[str, Any]:
    """The run record (curator.profile.config.run_record) of the unsharded run whose shards `shards` are: each
    shard 1/N ... N/N exactly once, all of one run (same input, options but the shard, model and prompts)."""
    records = []
    for shard in shards:
        record = shard.manifest.get("config", {}).get("profile")
        if record is None:
            raise InputError(f"{shard.path} was not written by `curator profile`")
        records.append(record)
    numbers = [Shard.parse(record["options"]["shard"]) for record in records]
    count = numbers[0].count
    if sorted(n.index for n in numbers) != list(range(1, count + 1)) or any(n.count != count for n in numbers):
        raise InputError(
            f"give every shard 1/{count} ... {count}/{count} exactly once (got {', '.join(str(n) for n in numbers)})"
        )
    unsharded = _without_shard(records[0])
    for shard, record in zip(shards, records):
        if _without_shard(record) != unsharded:
            raise InputError(
                f"{shard.path} comes from another run (other input, options or model) than {shards[0].path}"
            )
    return unsharded


def _without_shard(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "options": {**record["options"], "shard": None}}


def shards_parent(shard: Dataset) -> Dataset:
    """The dataset a shard was profiled from (its manifest's parent), checked unchanged since."""
    recorded = shard.manifest.get("parent") or {}
    path = Path(recorded.get("path", ""))
    if not recorded or not (path / MANIFEST_FILE).is_file():
        raise InputError(f"{shard.path}: its input dataset {path} is not there; the merge records it as parent")
    parent = read_dataset(path)
    if parent.content_hash != recorded["content_hash"]:
        raise InputError(f"{path} changed since the shards were made (content hash differs)")
    return parent


def write_merged(
    folder: Path, shards: Sequence[Dataset], unsharded: dict[str, Any], parent: Dataset, *, command: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Write into `folder` the output of the unsharded run of `shards` (see unsharded_record), and return its
    counts by status: the first shard's extras, every shard's profiles in dataset order, `parent` as parent."""
    profiles = {}
    for stage in stages_of(unsharded["options"]["stage"]):
        table = pa.concat_tables([pq.read_table(shard.path / PROFILE_FILE[stage]) for shard in shards])
        profiles[stage] = in_dataset_order(table, stage, parent)
    counts = status_counts(profiles)
    first = shards[0]
    config = {"profile": unsharded, "engine": first.manifest["config"]["engine"], "counts": counts}
    notes = [note for note in first.manifest.get("notes", []) if not note.startswith(SHARD_NOTE)]
    write_profiled(folder, first, profiles, command=command, notes=notes, config=config, parent=parent)
    return counts
