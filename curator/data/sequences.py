"""The bridge from a dataset folder to recsys: per-user item-index sequences and loss weights."""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator.data.dataset import Dataset


@dataclass(frozen=True)
class UserSequences:
    user_ids: list[str]  # in the order of first appearance in `interactions`
    sequences: list[np.ndarray]  # per user, 1-based item indices in sequence order
    item_ids: list[str]  # item index i (1-based) is item_ids[i - 1]
    weights: np.ndarray  # (num_users,) float32, from users.weight

    @property
    def num_items(self) -> int:
        return len(self.item_ids)


def user_sequences(dataset: Dataset) -> UserSequences:
    """Items are indexed in order of first appearance, so the same dataset always gives the same indices."""
    interactions = dataset.interactions
    encoded = pc.dictionary_encode(interactions["item_id"].combine_chunks())
    item_index = encoded.indices.to_numpy().astype(np.int64) + 1
    bounds = dataset.sequence_bounds()
    sequences = np.split(item_index, bounds[1:-1])
    user_ids = interactions["user_id"].take(pa.array(bounds[:-1])).to_pylist()

    weight_of = dict(zip(dataset.users["user_id"].to_pylist(), dataset.users["weight"].to_pylist()))
    weights = np.array([weight_of[u] for u in user_ids], dtype=np.float32)
    return UserSequences(user_ids, sequences, encoded.dictionary.to_pylist(), weights)
