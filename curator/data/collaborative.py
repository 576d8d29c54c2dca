"""Collaborative statistics of the training interactions: item popularity, item-item co-occurrence,
item-to-item transitions.

Only the training part of each sequence counts (curator.data.splits): nothing computed here has seen a
validation or test target. Items are indices into the dataset's items table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
import scipy.sparse as sp

from curator.data.dataset import Dataset
from curator.data.splits import training_mask


@dataclass(frozen=True)
class TrainingInteractions:
    """The training interactions of a dataset, in stored order (user, then position)."""

    rows: np.ndarray  # row of each one in dataset.interactions
    user: np.ndarray  # its user: row in dataset.users
    item: np.ndarray  # its item: row in dataset.items
    position: np.ndarray  # its position in the user's sequence
    num_users: int
    num_items: int

    def user_slices(self) -> list[slice]:
        """Per user (users-table order), where its training interactions are (empty for a user with none)."""
        bounds = np.searchsorted(self.user, np.arange(self.num_users + 1))
        return [slice(bounds[k], bounds[k + 1]) for k in range(self.num_users)]

    def sequences(self) -> list[np.ndarray]:
        """Per user (users-table order), its training items in order."""
        return [self.item[part] for part in self.user_slices()]


def training_interactions(dataset: Dataset) -> TrainingInteractions:
    rows = np.flatnonzero(training_mask(dataset.interactions))
    lengths = np.diff(dataset.sequence_bounds())
    user_of_row = np.repeat(np.arange(len(lengths)), lengths)
    item_of_row = pc.index_in(dataset.interactions["item_id"], dataset.items["item_id"].combine_chunks()).to_numpy()
    return TrainingInteractions(
        rows=rows,
        user=user_of_row[rows],
        item=item_of_row[rows].astype(np.int64),
        position=dataset.interactions["position"].to_numpy()[rows].astype(np.int64),
        num_users=len(dataset.users),
        num_items=len(dataset.items),
    )


def item_popularity(train: TrainingInteractions) -> np.ndarray:
    """(items,) training interaction count of each item."""
    return np.bincount(train.item, minlength=train.num_items)


def user_item_matrix(train: TrainingInteractions) -> sp.csr_matrix:
    """(users, items) 1 where the user has the item in its training part (repeats count once)."""
    ones = np.ones(len(train.item), dtype=np.float64)
    matrix = sp.csr_matrix((ones, (train.user, train.item)), shape=(train.num_users, train.num_items))
    matrix.data[:] = 1.0
    return matrix


def item_cooccurrence(train: TrainingInteractions) -> sp.csr_matrix:
    """(items, items) how many users have both items in their training part; the diagonal is how many
    users have the item."""
    users = user_item_matrix(train)
    return (users.T @ users).tocsr()


def item_transitions(train: TrainingInteractions) -> sp.csr_matrix:
    """(items, items) how often item j directly follows item i in a training sequence."""
    consecutive = (train.user[1:] == train.user[:-1]) & (train.position[1:] == train.position[:-1] + 1)
    ones = np.ones(int(consecutive.sum()), dtype=np.float64)
    return sp.csr_matrix(
        (ones, (train.item[:-1][consecutive], train.item[1:][consecutive])), shape=(train.num_items, train.num_items)
    )
