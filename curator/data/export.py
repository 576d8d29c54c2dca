"""Write a dataset in other tools' formats.

RecBole's atomic files (https://recbole.io/docs/user_guide/data/atomic_files.html): a header of NAME:TYPE with TYPE
one of token, token_seq, float, float_seq, then tab-separated rows. An attribute keeps the name and type its source
file declared (the import records them in the manifest's `source.fields`, which every derived dataset carries):
MovieLens-100K exports as `movie_title:token_seq`, `release_year:token`, `age:token`. An attribute with no declared
type is a token, or a token_seq where a value holds a space. `users.weight` (what a fraud stage lowered) is
`weight:float`, which `curator data import --format recbole` reads back as the weights; RecBole itself loads it as
a user feature (it has no per-user loss weight).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from curator.data.atomic import atomic_output_dir, check_not_overlapping
from curator.data.dataset import Dataset

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")


def export_recbole(dataset: Dataset, out_dir: str | Path, name: str, *, overwrite: bool = False) -> list[Path]:
    """Write NAME.inter, NAME.item, NAME.user (RecBole atomic files) into `out_dir`, atomically.

    Interactions are written in sequence order, so importing the files again gives the same sequences.
    The rating column is left out when the dataset has no ratings. Returns the written files.
    """
    inter = dataset.interactions
    inter_columns = {"user_id:token": inter["user_id"], "item_id:token": inter["item_id"]}
    if inter["rating"].null_count < len(inter):
        inter_columns["rating:float"] = inter["rating"]
    inter_columns["timestamp:float"] = inter["timestamp"]
    declared = (dataset.manifest.get("source") or {}).get("fields", {})
    tables = {
        ".inter": inter_columns,
        ".item": _typed(dataset.items, "item_id", declared.get("items", {})),
        ".user": _typed(dataset.users, "user_id", {"weight": ["weight", "float"], **declared.get("users", {})}),
    }
    out_dir = Path(out_dir)
    check_not_overlapping([dataset.path], out_dir)
    with atomic_output_dir(out_dir, overwrite=overwrite) as staging:
        for suffix, columns in tables.items():
            _write_atomic_file(staging / f"{name}{suffix}", columns)
    return [out_dir / f"{name}{suffix}" for suffix in tables]


def _typed(table: pa.Table, key: str, declared: dict[str, list[str]]) -> dict[str, pa.ChunkedArray]:
    """`table`'s columns under typed RecBole headers: the id a token, each attribute by its `declared` [original
    name, type], else a token (a token_seq where a value holds a space; the title always)."""
    columns = {}
    for name in table.column_names:
        original, kind = declared.get(name, [name, None])
        if name == key or kind not in FIELD_TYPES:
            kind = "token" if name == key or not (name == "title" or _has_spaces(table[name])) else "token_seq"
        columns[f"{original}:{kind}"] = table[name]
    return columns


def _has_spaces(column: pa.ChunkedArray) -> bool:
    return bool(pc.any(pc.match_substring_regex(column.cast(pa.string()), r"\s")).as_py())


def _write_atomic_file(path: Path, columns: dict[str, pa.ChunkedArray]) -> None:
    # Values are written unquoted, so tabs and line breaks inside text would break the format: they
    # become spaces. Nulls are empty fields, as RecBole reads them.
    texts = [
        pc.replace_substring_regex(column.cast(pa.string()).fill_null(""), r"[\t\r\n]", " ")
        for column in columns.values()
    ]
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("\t".join(columns) + "\n")
        for row in zip(*(text.to_pylist() for text in texts)):
            out.write("\t".join(row) + "\n")
