"""`user item` per line (BERT4Rec-style preprocessing, e.g. Amazon Beauty): numeric ids separated by
a space, each user's items in time order. There are no timestamps: file order is the time."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from curator.data.importers.common import SYNTHETIC_TIME_NOTE, SourceTables
from curator.data.importers.text import read_delimited
from curator.data.ordering import raw_interactions
from curator.errors import InputError


def read_sequence(source: Path) -> SourceTables:
    if source.is_dir():
        raise InputError(f"{source}: expected a text file with one 'user item' pair per line, not a folder")
    pairs = read_delimited(
        source,
        delimiter=" ",
        column_names=["user_id", "item_id"],
        column_types={"user_id": pa.int64(), "item_id": pa.int64()},
    )
    interactions = raw_interactions(pairs["user_id"], pairs["item_id"], source=str(source))
    return SourceTables(interactions=interactions, files=[source], notes=[SYNTHETIC_TIME_NOTE])
