"""LLM-derived features: what the items' text says about a user's sequence.

Item vectors are unit-length text embeddings, one row per row of the items table: the embeddings of the
LLM-written item profiles (`curator profile`, profiles/items.parquet) where every item has one, else
the embedding of the item's own text fields (title, genres, year, ...). A real user's items are related
by taste; fillers drawn at random are not, and a target promoted among them is an outlier in meaning.

    text_coherence      mean cosine over all pairs of the user's items
    text_transition     mean cosine of consecutive items
    text_outlier        1 - the lowest cosine of an item with the centroid of the user's other items
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from curator.data.collaborative import training_interactions
from curator.data.dataset import Dataset
from curator.data.item_text import item_texts
from curator.fraud.features import FeatureTable
from curator.llm.embeddings import TextEmbedder
from curator.profile.config import PROFILE_FILE


def item_vectors(dataset: Dataset, embedder: TextEmbedder) -> np.ndarray:
    """(items, dim) unit rows: the item profiles' embeddings when every item has one, else `embedder`'s
    embedding of the item text."""
    profiles = dataset.path / PROFILE_FILE["items"]
    if profiles.is_file():
        table = pq.read_table(profiles, columns=["item_id", "embedding"])
        vectors = dict(zip(table["item_id"].to_pylist(), table["embedding"].to_pylist()))
        ordered = [vectors.get(item) for item in dataset.items["item_id"].to_pylist()]
        if all(vector is not None for vector in ordered):
            return np.asarray(ordered, dtype=np.float32)
    return embedder.embed(item_texts(dataset))


def text_features(dataset: Dataset, vectors: np.ndarray) -> FeatureTable:
    """The features above for every user, from the training part of the sequence."""
    train = training_interactions(dataset)
    vectors = vectors.astype(np.float64)
    coherence, transition, outlier = (np.zeros(train.num_users) for _ in range(3))
    for user, part in enumerate(train.user_slices()):
        items = vectors[train.item[part]]
        n = len(items)
        if n < 2:
            continue
        total = items.sum(axis=0)
        # For unit vectors, the sum over all ordered pairs i != j of cos(i, j) is |sum|^2 - n.
        coherence[user] = (total @ total - n) / (n * (n - 1))
        transition[user] = np.einsum("ij,ij->i", items[:-1], items[1:]).mean()
        others = total[None, :] - items
        cosine = np.einsum("ij,ij->i", items, others) / np.maximum(np.linalg.norm(others, axis=1), 1e-12)
        outlier[user] = 1.0 - cosine.min()
    return FeatureTable.from_columns(
        {"text_coherence": coherence, "text_transition": transition, "text_outlier": outlier}, train.num_users
    )
