"""Interaction noise: a fraction of the training interactions replaced by catalog items the user never had.

The replaced interaction keeps its timestamp and rating, so nothing but the item tells it apart. Items are
drawn uniformly from the catalog, or in proportion to their training popularity (uniform noise is easy
to catch by popularity alone; popularity-matched noise is the honest test). Validation and test targets
are never touched.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curator.data.collaborative import item_popularity, training_interactions
from curator.data.dataset import Dataset
from curator.data.sampling import ItemSampler
from curator.data.table_edits import set_values

NOISE_LABELS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("position", pa.int32()),
        pa.field("item_id", pa.string()),  # the injected item, as the noisy dataset shows it
        pa.field("original_item_id", pa.string()),
        pa.field("original_title", pa.string()),
    ]
)


def inject_noise(
    dataset: Dataset, fraction: float, distribution: str, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """(noisy interactions, labels): round(fraction x training interactions) of them replaced, each by
    an item not already in that user's sequence (nor injected twice into it)."""
    train = training_interactions(dataset)
    count = max(1, round(fraction * len(train.rows)))
    chosen = np.sort(rng.choice(len(train.rows), size=count, replace=False))  # in dataset order
    weights = np.ones(train.num_items) if distribution == "uniform" else item_popularity(train)
    sampler = ItemSampler(weights)

    item_ids = dataset.items["item_id"].to_pylist()
    item_index = {item: i for i, item in enumerate(item_ids)}
    sequence_items = [item_index[item] for item in dataset.interactions["item_id"].to_pylist()]
    bounds = dataset.sequence_bounds()
    injected = np.empty(count, dtype=np.int64)
    users, first = np.unique(train.user[chosen], return_index=True)
    for user, start, end in zip(users, first, np.r_[first[1:], count]):
        seen = set(sequence_items[bounds[user] : bounds[user + 1]])
        injected[start:end] = sampler.draw(rng, end - start, exclude=seen)

    rows = train.rows[chosen]
    original = dataset.interactions["item_id"].take(pa.array(rows)).combine_chunks()
    injected_ids = pa.array([item_ids[i] for i in injected], pa.string())
    noisy = set_values(dataset.interactions, "item_id", rows, injected_ids)
    titles = dataset.items["title"].take(pa.array([item_index[item] for item in original.to_pylist()], pa.int64()))
    labels = pa.table(
        {
            "user_id": dataset.interactions["user_id"].take(pa.array(rows)),
            "position": dataset.interactions["position"].take(pa.array(rows)),
            "item_id": injected_ids,
            "original_item_id": original,
            "original_title": titles,
        },
        schema=NOISE_LABELS_SCHEMA,
    )
    return noisy, labels
