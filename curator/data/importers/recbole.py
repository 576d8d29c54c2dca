"""RecBole atomic files: NAME.inter (+ NAME.item, NAME.user), tab-separated with typed headers
such as `user_id:token  item_id:token  rating:float  timestamp:float`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator.data.importers.common import SYNTHETIC_TIME_NOTE, SourceTables
from curator.data.importers.text import read_delimited, read_header
from curator.data.ordering import raw_interactions
from curator.errors import InputError

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")
# Source column -> dataset column. Everything else keeps its own name.
RENAMES = {"movie_title": "title", "class": "genres", "genre": "genres", "categories": "genres"}
BUNDLED_MOVIELENS_100K = "dataset_example/ml-100k/ml-100k"


def bundled_movielens_100k() -> Path:
    """The MovieLens-100K atomic files shipped inside the installed recbole wheel (path prefix)."""
    # find_spec locates the package without importing it (recbole's own dependencies are not installed).
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "MovieLens-100K is read from the recbole package, which is not installed "
            "(install it with: pip install --no-deps recbole==1.2.1)"
        )
    prefix = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_MOVIELENS_100K
    if not prefix.with_suffix(".inter").is_file():
        raise InputError(
            f"the installed recbole package has no {prefix.with_suffix('.inter')} (reinstall recbole==1.2.1)"
        )
    return prefix


def resolve_prefix(source: Path) -> Path:
    """`folder` (holding folder/folder.inter, or exactly one *.inter), `folder/NAME` or `folder/NAME.inter`
    -> the path prefix `folder/NAME`."""
    if source.is_dir():
        named = source / source.name
        if named.with_suffix(".inter").is_file():
            return named
        candidates = sorted(source.glob("*.inter"))
        if len(candidates) == 1:
            return candidates[0].with_suffix("")
        found = ", ".join(c.name for c in candidates) or "none"
        raise InputError(f"{source}: expected one NAME.inter file (found: {found}); pass {source}/NAME")
    prefix = source.with_suffix("") if source.suffix == ".inter" else source
    if not prefix.with_name(prefix.name + ".inter").is_file():
        raise InputError(f"{prefix}.inter: file not found")
    return prefix


def read_recbole(source: Path) -> SourceTables:
    prefix = resolve_prefix(source)
    inter_file = prefix.with_name(prefix.name + ".inter")
    item_file, user_file = (prefix.with_name(prefix.name + suffix) for suffix in (".item", ".user"))
    inter, _ = _read_atomic(inter_file)
    for required in ("user_id", "item_id"):
        if required not in inter.column_names:
            raise InputError(
                f"{inter_file}: missing column '{required}:token' (columns: {', '.join(inter.column_names)})"
            )
    notes = []
    if "timestamp" not in inter.column_names:
        notes.append(SYNTHETIC_TIME_NOTE)
    dropped = [c for c in inter.column_names if c not in ("user_id", "item_id", "rating", "timestamp")]
    if dropped:
        notes.append(f"columns of {inter_file.name} not kept: {', '.join(dropped)}")
    interactions = raw_interactions(
        inter["user_id"],
        inter["item_id"],
        source=str(inter_file),
        timestamp=_integer_times(inter["timestamp"], inter_file) if "timestamp" in inter.column_names else None,
        rating=inter["rating"] if "rating" in inter.column_names else None,
    )
    files = [inter_file]
    items = users = None
    fields = {}
    if item_file.is_file():
        files.append(item_file)
        items, fields["items"] = _read_atomic(item_file, renames=RENAMES)
    if user_file.is_file():
        files.append(user_file)
        users, fields["users"] = _read_atomic(user_file)
    return SourceTables(
        interactions=interactions,
        files=files,
        items=items,
        users=users,
        items_file=str(item_file),
        users_file=str(user_file),
        notes=notes,
        fields=fields,
    )


def _typed_header(file: Path) -> list[tuple[str, str]]:
    fields = []
    for column in read_header(file, delimiter="\t"):
        name, _, kind = column.partition(":")
        if not name or kind not in FIELD_TYPES:
            raise InputError(
                f"{file}, line 1: column header '{column}' is not NAME:TYPE with TYPE one of {', '.join(FIELD_TYPES)}"
            )
        fields.append((name, kind))
    return fields


def _read_atomic(file: Path, renames: dict[str, str] | None = None) -> tuple[pa.Table, dict[str, list[str]]]:
    """The file's columns under their names without `:type` (renamed by `renames`; floats as float64), and each
    column's original [name, type]."""
    header = _typed_header(file)
    fields = {(renames or {}).get(name, name): [name, kind] for name, kind in header}
    if len(fields) != len(header):
        raise InputError(f"{file}, line 1: two columns have the same name ({', '.join(fields)})")
    types = {name: pa.float64() for name, (_, kind) in fields.items() if kind == "float"}
    table = read_delimited(file, delimiter="\t", column_names=list(fields), column_types=types, has_header=True)
    return table, fields


def _integer_times(times: pa.ChunkedArray, file: Path) -> pa.Array:
    """RecBole declares timestamps as float; curator stores whole seconds and refuses to round."""
    try:
        values = pc.cast(times, pa.float64()).to_numpy()
    except pa.ArrowInvalid:
        raise InputError(f"{file}: timestamp column has values that are not numbers") from None
    bad = np.flatnonzero(np.isnan(values) | (values != np.floor(values)))
    if len(bad):
        raise InputError(f"{file}: timestamp of data row {bad[0] + 1} is {values[bad[0]]!r}, not a whole number")
    return pa.array(values.astype(np.int64))
