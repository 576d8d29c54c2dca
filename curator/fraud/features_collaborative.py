"""Collaborative and statistical features of each user's training interactions.

Every statistic that compares a user with the others is leave-the-user-out: the user's own interactions
are taken out of item popularity, item rating means, co-occurrence and transition counts first, so a
user never vouches for itself (a fake user's target gets no credit for the fake's own visit).

    log_length          log(1 + training items): fakes copy real lengths, but the signal costs nothing
    pop_mean, pop_std   mean / std of log(1 + popularity) of the user's items
    top_share           share of the user's items among the most popular TOP_SHARE of the catalog
    tail_share          share among the unpopular items (popularity at most the median of interacted items)
    cooc_coherence, pair_lift_max, pair_lift_top
                        how the user's items go together in other users' histories (see _pair_features)
    transition_seen     share of consecutive item pairs that other users also had next to each other
    rare_overlap        the most rarity (sum of log inverse popularity) the user shares with any single
                        other user, over the user's own total: fakes of one attack share their targets,
                        rare items that real users seldom have together
    neighbour_sim       mean cosine similarity with the NEIGHBOURS most similar users (DegSim)
    rating_mean, rating_std, rating_dev, top_rating_share
                        (only with ratings) the user's ratings; mean |rating - the item's mean rating by
                        the others|; share of ratings at the scale's top (targets get the top rating)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from scipy.stats import poisson

from curator.data.collaborative import (
    TrainingInteractions,
    item_transitions,
    training_interactions,
    user_item_matrix,
)
from curator.data.dataset import Dataset
from curator.fraud.features import FeatureTable
from curator.run.executor import ChunkJob, Executor, LocalExecutor

TOP_SHARE = 0.1  # "the most popular items": this fraction of the catalog
NEIGHBOURS = 10
PAIR_TOP = 3  # pairs averaged by pair_lift_top: three targets already make three pairs
# partner_excess reads the user's this-many-th closest partner: a 1% attack on MovieLens-100K has 9 fakes, each
# with 8 partners holding the same targets; a real user's few closest neighbours are its taste
PARTNERS = 4
# users per block of the pair features and the user-user products (a chunk of the executor): bounds a worker's
# memory at USER_BLOCK x users floats
USER_BLOCK = 2048


def collaborative_features(dataset: Dataset, executor: Executor | None = None) -> FeatureTable:
    """Every user's features; the pair features and the user-user products a block of users at a time, each
    block a chunk of `executor` (default: this process: on `--engine ray` the workers compute them)."""
    executor = executor or LocalExecutor()
    train = training_interactions(dataset)
    matrix = user_item_matrix(train)  # repeats of an item count once from here on
    popularity = np.asarray(matrix.sum(axis=0)).ravel()
    columns = {
        "log_length": np.log1p(matrix.getnnz(axis=1)),
        **_popularity_features(matrix, popularity),
        **_pair_features(matrix, popularity, executor),
        "transition_seen": _transitions_seen(train),
        **_overlap_features(matrix, popularity, executor),
        **_rating_features(dataset, train),
    }
    return FeatureTable.from_columns(columns, train.num_users)


def _row_mean(matrix: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Per row of `matrix`, the mean of `values` (one per stored entry, in storage order)."""
    counts = np.diff(matrix.indptr)
    sums = np.add.reduceat(values, matrix.indptr[:-1]) if len(values) else np.zeros(len(counts))
    return np.divide(sums, counts, out=np.zeros(len(counts)), where=counts > 0)


def _popularity_features(matrix: sp.csr_matrix, popularity: np.ndarray) -> dict[str, np.ndarray]:
    others = popularity[matrix.indices] - 1.0  # leave the user out
    log_pop = np.log1p(others)
    mean = _row_mean(matrix, log_pop)
    mean_of_squares = _row_mean(matrix, log_pop**2)
    top = np.argsort(-popularity, kind="stable")[: max(1, round(TOP_SHARE * len(popularity)))]
    is_top = np.isin(matrix.indices, top).astype(np.float64)
    interacted = popularity[popularity > 0]
    is_tail = (others <= np.median(interacted - 1.0)).astype(np.float64)
    return {
        "pop_mean": mean,
        "pop_std": np.sqrt(np.maximum(mean_of_squares - mean**2, 0.0)),
        "top_share": _row_mean(matrix, is_top),
        "tail_share": _row_mean(matrix, is_tail),
    }


def _pair_features(matrix: sp.csr_matrix, popularity: np.ndarray, executor: Executor) -> dict[str, np.ndarray]:
    """Over the pairs of a user's items, with c_ij users having both and n_i having i, the user left out:

    cooc_coherence  mean cosine c_ij / sqrt(n_i n_j)
    pair_lift_max   max of log((c_ij + 1) / (e_ij + 1)), e_ij = n_i n_j / users the count expected if
                    the two items were independent: items that go together far more often than their
                    popularity explains; the +1 keeps two rare items that met once from looking special
    pair_lift_top   mean of the PAIR_TOP highest: an attack's shared targets make several such pairs

    A block of users is a chunk of `executor`.
    """
    shared = Pairs(matrix, (matrix.T @ matrix).tocsr(), np.maximum(popularity - 1.0, 0.0), USER_BLOCK)
    return by_user_blocks(shared, PairBlock, matrix.shape[0], executor)


@dataclass(frozen=True)
class Pairs:
    """What every block of the pair features reads."""

    matrix: sp.csr_matrix  # (users, items) 1 = has it
    together: sp.csr_matrix  # (items, items) users having both
    others: np.ndarray  # (items,) users having the item, less one: the user judged is left out
    block: int  # users per chunk: the driver's plan, which the workers follow


class PairBlock:
    """A worker: the pair features of the users of block k."""

    COLUMNS = ("cooc_coherence", "pair_lift_max", "pair_lift_top")

    def __init__(self, shared: Pairs):
        self.shared = shared

    def __call__(self, k: int) -> pa.Table:
        matrix, together, others = self.shared.matrix, self.shared.together, self.shared.others
        num_users = matrix.shape[0]
        block = user_block(k, self.shared.block, num_users)
        columns = {name: np.zeros(len(block)) for name in self.COLUMNS}
        for row, user in enumerate(block):
            items = matrix.indices[matrix.indptr[user] : matrix.indptr[user + 1]]
            if len(items) < 2:
                continue
            upper = np.triu_indices(len(items), 1)
            in_common = together[items][:, items].toarray()[upper] - 1.0
            n_i, n_j = others[items][upper[0]], others[items][upper[1]]
            norms = np.sqrt(n_i * n_j)
            cosine = np.divide(in_common, norms, out=np.zeros_like(in_common), where=norms > 0)
            columns["cooc_coherence"][row] = cosine.mean()
            lift = np.sort(np.log((in_common + 1.0) / (n_i * n_j / max(num_users - 1, 1) + 1.0)))[::-1]
            columns["pair_lift_max"][row] = lift[0]
            columns["pair_lift_top"][row] = lift[:PAIR_TOP].mean()
        return pa.table(columns)


def _transitions_seen(train: TrainingInteractions) -> np.ndarray:
    """Share of a user's consecutive training pairs (i, j) that some other user also had as i->j or j->i
    (either direction: many timestamps tie, so the order within a tie is the file's)."""
    counts = item_transitions(train)
    both_ways = (counts + counts.T).tocsr()
    consecutive = (train.user[1:] == train.user[:-1]) & (train.position[1:] == train.position[:-1] + 1)
    first, second = train.item[:-1][consecutive], train.item[1:][consecutive]
    own = 1.0 + (first == second)  # the user's own pair counted itself in both directions when i == j
    seen = np.asarray(both_ways[first, second]).ravel() - own > 0
    user = train.user[:-1][consecutive]
    pairs = np.bincount(user, minlength=train.num_users)
    return np.divide(
        np.bincount(user, weights=seen, minlength=train.num_users),
        pairs,
        out=np.zeros(train.num_users),
        where=pairs > 0,
    )


def _overlap_features(matrix: sp.csr_matrix, popularity: np.ndarray, executor: Executor) -> dict[str, np.ndarray]:
    """rare_overlap and neighbour_sim, from user-user products computed a block of users at a time (the
    full users x users matrix of a large dataset does not fit in memory), each block a chunk of `executor`."""
    num_users = matrix.shape[0]
    rarity = np.log(num_users / np.maximum(popularity, 1.0))
    lengths = matrix.getnnz(axis=1).astype(np.float64)
    shared = Overlaps(matrix, (matrix @ sp.diags(rarity)).tocsr(), lengths, USER_BLOCK)
    return by_user_blocks(shared, OverlapBlock, num_users, executor)


@dataclass(frozen=True)
class Overlaps:
    """What every block of the overlap features reads."""

    matrix: sp.csr_matrix  # (users, items) 1 = has it
    rare_weighted: sp.csr_matrix  # the same, each item weighted by its rarity log(users / its users)
    lengths: np.ndarray  # (users,) items of each user
    block: int  # users per chunk: the driver's plan, which the workers follow


class OverlapBlock:
    """A worker: rare_overlap and neighbour_sim of the users of block k."""

    COLUMNS = ("rare_overlap", "neighbour_sim")

    def __init__(self, shared: Overlaps):
        self.shared = shared

    def __call__(self, k: int) -> pa.Table:
        matrix, num_users = self.shared.matrix, self.shared.matrix.shape[0]
        block = user_block(k, self.shared.block, num_users)
        shared_rarity = (self.shared.rare_weighted[block] @ matrix.T).toarray()
        own = shared_rarity[np.arange(len(block)), block].copy()
        shared_rarity[np.arange(len(block)), block] = 0.0
        rare_overlap = np.divide(shared_rarity.max(axis=1), own, out=np.zeros(len(block)), where=own > 0)
        neighbour_sim = np.zeros(len(block))
        k_nearest = min(NEIGHBOURS, num_users - 1)
        if k_nearest > 0:
            lengths = self.shared.lengths
            cosine = (matrix[block] @ matrix.T).toarray() / np.sqrt(np.outer(lengths[block], lengths))
            cosine[np.arange(len(block)), block] = -np.inf
            neighbour_sim = -np.partition(-cosine, k_nearest - 1, axis=1)[:, :k_nearest].mean(axis=1)
        return pa.table(dict(zip(self.COLUMNS, (rare_overlap, neighbour_sim))))


def user_block(k: int, size: int, num_users: int) -> np.ndarray:
    """The users of block k of `size`."""
    return np.arange(k * size, min((k + 1) * size, num_users))


def by_user_blocks(
    shared: Pairs | Overlaps | Partners,
    worker: type[PairBlock | OverlapBlock | PartnerBlock],
    num_users: int,
    executor: Executor,
) -> dict[str, np.ndarray]:
    """(users,) per column of the tables `worker(shared)` returns for each block of `shared.block` users,
    the blocks computed by `executor` in any order and joined in order."""
    blocks = range(-(-num_users // shared.block))
    tables = dict(executor.run(ChunkJob(shared, worker), blocks))
    return {name: np.concatenate([tables[k][name].to_numpy() for k in blocks] or [[]]) for name in worker.COLUMNS}


def _rating_features(dataset: Dataset, train: TrainingInteractions) -> dict[str, np.ndarray]:
    ratings = dataset.interactions["rating"].to_numpy(zero_copy_only=False)[train.rows].astype(np.float64)
    if np.isnan(ratings).all():
        return {}
    rated = ~np.isnan(ratings)
    user, item, ratings = train.user[rated], train.item[rated], ratings[rated]
    num_users, num_items = train.num_users, train.num_items
    item_count = np.bincount(item, minlength=num_items)
    item_sum = np.bincount(item, weights=ratings, minlength=num_items)
    others = item_count[item] - 1
    item_mean = np.where(others > 0, (item_sum[item] - ratings) / np.maximum(others, 1), ratings.mean())

    count = np.bincount(user, minlength=num_users)

    def mean(values: np.ndarray) -> np.ndarray:
        return np.divide(
            np.bincount(user, weights=values, minlength=num_users), count, out=np.zeros(num_users), where=count > 0
        )

    rating_mean = mean(ratings)
    return {
        "rating_mean": rating_mean,
        "rating_std": np.sqrt(np.maximum(mean(ratings**2) - rating_mean**2, 0.0)),
        "rating_dev": mean(np.abs(ratings - item_mean)),
        "top_rating_share": mean((ratings == ratings.max()).astype(np.float64)),
    }


def partner_excess(matrix: sp.csr_matrix, rare_quantile: float, executor: Executor | None = None) -> np.ndarray:
    """(users,) how unlikely by chance it is that the user's PARTNERS-th closest partner shares so many of its
    rare items: -log of the Poisson upper tail, rare items being those whose popularity is at most the
    `rare_quantile` quantile of the interacted items'. Computed a block of users at a time, each block a
    chunk of `executor` (default: this process).

    A promotion attack's fakes all hold its targets, so each has many partners that share the same rare
    items, whatever its fillers are (a copied real history, a walk along real transitions). Over the pairs
    (u, v), the count of rare items both hold is compared with what v would share with u by chance, holding
    each item i with probability n_i / users scaled by v's rare-item count over the mean. One close
    neighbour is taste, several are a group. Rare items only: real users of one taste share popular items
    far beyond chance. The quantile matters: a large attack makes its targets popular.
    """
    num_users = matrix.shape[0]
    popularity = np.asarray(matrix.sum(axis=0)).ravel()
    interacted = popularity > 0
    rare = interacted & (popularity <= np.quantile(popularity[interacted], rare_quantile))
    rare_matrix = matrix[:, rare].tocsr()
    counts = rare_matrix.getnnz(axis=1).astype(np.float64)
    expected = rare_matrix @ (popularity[rare] / num_users)  # (users,) shared with a partner of mean count
    shared = Partners(rare_matrix, expected, counts / max(counts.mean(), 1.0), USER_BLOCK)
    return by_user_blocks(shared, PartnerBlock, num_users, executor or LocalExecutor())["excess"]


@dataclass(frozen=True)
class Partners:
    """What every block of partner_excess reads."""

    rare_matrix: sp.csr_matrix  # (users, rare items) 1 = has it
    expected: np.ndarray  # (users,) rare items shared by chance with a partner of the mean rare-item count
    relative_count: np.ndarray  # (users,) rare-item count over the mean
    block: int  # users per chunk: the driver's plan, which the workers follow


class PartnerBlock:
    """A worker: partner_excess of the users of block k."""

    COLUMNS = ("excess",)

    def __init__(self, shared: Partners):
        self.shared = shared

    def __call__(self, k: int) -> pa.Table:
        rare_matrix, num_users = self.shared.rare_matrix, self.shared.rare_matrix.shape[0]
        block = user_block(k, self.shared.block, num_users)
        in_common = (rare_matrix[block] @ rare_matrix.T).toarray()  # (block, users)
        chance = np.maximum(np.outer(self.shared.expected[block], self.shared.relative_count), 1e-6)
        surprise = -poisson.logsf(in_common - 1.0, chance)  # -log P(at least `shared` by chance)
        surprise[np.arange(len(block)), block] = -np.inf
        k_nearest = min(PARTNERS, num_users - 1)
        excess = -np.partition(-surprise, k_nearest - 1, axis=1)[:, k_nearest - 1] if k_nearest > 0 else 0.0
        return pa.table({"excess": np.broadcast_to(excess, len(block)).astype(np.float64)})
