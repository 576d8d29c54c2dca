"""The collaborative evidence about each item of a user's training sequence: how well it fits the rest.

Everything is leave-one-user-out: the user's own items are taken out of the co-occurrence counts before
comparing, so a user never vouches for its own items. Without that, every item of a user co-occurs with
every other at least once (with this very user), and a noise item would look as familiar as the rest.
The same holds for a sequence corrupted on purpose (`curator adapt`): the user's *real* items are taken
out, so a swapped-in item looks exactly as it would had it been real noise.

Features of an item i at a position of the sequence (cos = leave-one-user-out co-occurrence cosine):

    local_mean   mean cos with the items at most LOCAL_WINDOW positions away
    local_max    the highest of those
    global_mean  mean cos with every other item of the sequence
    global_z     global_mean standardised within the user (how much of an outlier it is for this user)
    user_mean    the user's average global_mean (how coherent the user is as a whole)
    popularity   log(1 + users who have i) / log(1 + users who have the most popular item)
    length       log(1 + sequence length) / LENGTH_SCALE
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from curator.data.collaborative import TrainingInteractions, item_cooccurrence

LOCAL_WINDOW = 5
LENGTH_SCALE = np.log1p(1000.0)
FEATURES = ("local_mean", "local_max", "global_mean", "global_z", "user_mean", "popularity", "length")


@dataclass(frozen=True)
class CooccurrenceStats:
    """Co-occurrence counts of a dataset's training part: the collaborative knowledge the denoiser uses."""

    together: sp.csr_matrix  # (items, items) users having both; the diagonal: users having the item
    users_of: np.ndarray  # (items,) users having the item

    @classmethod
    def of(cls, train: TrainingInteractions) -> CooccurrenceStats:
        together = item_cooccurrence(train).astype(np.float32).tocsr()
        return cls(together, together.diagonal().astype(np.float32))

    @property
    def num_items(self) -> int:
        return len(self.users_of)

    def cosine(self, rows: np.ndarray, columns: np.ndarray, own: np.ndarray) -> np.ndarray:
        """(len(rows), len(columns)) leave-one-user-out cosine between items `rows` and items `columns`;
        `own` are the user's real items, whose pairs lose the user's own count."""
        # The matrix is symmetric: slice the shorter side's rows (sparse row slicing is the cheap one).
        if len(columns) < len(rows):
            counts = self.together[columns][:, rows].toarray().T
        else:
            counts = self.together[rows][:, columns].toarray()
        row_own, column_own = np.isin(rows, own), np.isin(columns, own)
        counts -= np.outer(row_own, column_own)
        norms_rows = np.sqrt(np.maximum(self.users_of[rows] - row_own, 0.0))
        norms_columns = np.sqrt(np.maximum(self.users_of[columns] - column_own, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            cosine = counts / np.outer(norms_rows, norms_columns)
        return np.nan_to_num(cosine, nan=0.0, posinf=0.0, neginf=0.0).clip(0.0, 1.0)


def neighbourhood(length: int) -> tuple[np.ndarray, np.ndarray]:
    """(local, others): (length, length) masks of the positions within LOCAL_WINDOW (self excluded) and of
    every other position."""
    distance = np.abs(np.arange(length)[:, None] - np.arange(length)[None, :])
    return (distance > 0) & (distance <= LOCAL_WINDOW), distance > 0


def masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    counts = mask.sum(axis=1)
    return np.where(counts > 0, (values * mask).sum(axis=1) / np.maximum(counts, 1), 0.0)


def popularity(stats: CooccurrenceStats, items: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The popularity feature of `items`: log(1 + users having it, the user left out) over the most popular
    item's."""
    users_of = np.maximum(stats.users_of[items] - np.isin(items, own), 0.0)
    return np.log1p(users_of) / np.log1p(max(stats.users_of.max(), 1.0))


def sequence_features(stats: CooccurrenceStats, items: np.ndarray, own: np.ndarray) -> np.ndarray:
    """(len(items), len(FEATURES)) float32 features of each position of one user's training sequence
    `items` (item indices, in order); `own` = the user's real items (equal to `items` unless corrupted)."""
    length = len(items)
    cosine = stats.cosine(items, items, own)
    local, others = neighbourhood(length)
    local_mean = masked_mean(cosine, local)
    local_max = np.where(local.any(axis=1), np.where(local, cosine, 0.0).max(axis=1), 0.0)
    global_mean = masked_mean(cosine, others)
    spread = global_mean.std()
    global_z = (global_mean - global_mean.mean()) / spread if spread > 0 else np.zeros(length)
    columns = (local_mean, local_max, global_mean, global_z, np.full(length, global_mean.mean()),
               popularity(stats, items, own),
               np.full(length, np.log1p(length) / LENGTH_SCALE))
    return np.stack(columns, axis=1).astype(np.float32)


def candidate_features(stats: CooccurrenceStats, items: np.ndarray, own: np.ndarray, position: int,
                       candidates: np.ndarray) -> np.ndarray:
    """(len(candidates), 2) float32: for putting each candidate at `position` of the sequence `items`, its
    mean leave-one-user-out cos with the items at most LOCAL_WINDOW positions away, and its popularity
    feature. The item now at `position` is not part of its own context."""
    local, _ = neighbourhood(len(items))
    context = items[local[position]]
    if len(context):
        fit = stats.cosine(candidates, context, own).mean(axis=1)
    else:
        fit = np.zeros(len(candidates))
    return np.stack([fit, popularity(stats, candidates, own)], axis=1).astype(np.float32)
