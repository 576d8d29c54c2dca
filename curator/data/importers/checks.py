"""What every import checks in the raw interactions after reading, whatever the format: ratings that are not
numbers, and rows that repeat an earlier row exactly. Each finding is refused or handled with a note (the
manifest keeps it, the terminal prints it): nothing is changed without a word.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator.errors import InputError

DUPLICATE_KEY = ("user_id", "item_id", "timestamp", "rating")


def non_finite_ratings_as_null(raw: pa.Table) -> tuple[pa.Table, list[str]]:
    """NaN and infinite ratings stored as no rating (null), and the note that says how many there were."""
    ratings = raw["rating"]
    bad = pc.fill_null(pc.invert(pc.is_finite(ratings)), False)
    count = pc.sum(bad).as_py() or 0
    if not count:
        return raw, []
    column = raw.column_names.index("rating")
    cleaned = pc.if_else(bad, pa.scalar(None, ratings.type), ratings)
    note = f"{count} rating(s) were NaN or infinite: stored as no rating"
    return raw.set_column(column, raw.schema.field("rating"), cleaned), [note]


def handle_duplicates(raw: pa.Table, action: str | None, *, timed: bool, source: str) -> tuple[pa.Table, list[str]]:
    """Rows equal to an earlier row in user, item, time and rating: kept with a note (`keep`, the default),
    dropped with a note (`drop`) or an InputError (`error`).

    Only sources with a time column are checked: without one, file order is the time and two equal lines are
    two interactions in a row, which real data has (a song played twice)."""
    if not timed:
        return raw, []
    repeats = repeated_rows(raw)
    if not len(repeats):
        return raw, []
    action = action or "keep"
    described = f"{len(repeats)} row(s) repeat an earlier row exactly (user, item, time, rating)"
    if action == "error":
        raise InputError(
            f"{source}: {described}, the first is data row {repeats[0] + 1} (pass --on-duplicates keep or drop)"
        )
    if action == "drop":
        keep = np.ones(len(raw), bool)
        keep[repeats] = False
        return raw.filter(pa.array(keep)), [f"{described}: dropped (--on-duplicates drop)"]
    return raw, [f"{described}: kept (--on-duplicates drop removes them)"]


def repeated_rows(raw: pa.Table) -> np.ndarray:
    """Row numbers (in source order) of the rows equal to an earlier row in DUPLICATE_KEY, ascending."""
    numbered = raw.select(list(DUPLICATE_KEY)).append_column("row", pa.array(np.arange(len(raw), dtype=np.int64)))
    firsts = numbered.group_by(list(DUPLICATE_KEY), use_threads=False).aggregate([("row", "min")])
    repeated = np.ones(len(raw), bool)
    repeated[firsts["row_min"].to_numpy()] = False
    return np.flatnonzero(repeated)
