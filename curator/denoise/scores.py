"""The score table every interaction-noise detector writes, and its ground truth.

One row per scored (training) interaction, in dataset order:

    user_id, position, item_id   the interaction as the scored dataset shows it
    score                        in [0, 1]: the higher, the more likely noise (a probability only if the
                                 detector is calibrated; the baselines' scores are not)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curator.data.collaborative import TrainingInteractions
from curator.data.dataset import Dataset
from curator.errors import InputError

SCORE_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("position", pa.int32()),
        pa.field("item_id", pa.string()),
        pa.field("score", pa.float64()),
    ]
)


def score_table(dataset: Dataset, train: TrainingInteractions, scores: np.ndarray) -> pa.Table:
    """The score table of `scores`, one per training interaction of `dataset` in `train` order."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != train.rows.shape:
        raise InputError(f"{len(scores)} scores for {len(train.rows)} training interactions")
    if not np.all((scores >= 0) & (scores <= 1)):
        raise InputError("noise scores must lie in [0, 1]")
    rows = pa.array(train.rows)
    return pa.table(
        {
            "user_id": dataset.interactions["user_id"].take(rows),
            "position": dataset.interactions["position"].take(rows),
            "item_id": dataset.interactions["item_id"].take(rows),
            "score": pa.array(scores, pa.float64()),
        },
        schema=SCORE_SCHEMA,
    )


def noise_truth(scores: pa.Table, noise_labels: pa.Table) -> np.ndarray:
    """(rows of `scores`,) True where the interaction is noise according to `noise_labels`: either
    `curator inject`'s labels (one row per injected interaction) or an import's with an `is_noise` column
    (one row per interaction, e.g. LLM4DSR's noisy windows)."""
    if "is_noise" in noise_labels.column_names:
        noise_labels = noise_labels.filter(noise_labels["is_noise"])
    noisy = set(zip(noise_labels["user_id"].to_pylist(), noise_labels["position"].to_pylist()))
    return np.array(
        [key in noisy for key in zip(scores["user_id"].to_pylist(), scores["position"].to_pylist())], dtype=bool
    )
