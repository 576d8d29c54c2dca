"""Noise baselines: hand-computed scores on a tiny dataset, the score-table format, and on real
MovieLens-100K with injected noise, the ranking quality each should reach."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curator.data.collaborative import training_interactions
from curator.data.splits import training_mask
from curator.denoise.baselines import (
    BASELINES,
    baseline_scores,
    cooccurrence_scores,
    least_popular_scores,
    random_scores,
)
from curator.denoise.scores import SCORE_SCHEMA, noise_truth
from curator.errors import OptionError
from curator.evaluation.detection import auroc
from curator.inject.config import NOISE_LABELS, InjectConfig

from builders import injected, tiny_dataset


@pytest.fixture(scope="module")
def noisy_movielens(tmp_path_factory, movielens):
    noisy, _ = injected(movielens, InjectConfig(noise=0.1, seed=0), tmp_path_factory.mktemp("ml") / "noisy")
    return noisy


def test_cooccurrence_leaves_the_user_out(tmp_path):
    # Users of two items are all training (no validation/test targets). a: 3 users, b: 2, c: 1 (u3 only).
    dataset = tiny_dataset(tmp_path / "d", {"u1": ["a", "b"], "u2": ["a", "b"], "u3": ["a", "c"]})
    scores = cooccurrence_scores(training_interactions(dataset))
    # u1's a next to b: without u1, a and b share 1 user, a has 2, b has 1: cosine 1/sqrt(2).
    assert scores[:4] == pytest.approx([1 - 1 / np.sqrt(2)] * 4)
    # u3's c: nobody else has it, so nothing vouches for it (counting u3 itself, cosine would be 1/sqrt(3)).
    assert scores[4:] == pytest.approx([1.0, 1.0])


def test_cooccurrence_window_limits_the_context(tmp_path):
    # The last two items of each user are validation/test targets: training parts are abcd, abxd, fedc.
    dataset = tiny_dataset(tmp_path / "d", {"u1": list("abcdef"), "u2": list("abxdef"), "u3": list("fedcba")})
    train = training_interactions(dataset)
    # u1's a (row 0). Without u1: a and b share u2 (cosine 1), a and c share nobody (0), a and d share u2
    # while d has two other users (1 / sqrt(2)).
    assert cooccurrence_scores(train, window=1)[0] == pytest.approx(1 - 1.0)
    assert cooccurrence_scores(train)[0] == pytest.approx(1 - (1 + 0 + 1 / np.sqrt(2)) / 3)


def test_an_interaction_without_context_scores_one_half(tmp_path):
    dataset = tiny_dataset(tmp_path / "d", {"u1": list("abc"), "u2": list("bcd")})  # one training item each
    assert cooccurrence_scores(training_interactions(dataset)).tolist() == [0.5, 0.5]


def test_least_popular_ranks_items(tmp_path):
    dataset = tiny_dataset(tmp_path / "d", {"u1": ["a", "b"], "u2": ["a", "b"], "u3": ["a", "c"]})
    # Popularity a 3, b 2, c 1 -> ranks 3, 2, 1 -> (3 - rank) / 2.
    assert least_popular_scores(training_interactions(dataset)).tolist() == [0.0, 0.5, 0.0, 0.5, 0.0, 1.0]


def test_random_is_seeded(noisy_movielens):
    train = training_interactions(noisy_movielens)
    assert np.array_equal(random_scores(train, 1), random_scores(train, 1))
    assert not np.array_equal(random_scores(train, 1), random_scores(train, 2))


def test_score_table_covers_training_interactions_only(noisy_movielens):
    scores = baseline_scores(noisy_movielens, "least-popular")
    assert scores.schema == SCORE_SCHEMA
    assert len(scores) == training_mask(noisy_movielens.interactions).sum()
    lengths = dict(zip(noisy_movielens.users["user_id"].to_pylist(), np.diff(noisy_movielens.sequence_bounds())))
    assert all(p < lengths[u] - 2 for u, p in zip(scores["user_id"].to_pylist(), scores["position"].to_pylist()))
    with pytest.raises(OptionError, match="unknown baseline"):
        baseline_scores(noisy_movielens, "oracle")


def test_baselines_on_injected_noise(noisy_movielens):
    labels = pq.read_table(noisy_movielens.path / NOISE_LABELS)
    results = {}
    # The id-model trains two transformers: its quality is benchmarks/denoise_baselines.py's (and
    # tests/test_id_model.py's on noise only sequences give away), not a unit test's.
    for name in set(BASELINES) - {"id-model"}:
        scores = baseline_scores(noisy_movielens, name, seed=0)
        truth = noise_truth(scores, labels)
        assert truth.sum() == len(labels)
        results[name] = auroc(truth, scores["score"].to_numpy())
    assert abs(results["random"] - 0.5) < 0.02
    assert results["least-popular"] > 0.8 and results["cooccurrence"] > 0.8 and results["cooccurrence-window"] > 0.8
    assert results["factor-window"] > 0.8


def test_noise_truth_reads_both_label_formats():
    scores = pa.table(
        {
            "user_id": ["u", "u", "v"],
            "position": pa.array([0, 1, 0], pa.int32()),
            "item_id": ["a", "b", "c"],
            "score": [0.1, 0.2, 0.3],
        }
    )
    injected = pa.table({"user_id": ["u"], "position": pa.array([1], pa.int32())})
    flagged = pa.table(
        {"user_id": ["u", "u", "v"], "position": pa.array([0, 1, 0], pa.int32()), "is_noise": [False, False, True]}
    )
    assert noise_truth(scores, injected).tolist() == [False, True, False]
    assert noise_truth(scores, flagged).tolist() == [False, False, True]
