"""Write a dataset in other tools' formats."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from curator.data.atomic import atomic_output_dir, check_not_overlapping
from curator.data.dataset import Dataset

# RecBole has no per-user loss weight; `weight` would come back as a text attribute, so it stays out.
NOT_EXPORTED_USER_COLUMNS = ("weight",)


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
    users = dataset.users.drop_columns(list(NOT_EXPORTED_USER_COLUMNS))
    tables = {
        ".inter": inter_columns,
        ".item": _typed(dataset.items, "item_id"),
        ".user": _typed(users, "user_id"),
    }
    out_dir = Path(out_dir)
    check_not_overlapping([dataset.path], out_dir)
    with atomic_output_dir(out_dir, overwrite=overwrite) as staging:
        for suffix, columns in tables.items():
            _write_atomic_file(staging / f"{name}{suffix}", columns)
    return [out_dir / f"{name}{suffix}" for suffix in tables]


def _typed(table: pa.Table, key: str) -> dict[str, pa.ChunkedArray]:
    """Typed RecBole headers: the id is a token, text attributes are token sequences."""
    return {f"{name}:{'token' if name == key else 'token_seq'}": table[name] for name in table.column_names}


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
