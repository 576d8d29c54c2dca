"""What every importer returns, and the steps shared by all of them after reading.

An importer only reads: it returns the raw interactions in source order plus whatever item and user
attributes the source has. Ordering, catalog completion, validation and writing are shared.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curator.data.schema import ATTRIBUTE_TYPE, check_unique
from curator.errors import InputError

SYNTHETIC_TIME_NOTE = "timestamps are synthetic: file order (the source has no time column)"


@dataclass
class SourceTables:
    """An importer's reading of its source, before ordering and validation.

    `interactions` has the raw schema (see `curator.data.ordering.raw_interactions`), in source order.
    `items` / `users` have `item_id` / `user_id` plus attribute columns, or are None when the source has
    no such file; `items_file` / `users_file` name them in error messages. `labels` are ground-truth
    tables kept out of the dataset tables (relative path in the folder -> table). `fields` records, where the
    source declares them, each column's original name and type ({"items": {column: [name, type]}, "users": ...}):
    the manifest keeps it, so that an export gives them back (curator.data.export).
    """

    interactions: pa.Table
    files: list[Path]
    items: pa.Table | None = None
    users: pa.Table | None = None
    items_file: str = "items"
    users_file: str = "users"
    notes: list[str] = field(default_factory=list)
    labels: dict[str, pa.Table] = field(default_factory=dict)
    fields: dict[str, dict[str, list[str]]] = field(default_factory=dict)


def build_items(interacted: pa.ChunkedArray, catalog: pa.Table | None, catalog_file: str) -> tuple[pa.Table, list[str]]:
    """The items table: the source catalog in its order, then a row with no title for every interacted
    item the catalog lacks (in order of first interaction). Returns the table and notes."""
    catalog = _attributes_as_strings(catalog, "item_id", catalog_file)
    if "title" not in catalog.column_names:
        catalog = catalog.add_column(1, "title", pa.nulls(len(catalog), pa.string()))
    columns = ["item_id", "title", *(c for c in catalog.column_names if c not in ("item_id", "title"))]
    catalog = catalog.select(columns)
    interacted_items = _first_appearance(interacted)
    missing = interacted_items.filter(pc.invert(pc.is_in(interacted_items, catalog["item_id"].combine_chunks())))
    notes = []
    if len(missing) and len(catalog):
        notes.append(f"{len(missing)} interacted items are not in {catalog_file}; they have rows with no title")
    filler = pa.table({name: pa.nulls(len(missing), pa.string()) for name in columns}).set_column(0, "item_id", missing)
    return pa.concat_tables([catalog, filler]), notes


def build_users(interacting: pa.ChunkedArray, attributes: pa.Table | None, users_file: str) -> pa.Table:
    """The users table: one row per user in order of first interaction, its weight, and the source's
    attributes. A user listed in the source with no interaction is an InputError.

    The weight is 1.0 unless the source has a `weight` column (as curator's own RecBole export writes): then
    that, a number >= 0 (an empty field is 1.0)."""
    attributes = _attributes_as_strings(attributes, "user_id", users_file)
    users = _first_appearance(interacting)
    idle = pc.invert(pc.is_in(attributes["user_id"], users))
    if pc.any(idle).as_py():
        raise InputError(f"{users_file}: user '{attributes['user_id'].filter(idle)[0]}' has no interactions")
    rows = attributes.take(pc.index_in(users, attributes["user_id"].combine_chunks()))
    weights = _weights(rows["weight"], users_file) if "weight" in rows.column_names else [1.0] * len(users)
    table = pa.table({"user_id": users, "weight": pa.array(weights, pa.float32())})
    for name in attributes.column_names[1:]:
        if name != "weight":
            table = table.append_column(name, rows[name])
    return table


def _weights(column: pa.ChunkedArray, users_file: str) -> pa.Array:
    """A source's `weight` column as numbers (missing: 1.0); InputError for text, NaN or a negative weight."""
    try:
        weights = pc.cast(pc.if_else(pc.equal(column, ""), None, column), pa.float64()).fill_null(1.0)
    except pa.ArrowInvalid:
        raise InputError(f"{users_file}: column 'weight' has values that are not numbers") from None
    bad = pc.invert(pc.greater_equal(weights, 0.0)).fill_null(True)  # NaN compares false
    if pc.any(bad).as_py():
        raise InputError(f"{users_file}: weight {weights.filter(bad)[0]} is not a number >= 0")
    return weights.combine_chunks()


def _first_appearance(ids: pa.ChunkedArray) -> pa.Array:
    return ids.combine_chunks().unique()


def _attributes_as_strings(table: pa.Table | None, key: str, file: str) -> pa.Table:
    """The key column first, all columns as strings; an empty table with just the key when None."""
    if table is None:
        return pa.table({key: pa.array([], pa.string())})
    if key not in table.column_names:
        raise InputError(f"{file}: missing column '{key}' (columns: {', '.join(table.column_names)})")
    table = table.select([key, *(c for c in table.column_names if c != key)])
    table = pa.table({name: table[name].cast(ATTRIBUTE_TYPE) for name in table.column_names})
    if table[key].null_count or pc.any(pc.equal(table[key], "")).as_py():
        raise InputError(f"{file}: a row has an empty {key}")
    check_unique(table, key, file)
    return table


def describe_files(files: list[Path]) -> list[dict[str, Any]]:
    """Path, size and sha256 of each input file, for the manifest."""
    return [
        {
            "path": str(file.resolve()),
            "bytes": file.stat().st_size,
            "sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
        }
        for file in files
    ]
