"""Trivial and collaborative baselines for interaction noise: a score in [0, 1] for every training
interaction, the higher the more suspect, computed from training interactions only.

    random          uniform draws from the seed: what chance looks like
    least-popular   the item's popularity rank, least popular = 1: catches uniform noise, which is mostly
                    made of rare items, and fails on popularity-matched noise
    cooccurrence    1 - mean item-item cosine between the interaction's item and the other items of the
                    user's training sequence: the collaborative outlier
    cooccurrence-window  the same against the LOCAL_WINDOW items on either side only
    factor-window   (1 - mean cosine)/2 of the item's low-rank factors with the LOCAL_WINDOW items' on either
                    side, factors cross-fitted without the user's fold: the denoiser's strongest single
                    collaborative feature, alone
    id-model        the discriminator's p(swapped) of an item-id transformer trained on the data's own
                    sequences with self-made swaps, cross-fitted over users (curator.denoise.id_model): the
                    "ID-model outlier"
    text-embedding  1 - mean cosine of the item's text embedding (MiniLM by default, of the same item
                    text the LLM reads) with those of the LOCAL_WINDOW items on either side

None of these is calibrated: a score of 0.9 is a rank, not a 90% chance of noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
from scipy.stats import rankdata

from curator.data.collaborative import TrainingInteractions, item_popularity, training_interactions
from curator.data.dataset import Dataset

# The window and the factors: as the denoiser reads them.
from curator.denoise.config import BASELINE_NAMES, DEFAULT_FACTOR_RANK, TEXT_BASELINE, IdModelConfig
from curator.denoise.context import LOCAL_WINDOW, CollaborativeStats
from curator.denoise.id_model import id_model_scores
from curator.denoise.item_states import item_texts
from curator.denoise.scores import score_table
from curator.errors import OptionError
from curator.llm.embeddings import TextEmbedder
from curator.seeds import derive_seed

NO_CONTEXT_SCORE = 0.5  # an interaction with nothing around it to compare with: no evidence either way


def random_scores(train: TrainingInteractions, seed: int) -> np.ndarray:
    return np.random.default_rng(derive_seed(seed, "baseline", "random")).random(len(train.rows))


def least_popular_scores(train: TrainingInteractions) -> np.ndarray:
    """(N - rank) / (N - 1) of the item's training popularity among the N catalog items (ties averaged)."""
    ranks = rankdata(item_popularity(train), method="average")  # 1 = least popular
    item_scores = (train.num_items - ranks) / max(train.num_items - 1, 1)
    return item_scores[train.item]


def cooccurrence_scores(train: TrainingInteractions, window: int | None = None) -> np.ndarray:
    """1 - mean cosine of the item with the user's other training items (those at most `window`
    positions away, or all of them).

    Counts are leave-one-user-out: the user's own history is taken out of the co-occurrence counts
    before comparing (cos = (c_ij - 1) / sqrt((n_i - 1)(n_j - 1)) for two items the user has), so a
    user never vouches for its own items; a noise item then co-occurs only by chance elsewhere."""
    stats = CollaborativeStats.of(train, DEFAULT_FACTOR_RANK)
    return outlier_scores(train, lambda user, items: stats.cosine(items, items, own=items), window)


def factor_scores(train: TrainingInteractions, window: int | None = LOCAL_WINDOW) -> np.ndarray:
    """(1 - mean cosine)/2 of the item's cross-fitted factors with its neighbours' (curator.denoise.context):
    factor cosines range over [-1, 1], and the halving keeps every one of them apart in [0, 1]."""
    stats = CollaborativeStats.of(train, DEFAULT_FACTOR_RANK)
    return outlier_scores(train, lambda user, items: (1 + stats.factor_cosine(user, items, items)) / 2, window)


def text_embedding_scores(
    train: TrainingInteractions, embeddings: np.ndarray, window: int | None = LOCAL_WINDOW
) -> np.ndarray:
    """1 - mean cosine of the item's text embedding (unit rows, one per catalog item) with its
    neighbours': the item least like the rest of the window in what its text says."""
    return outlier_scores(train, lambda user, items: embeddings[items] @ embeddings[items].T, window)


def outlier_scores(
    train: TrainingInteractions, cosine: Callable[[int, np.ndarray], np.ndarray], window: int | None
) -> np.ndarray:
    """1 - mean `cosine(user, items)` (a (n, n) matrix for one user's items) with the items at most
    `window` positions away (all of them for None), clipped to [0, 1]; NO_CONTEXT_SCORE without
    neighbours."""
    scores = np.full(len(train.rows), NO_CONTEXT_SCORE)
    for user, part in enumerate(train.user_slices()):
        items = train.item[part]
        if not len(items):
            continue
        similarity = cosine(user, items)
        positions = train.position[part]
        distance = np.abs(positions[:, None] - positions[None, :])
        context = (distance > 0) & (distance <= (window if window is not None else len(items)))
        has_context = context.any(axis=1)
        mean = (similarity * context).sum(axis=1)[has_context] / context.sum(axis=1)[has_context]
        scores[part][has_context] = 1.0 - np.clip(mean, 0.0, 1.0)
    return scores


# name -> scores of a dataset's training interactions (in training order) given the seed
BASELINES: dict[str, Callable[[TrainingInteractions, int], np.ndarray]] = {
    "random": random_scores,
    "least-popular": lambda train, seed: least_popular_scores(train),
    "cooccurrence": lambda train, seed: cooccurrence_scores(train),
    "cooccurrence-window": lambda train, seed: cooccurrence_scores(train, window=LOCAL_WINDOW),
    "factor-window": lambda train, seed: factor_scores(train),
    "id-model": lambda train, seed: id_model_scores(train, IdModelConfig(seed=seed)),
}


def baseline_scores(dataset: Dataset, name: str, seed: int = 0, embedder: TextEmbedder | None = None) -> pa.Table:
    """The score table of baseline `name` on `dataset`."""
    if name not in BASELINE_NAMES:
        raise OptionError(f"unknown baseline '{name}' (one of {', '.join(BASELINE_NAMES)})")
    train = training_interactions(dataset)
    if name == TEXT_BASELINE:
        embeddings = (embedder or TextEmbedder()).embed(item_texts(dataset))
        return score_table(dataset, train, text_embedding_scores(train, embeddings))
    return score_table(dataset, train, BASELINES[name](train, seed))
