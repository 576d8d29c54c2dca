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

import numpy as np
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

TOP_SHARE = 0.1  # "the most popular items": this fraction of the catalog
NEIGHBOURS = 10
PAIR_TOP = 3  # pairs averaged by pair_lift_top: three targets already make three pairs
# partner_excess reads the user's this-many-th closest partner: a 1% attack on MovieLens-100K has 9 fakes, each
# with 8 partners holding the same targets; a real user's few closest neighbours are its taste
PARTNERS = 4
USER_BLOCK = 2048  # users per block of the user-user products: bounds memory at USER_BLOCK x users


def collaborative_features(dataset: Dataset) -> FeatureTable:
    train = training_interactions(dataset)
    matrix = user_item_matrix(train)  # repeats of an item count once from here on
    popularity = np.asarray(matrix.sum(axis=0)).ravel()
    columns = {
        "log_length": np.log1p(matrix.getnnz(axis=1)),
        **_popularity_features(matrix, popularity),
        **_pair_features(matrix, popularity),
        "transition_seen": _transitions_seen(train),
        **_overlap_features(matrix, popularity),
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


def _pair_features(matrix: sp.csr_matrix, popularity: np.ndarray) -> dict[str, np.ndarray]:
    """Over the pairs of a user's items, with c_ij users having both and n_i having i, the user left out:

    cooc_coherence  mean cosine c_ij / sqrt(n_i n_j)
    pair_lift_max   max of log((c_ij + 1) / (e_ij + 1)), e_ij = n_i n_j / users the count expected if
                    the two items were independent: items that go together far more often than their
                    popularity explains; the +1 keeps two rare items that met once from looking special
    pair_lift_top   mean of the PAIR_TOP highest: an attack's shared targets make several such pairs
    """
    num_users = matrix.shape[0]
    together = (matrix.T @ matrix).tocsr()
    others = np.maximum(popularity - 1.0, 0.0)
    columns = {name: np.zeros(num_users) for name in ("cooc_coherence", "pair_lift_max", "pair_lift_top")}
    for user in range(num_users):
        items = matrix.indices[matrix.indptr[user] : matrix.indptr[user + 1]]
        if len(items) < 2:
            continue
        upper = np.triu_indices(len(items), 1)
        shared = together[items][:, items].toarray()[upper] - 1.0
        n_i, n_j = others[items][upper[0]], others[items][upper[1]]
        norms = np.sqrt(n_i * n_j)
        columns["cooc_coherence"][user] = np.divide(shared, norms, out=np.zeros_like(shared), where=norms > 0).mean()
        lift = np.sort(np.log((shared + 1.0) / (n_i * n_j / max(num_users - 1, 1) + 1.0)))[::-1]
        columns["pair_lift_max"][user] = lift[0]
        columns["pair_lift_top"][user] = lift[:PAIR_TOP].mean()
    return columns


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


def _overlap_features(matrix: sp.csr_matrix, popularity: np.ndarray) -> dict[str, np.ndarray]:
    """rare_overlap and neighbour_sim, from user-user products computed a block of users at a time (the
    full users x users matrix of a large dataset does not fit in memory)."""
    num_users = matrix.shape[0]
    rarity = np.log(num_users / np.maximum(popularity, 1.0))
    rare_weighted = (matrix @ sp.diags(rarity)).tocsr()
    lengths = matrix.getnnz(axis=1).astype(np.float64)
    k = min(NEIGHBOURS, num_users - 1)
    rare_overlap, neighbour_sim = np.zeros(num_users), np.zeros(num_users)
    for start in range(0, num_users, USER_BLOCK):
        block = np.arange(start, min(start + USER_BLOCK, num_users))
        shared_rarity = (rare_weighted[block] @ matrix.T).toarray()
        own = shared_rarity[np.arange(len(block)), block].copy()
        shared_rarity[np.arange(len(block)), block] = 0.0
        rare_overlap[block] = np.divide(shared_rarity.max(axis=1), own, out=np.zeros(len(block)), where=own > 0)
        if k > 0:
            cosine = (matrix[block] @ matrix.T).toarray() / np.sqrt(np.outer(lengths[block], lengths))
            cosine[np.arange(len(block)), block] = -np.inf
            neighbour_sim[block] = -np.partition(-cosine, k - 1, axis=1)[:, :k].mean(axis=1)
    return {"rare_overlap": rare_overlap, "neighbour_sim": neighbour_sim}


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


def partner_excess(matrix: sp.csr_matrix, rare_quantile: float) -> np.ndarray:
    """(users,) how unlikely by chance it is that the user's PARTNERS-th closest partner shares so many of its
    rare items: -log of the Poisson upper tail, rare items being those whose popularity is at most the
    `rare_quantile` quantile of the interacted items'.

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
    relative_count = counts / max(counts.mean(), 1.0)
    expected = rare_matrix @ (popularity[rare] / num_users)  # (users,) shared with a partner of mean count
    k = min(PARTNERS, num_users - 1)
    excess = np.zeros(num_users)
    for start in range(0, num_users, USER_BLOCK):
        block = np.arange(start, min(start + USER_BLOCK, num_users))
        shared = (rare_matrix[block] @ rare_matrix.T).toarray()  # (block, users)
        chance = np.maximum(np.outer(expected[block], relative_count), 1e-6)
        surprise = -poisson.logsf(shared - 1.0, chance)  # -log P(at least `shared` by chance)
        surprise[np.arange(len(block)), block] = -np.inf
        excess[block] = -np.partition(-surprise, k - 1, axis=1)[:, k - 1] if k > 0 else 0.0
    return excess
