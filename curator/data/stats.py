"""Summary statistics of a dataset (what `curator data info` shows)."""

from __future__ import annotations

from typing import Any

import numpy as np

from curator.data.dataset import Dataset


def dataset_stats(dataset: Dataset) -> dict[str, Any]:
    """Counts, sparsity, sequence lengths, ratings, time range and timestamp ties of a dataset.

    `ties_share` is the share of interactions whose timestamp equals the previous one in the same
    user's sequence: there, the order comes from the source file, not from time.
    """
    inter = dataset.interactions
    bounds = dataset.sequence_bounds()
    lengths = np.diff(bounds)
    users, interactions = len(lengths), len(inter)
    interacted = len(inter["item_id"].unique())
    times = inter["timestamp"].to_numpy()
    same_user = np.ones(interactions, dtype=bool)
    same_user[bounds[:-1]] = False  # first row of each user has no predecessor
    ties = int(np.count_nonzero(same_user[1:] & (times[1:] == times[:-1])))
    ratings = interactions - inter["rating"].null_count
    return {
        "name": dataset.name,
        "users": users,
        "items_catalog": len(dataset.items),
        "items_interacted": interacted,
        "interactions": interactions,
        "sparsity": 1.0 - interactions / (users * interacted),
        "sequence_length": {
            "min": int(lengths.min()),
            "median": float(np.median(lengths)),
            "mean": float(lengths.mean()),
            "p90": float(np.percentile(lengths, 90)),
            "max": int(lengths.max()),
        },
        "ratings_present": ratings,
        "timestamp_min": int(times.min()),
        "timestamp_max": int(times.max()),
        "ties_share": ties / interactions,
        "content_hash": dataset.content_hash,
        "extras": dataset.extras,
    }
