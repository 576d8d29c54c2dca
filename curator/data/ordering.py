"""Turn raw interactions (in source order) into ordered user sequences with positions.

Every importer produces the same raw table; this module is the one place that decides sequence order:
users in order of first appearance in the source, each user's interactions by timestamp, ties kept in
source order (a stable sort: half of MovieLens-100K ties on timestamp).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator.data.schema import INTERACTIONS_SCHEMA
from curator.errors import InputError

RAW_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("item_id", pa.string()),
        pa.field("timestamp", pa.int64()),
        pa.field("original_order", pa.int64()),
        pa.field("rating", pa.float32()),
    ]
)


def raw_interactions(
    user_id: pa.Array,
    item_id: pa.Array,
    *,
    source: str,
    timestamp: pa.Array | None = None,
    rating: pa.Array | None = None,
) -> pa.Table:
    """Build the raw table from source columns given in source (file) order.

    Ids of any type become strings. Without timestamps, the file order is the time (the caller must
    say so in the manifest notes). `source` names the input in error messages.
    """
    n = len(user_id)
    if n == 0:
        raise InputError(f"{source}: no interactions")
    order = pa.array(np.arange(n, dtype=np.int64))
    columns = {
        "user_id": _id_column(user_id, "user id", source),
        "item_id": _id_column(item_id, "item id", source),
        "timestamp": order if timestamp is None else _cast(timestamp, pa.int64(), "timestamp", source),
        "original_order": order,
        "rating": pa.nulls(n, pa.float32()) if rating is None else _cast(rating, pa.float32(), "rating", source),
    }
    if columns["timestamp"].null_count:
        row = pc.index(pc.is_null(columns["timestamp"]), True).as_py()
        raise InputError(f"{source}: row {row + 1} has no timestamp")
    return pa.table(columns, schema=RAW_SCHEMA)


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _id_column(values: pa.Array, what: str, source: str) -> pa.Array:
    strings = _as_array(values).cast(pa.string())
    empty = pc.or_kleene(pc.is_null(strings), pc.equal(strings, "")).fill_null(True)
    if pc.any(empty).as_py():
        row = pc.index(empty, True).as_py()
        raise InputError(f"{source}: row {row + 1} has an empty {what}")
    return strings


def _cast(values: pa.Array, to: pa.DataType, what: str, source: str) -> pa.Array:
    try:
        return _as_array(values).cast(to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise InputError(f"{source}: {what} values cannot be read as {to}: {error}") from None


def order_interactions(raw: pa.Table) -> pa.Table:
    """Sort a raw table into user sequences and number each user's interactions 0..n-1."""
    raw = raw.sort_by("original_order")
    user_rank = pc.dictionary_encode(_as_array(raw["user_id"])).indices.to_numpy()
    order = np.lexsort((raw["original_order"].to_numpy(), raw["timestamp"].to_numpy(), user_rank))
    ordered = raw.take(pa.array(order))
    return pa.table(
        {
            "user_id": ordered["user_id"],
            "item_id": ordered["item_id"],
            "timestamp": ordered["timestamp"],
            "position": pa.array(positions_from_ranks(user_rank[order]), pa.int32()),
            "rating": ordered["rating"],
        },
        schema=INTERACTIONS_SCHEMA,
    )


def positions_from_ranks(sorted_ranks: np.ndarray) -> np.ndarray:
    """0..n-1 within each run of equal values of an array sorted so that each user is one run."""
    n = len(sorted_ranks)
    starts = np.flatnonzero(np.r_[True, sorted_ranks[1:] != sorted_ranks[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


def sequence_bounds(interactions: pa.Table) -> np.ndarray:
    """Row offsets of each user's sequence in a table grouped by user: the k-th user is rows
    bounds[k]:bounds[k+1]."""
    ranks = pc.dictionary_encode(_as_array(interactions["user_id"])).indices.to_numpy()
    starts = np.flatnonzero(np.r_[True, ranks[1:] != ranks[:-1]])
    return np.r_[starts, len(ranks)].astype(np.int64)


def sort_by_position(interactions: pa.Table, user_order: pa.ChunkedArray) -> pa.Table:
    """Rows grouped by user in `user_order` (every user of `interactions` must be in it), then by
    position; positions must be 0..n-1 per user.

    This is how stages that edit sequences hand back interactions: any row order, positions renumbered
    by the stage. Positions are checked afterwards (`check_sequences`).
    """
    user_rank = pc.index_in(interactions["user_id"], _as_array(user_order)).to_numpy()
    order = np.lexsort((interactions["position"].to_numpy(), user_rank))
    return interactions.take(pa.array(order))


def check_sequences(interactions: pa.Table, file: str) -> None:
    """Raise InputError unless rows are grouped by user, positions run 0..n-1 in row order and
    timestamps never decrease along a user's sequence."""
    user_rank = pc.dictionary_encode(_as_array(interactions["user_id"])).indices.to_numpy()
    runs = 1 + int(np.count_nonzero(user_rank[1:] != user_rank[:-1])) if len(user_rank) else 0
    if runs != (user_rank.max() + 1 if len(user_rank) else 0):
        raise InputError(f"{file}: rows of a user are not contiguous (rows must be grouped by user)")
    bad = np.flatnonzero(interactions["position"].to_numpy() != positions_from_ranks(user_rank))
    if len(bad):
        row = int(bad[0])
        raise InputError(
            f"{file}: row {row + 1}: user '{interactions['user_id'][row]}' has position "
            f"{interactions['position'][row]}, expected positions 0..n-1 per user"
        )
    same_user = user_rank[1:] == user_rank[:-1]
    backwards = np.flatnonzero(same_user & (np.diff(interactions["timestamp"].to_numpy()) < 0))
    if len(backwards):
        row = int(backwards[0]) + 1
        raise InputError(
            f"{file}: row {row + 1}: user '{interactions['user_id'][row]}' has a timestamp earlier than "
            "the interaction before it (sequence order must follow time)"
        )
