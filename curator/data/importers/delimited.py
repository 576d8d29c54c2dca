"""Generic CSV/TSV with a header and a column mapping (`--map user=uid,item=iid,time=ts,rating=stars`),
plus an optional items file with its own mapping (`--items-map item=iid,title=name`)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator.data.importers.common import SYNTHETIC_TIME_NOTE, SourceTables
from curator.data.importers.text import quote_value, read_delimited, read_header, sniff_delimiter
from curator.data.ordering import raw_interactions
from curator.errors import InputError, OptionError

INTERACTION_KEYS = ("user", "item", "time", "rating")
# Tried in order: integer seconds, ISO-8601 without zone (taken as UTC), ISO-8601 with a zone offset.
TIME_TYPES = (pa.int64(), pa.timestamp("us"), pa.timestamp("us", tz="UTC"))
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}


def parse_mapping(
    text: str, option: str, *, required: Collection[str], allowed: Collection[str] | None = None
) -> dict[str, str]:
    """'user=uid,item=iid' -> {'user': 'uid', 'item': 'iid'}; OptionError names the bad part."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, column = (s.strip() for s in part.partition("="))
        if not sep or not key or not column:
            raise OptionError(f"{option}: '{part}' is not KEY=COLUMN")
        if allowed is not None and key not in allowed:
            raise OptionError(f"{option}: unknown key '{key}' (keys: {', '.join(allowed)})")
        if key in mapping:
            raise OptionError(f"{option}: key '{key}' given twice")
        mapping[key] = column
    missing = [key for key in required if key not in mapping]
    if missing:
        raise OptionError(f"{option}: missing {', '.join(f'{key}=COLUMN' for key in missing)}")
    return mapping


def parse_delimiter(text: str) -> str:
    """A one-character delimiter, or one of the names tab, comma, semicolon, pipe, space."""
    delimiter = DELIMITER_NAMES.get(text.lower(), text)
    if len(delimiter) != 1:
        raise OptionError(f"--delimiter: '{text}' is not one character (or tab, comma, semicolon, pipe, space)")
    return delimiter


def read_csv(
    source: Path,
    *,
    mapping: str | None = None,
    items_file: Path | None = None,
    items_mapping: str | None = None,
    delimiter: str | None = None,
) -> SourceTables:
    if mapping is None:
        raise OptionError("--format csv needs --map, e.g. --map user=uid,item=iid,time=ts,rating=stars")
    columns = parse_mapping(mapping, "--map", required=("user", "item"), allowed=INTERACTION_KEYS)
    if items_mapping is not None and items_file is None:
        raise OptionError("--items-map needs --items-file")
    separator = parse_delimiter(delimiter) if delimiter is not None else None
    table = _read_mapped(
        source, columns, separator, types={columns["rating"]: pa.float64()} if "rating" in columns else {}
    )
    notes = [] if "time" in columns else [SYNTHETIC_TIME_NOTE]
    interactions = raw_interactions(
        table[columns["user"]],
        table[columns["item"]],
        source=str(source),
        timestamp=_epoch_seconds(table[columns["time"]], source, columns["time"]) if "time" in columns else None,
        rating=table[columns["rating"]] if "rating" in columns else None,
    )
    files, items = [source], None
    if items_file is not None:
        item_columns = parse_mapping(items_mapping or "item=item_id", "--items-map", required=("item",))
        items = _read_mapped(items_file, item_columns, separator, types={})
        renames = {column: ("item_id" if key == "item" else key) for key, column in item_columns.items()}
        items = items.rename_columns([renames.get(name, name) for name in items.column_names])
        if len(set(items.column_names)) != len(items.column_names):
            raise OptionError(
                f"--items-map: renaming gives two columns of the same name ({', '.join(items.column_names)})"
            )
        files.append(items_file)
    return SourceTables(
        interactions=interactions, files=files, items=items, items_file=str(items_file or "items"), notes=notes
    )


def _read_mapped(file: Path, columns: dict[str, str], delimiter: str | None, types: dict[str, pa.DataType]) -> pa.Table:
    if file.is_dir():
        raise InputError(f"{file}: expected a CSV/TSV file, not a folder")
    delimiter = delimiter or sniff_delimiter(file)
    names = read_header(file, delimiter=delimiter, quoted=True)
    if len(set(names)) != len(names):
        raise InputError(f"{file}, line 1: two columns have the same name")
    for column in columns.values():
        if column not in names:
            raise InputError(f"{file}: no column '{column}' (columns: {', '.join(names)})")
    return read_delimited(
        file,
        delimiter=delimiter,
        column_names=names,
        column_types=types,
        quoted=True,
        has_header=True,
    )


def _epoch_seconds(values: pa.ChunkedArray, file: Path, column: str) -> pa.Array:
    """Integer timestamps as they are; ISO-8601 date-times as whole seconds since 1970 (UTC)."""
    for kind in TIME_TYPES:
        parsed = _cast_or_none(values, kind)
        if parsed is not None:
            if kind == pa.int64():
                return parsed
            return pa.array(np.floor_divide(pc.cast(parsed, pa.int64()).to_numpy(), 1_000_000))
    for row, value in enumerate(values.to_pylist()):
        if all(_cast_or_none(pa.array([value]), kind) is None for kind in TIME_TYPES):
            raise InputError(
                f"{file}, data row {row + 1}, column {column}: {quote_value(str(value))} is neither an integer nor an "
                "ISO date-time"
            )
    raise InputError(f"{file}, column {column}: mixes integer timestamps and date-times")


def _cast_or_none(values: pa.Array | pa.ChunkedArray, kind: pa.DataType) -> pa.Array | pa.ChunkedArray | None:
    try:
        return pc.cast(values, kind)
    except pa.ArrowInvalid:
        return None
