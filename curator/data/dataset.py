"""The dataset folder: the contract between stages (see DESIGN.md, "The dataset folder").

interactions.parquet  user_id, item_id, timestamp, position, rating   (ordered: user, then position)
items.parquet         item_id, title, text attributes...
users.parquet         user_id, weight, text attributes...
manifest.json         schema version, counts, content hash, parent, source, command, config, notes (and the
                      ledger's hash, when there is a ledger)
README.md             the dataset card: each table a config of Hugging Face `datasets` (curator.data.card)
profiles/, ledger.parquet, labels/ ...  optional, written by later stages (kept, never required)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import __version__
from curator.data.card import write_dataset_card
from curator.data.hashing import content_hash, table_hash
from curator.data.ledger_format import LEDGER_FILE
from curator.data.ordering import check_sequences, sequence_bounds, sort_by_position
from curator.data.schema import (
    DATASET_CARD,
    INTERACTIONS_FILE,
    INTERACTIONS_SCHEMA,
    ITEMS_FILE,
    ITEMS_REQUIRED,
    MANIFEST_FILE,
    REQUIRED_FILES,
    SCHEMA_VERSION,
    STAGE_FILE,
    USERS_FILE,
    USERS_REQUIRED,
    check_attribute_columns,
    check_columns,
    check_no_null,
    check_unique,
)
from curator.errors import InputError, OptionError

INTERACTIONS_REQUIRED = {field.name: field.type for field in INTERACTIONS_SCHEMA}


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset folder. Tables are in their stored order (interactions: user, then position)."""

    path: Path
    interactions: pa.Table
    items: pa.Table
    users: pa.Table
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def content_hash(self) -> str:
        return self.manifest["content_hash"]

    @property
    def tables(self) -> Tables:
        return Tables(self.interactions, self.items, self.users)

    def summary(self) -> dict[str, Any]:
        """What a command that wrote this folder prints of it (and records in its stage.json): name, counts, notes."""
        return {"name": self.name, "counts": self.manifest["counts"], "notes": self.manifest.get("notes", [])}

    @property
    def extras(self) -> list[str]:
        """Names of the optional things in the folder (e.g. 'labels', 'ledger.parquet', 'profiles'); the record
        of the stage that wrote the folder and the dataset card are not."""
        made = (*REQUIRED_FILES, STAGE_FILE, DATASET_CARD)  # what every folder has, or what each write makes anew
        return sorted(entry.name for entry in self.path.iterdir() if entry.name not in made)

    def sequence_bounds(self) -> np.ndarray:
        """Row offsets of each user's sequence: user k (row k of `users`) is rows bounds[k]:bounds[k+1]
        of `interactions`."""
        return sequence_bounds(self.interactions)


class Tables(NamedTuple):
    """The three tables of a dataset folder, as stages hand them to each other before writing."""

    interactions: pa.Table
    items: pa.Table
    users: pa.Table

    def content_hash(self) -> str:
        return tables_hash(self.interactions, self.items, self.users)


def tables_hash(interactions: pa.Table, items: pa.Table, users: pa.Table) -> str:
    return content_hash({"interactions": interactions, "items": items, "users": users})


def read_dataset(path: str | Path) -> Dataset:
    """Read and validate a dataset folder; every violation is an InputError naming file and problem."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"dataset folder {path} does not exist" if not path.exists() else f"{path} is not a folder")
    for file in REQUIRED_FILES:
        if not (path / file).is_file():
            raise InputError(f"{path}: missing {file} (not a curator dataset folder?)")
    manifest = _read_manifest(path / MANIFEST_FILE)
    interactions, items, users = (_read_parquet(path / file) for file in (INTERACTIONS_FILE, ITEMS_FILE, USERS_FILE))
    validate_tables(interactions, items, users)
    actual = tables_hash(interactions, items, users)
    if actual != manifest.get("content_hash"):
        raise InputError(
            f"{path / MANIFEST_FILE}: content_hash does not match the tables (were they edited after writing?)"
        )
    return Dataset(path=path, interactions=interactions, items=items, users=users, manifest=manifest)


def _read_manifest(file: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{file}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise InputError(f"{file}: expected a JSON object")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise InputError(
            f"{file}: schema_version {manifest.get('schema_version')!r} is not supported (expected {SCHEMA_VERSION})"
        )
    for key in ("name", "content_hash", "counts"):
        if key not in manifest:
            raise InputError(f"{file}: missing key '{key}'")
    return manifest


def _read_parquet(file: Path) -> pa.Table:
    try:
        # One file, read as such: pq.read_table goes through pyarrow.dataset, which imports pandas (0.3 s of
        # every command's start).
        with pq.ParquetFile(file) as parquet:
            return parquet.read()
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{file}: cannot read Parquet ({error})") from None


def validate_tables(interactions: pa.Table, items: pa.Table, users: pa.Table) -> None:
    """The invariants every dataset folder holds; InputError names the file and the first violation."""
    validate_columns(interactions, items, users)
    validate_references(interactions, items, users)
    validate_sequences(interactions, users)


def validate_sequences(interactions: pa.Table, users: pa.Table) -> None:
    """Rows grouped by user in the order of `users`, positions 0..n-1, time never going back."""
    check_sequences(interactions, INTERACTIONS_FILE)
    in_interactions = interactions["user_id"].combine_chunks().unique()
    if not in_interactions.equals(users["user_id"].combine_chunks()):
        raise InputError(f"{INTERACTIONS_FILE}: users are not in the order of the rows of {USERS_FILE}")


def validate_columns(interactions: pa.Table, items: pa.Table, users: pa.Table) -> None:
    """Required columns and types, no null ids, unique item and user ids."""
    check_columns(interactions, INTERACTIONS_REQUIRED, INTERACTIONS_FILE)
    check_columns(items, ITEMS_REQUIRED, ITEMS_FILE)
    check_columns(users, USERS_REQUIRED, USERS_FILE)
    check_attribute_columns(items, ITEMS_REQUIRED, ITEMS_FILE)
    check_attribute_columns(users, USERS_REQUIRED, USERS_FILE)
    for column in ("user_id", "item_id", "timestamp", "position"):
        check_no_null(interactions, column, INTERACTIONS_FILE)
    check_no_null(items, "item_id", ITEMS_FILE)
    check_no_null(users, "user_id", USERS_FILE)
    check_no_null(users, "weight", USERS_FILE)
    check_unique(items, "item_id", ITEMS_FILE)
    check_unique(users, "user_id", USERS_FILE)


def validate_references(interactions: pa.Table, items: pa.Table, users: pa.Table) -> None:
    """Every interacted item and user has a row; every user has an interaction."""
    if (item := _first_missing(interactions["item_id"], items["item_id"])) is not None:
        raise InputError(f"{INTERACTIONS_FILE}: item '{item}' has no row in {ITEMS_FILE}")
    if (user := _first_missing(interactions["user_id"], users["user_id"])) is not None:
        raise InputError(f"{INTERACTIONS_FILE}: user '{user}' has no row in {USERS_FILE}")
    if (user := _first_missing(users["user_id"], interactions["user_id"])) is not None:
        raise InputError(f"{USERS_FILE}: user '{user}' has no interactions")


def _first_missing(values: pa.ChunkedArray, allowed: pa.ChunkedArray) -> str | None:
    """The first value not in `allowed`, or None."""
    missing = pc.invert(pc.is_in(values, value_set=allowed.combine_chunks()))
    return values.filter(missing)[0].as_py() if pc.any(missing).as_py() else None


def write_dataset(
    folder: str | Path,
    interactions: pa.Table,
    items: pa.Table,
    users: pa.Table,
    *,
    name: str,
    source: Mapping[str, Any] | None,
    command: Sequence[str],
    config: Mapping[str, Any],
    parent: Dataset | None = None,
    notes: Sequence[str] = (),
    extra_files: Mapping[str, pa.Table | Path] | None = None,
) -> Dataset:
    """Validate the tables, write them as a dataset folder into `folder` (made if missing), and return it.

    `interactions` may come in any row order; rows are grouped by user in the order of the `users` rows
    and sorted by position, which must run 0..n-1 per user. `extra_files` maps a relative path inside the folder
    (e.g. 'labels/noise.parquet') to a table (written as Parquet) or an existing file/folder (copied).
    Writing is not atomic by itself: stages write into the folder their envelope renames into place
    (curator.run.stage), other callers into `curator.data.atomic.atomic_output_dir`.
    """
    validate_columns(interactions, items, users)
    validate_references(interactions, items, users)
    interactions = sort_by_position(interactions, users["user_id"])
    validate_sequences(interactions, users)
    extra_files = dict(extra_files or {})
    for relative in extra_files:
        _check_extra_path(relative)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "counts": {"users": len(users), "items": len(items), "interactions": len(interactions)},
        "content_hash": tables_hash(interactions, items, users),
        "table_hashes": {
            "interactions": table_hash(interactions),
            "items": table_hash(items),
            "users": table_hash(users),
        },
        **_ledger_hash(extra_files),
        "parent": None if parent is None else {"path": str(parent.path.resolve()), "content_hash": parent.content_hash},
        "source": None if source is None else dict(source),
        "command": list(command),
        "config": dict(config),
        "created_with": f"curator {__version__}",
        "notes": list(notes),
        "extra_files": sorted(extra_files),
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(interactions, folder / INTERACTIONS_FILE)
    pq.write_table(items, folder / ITEMS_FILE)
    pq.write_table(users, folder / USERS_FILE)
    for relative, content in extra_files.items():
        _write_extra(folder / relative, content)
    write_dataset_card(folder, manifest)
    # The manifest goes last: a folder with a manifest has everything the manifest describes.
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Dataset(path=folder, interactions=interactions, items=items, users=users, manifest=manifest)


def _ledger_hash(extra_files: Mapping[str, pa.Table | Path]) -> dict[str, str]:
    """{"ledger_hash": ...} when the folder gets a ledger: the manifest proves the ledger as it proves the tables
    (the content hash of the tables does not cover it), so a damaged ledger is found before it is used."""
    ledger = extra_files.get(LEDGER_FILE)
    return {"ledger_hash": table_hash(ledger)} if isinstance(ledger, pa.Table) else {}


def _check_extra_path(relative: str) -> None:
    parts, reserved = PurePosixPath(relative).parts, (*REQUIRED_FILES, DATASET_CARD)
    if not parts or PurePosixPath(relative).is_absolute() or ".." in parts or parts[0] in reserved:
        raise OptionError(f"extra file path '{relative}' must be relative, inside the folder, and not a table name")


def _write_extra(target: Path, content: pa.Table | Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, pa.Table):
        pq.write_table(content, target)
    elif Path(content).is_dir():
        shutil.copytree(content, target)
    else:
        shutil.copyfile(content, target)
