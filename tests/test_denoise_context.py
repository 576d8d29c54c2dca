"""The denoiser's collaborative features: leave-one-user-out co-occurrence, checked by hand on a tiny
dataset; cross-fitted factors that never see the user they judge; and on real MovieLens-100K noise the
features must separate swapped-in items."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from curator.data.collaborative import TrainingInteractions, item_cooccurrence, training_interactions
from curator.denoise.config import NOISE_MIXES
from curator.denoise.context import (
    FACTOR_FOLDS,
    FEATURES,
    LOCAL_WINDOW,
    CollaborativeStats,
    candidate_features,
    neighbour_summary,
    sequence_features,
    window,
)
from curator.denoise.corruption import CORRUPTION_RATE, Corrupter
from curator.evaluation.detection import auroc

from builders import Backwards, tiny_dataset


def test_cosine_leaves_the_user_out(tmp_path):
    # Items (sorted ids) a=0, b=1, c=2, d=3. Users: u1 a b c, u2 a b, u3 a b d, u4 c d.
    dataset = tiny_dataset(
        tmp_path / "d",
        {
            "u1": ["a", "b", "c", "x1", "x2"],
            "u2": ["a", "b", "y1", "y2"],
            "u3": ["a", "b", "d", "z1", "z2"],
            "u4": ["c", "d", "w1", "w2"],
        },
    )
    train = training_interactions(dataset)
    stats = CollaborativeStats.of(train, factor_rank=2)
    index = {item: k for k, item in enumerate(dataset.items["item_id"].to_pylist())}
    a, b, c, d = (index[i] for i in "abcd")
    own = np.array([a, b, c])  # u1
    cosine = stats.cosine(np.array([a, b, c, d]), np.array([a, b, c, d]), own)
    # Without u1: a and b are shared by u2, u3 (2 of 2 users each): cos 1. c is left with u4 only, which
    # has no a: cos(a, c) = 0. d (not u1's) keeps its 2 users; a and d share u3: 1 / sqrt(2 * 2).
    assert np.isclose(cosine[0, 1], 1.0)
    assert np.isclose(cosine[0, 2], 0.0)
    assert np.isclose(cosine[0, 3], 1 / np.sqrt(2 * 2))
    # A user's own pair does not count: without leaving u1 out, cos(a, c) would be 1 / sqrt(3 * 2).
    assert not np.isclose(cosine[0, 2], 1 / np.sqrt(6))


@pytest.mark.parametrize("length", [0, 1, 2, LOCAL_WINDOW + 2, 40])
def test_neighbour_summary_is_the_mean_and_max_over_each_window(length):
    generator = torch.Generator().manual_seed(length)
    pairwise = torch.rand(length, length, dtype=torch.float64, generator=generator, requires_grad=True)
    local_mean, local_max, global_mean = neighbour_summary(pairwise)
    values = pairwise.detach().numpy()
    for position in range(length):
        near = window(length, position)
        assert list(near) == [k for k in range(length) if 0 < abs(k - position) <= LOCAL_WINDOW]
        others = [k for k in range(length) if k != position]
        assert np.isclose(local_mean[position].item(), values[position, near].mean() if len(near) else 0.0)
        assert np.isclose(local_max[position].item(), values[position, near].max() if len(near) else 0.0)
        assert np.isclose(global_mean[position].item(), values[position, others].mean() if others else 0.0)
    if length > 1:  # the text features train through it
        (local_mean.sum() + global_mean.sum()).backward()
        assert pairwise.grad.abs().sum() > 0 and pairwise.grad.diagonal().abs().sum() == 0


def test_features_shape_and_candidate_fit(tmp_path):
    dataset = tiny_dataset(
        tmp_path / "d",
        {
            "u1": ["a", "b", "c", "x1", "x2"],
            "u2": ["a", "b", "c", "y1", "y2"],
            "u3": ["a", "b", "c", "z1", "z2"],
            "u4": ["c", "d", "w1", "w2"],
        },
    )
    train = training_interactions(dataset)
    stats = CollaborativeStats.of(train, factor_rank=2)
    index = {item: k for k, item in enumerate(dataset.items["item_id"].to_pylist())}
    items = np.array([index[i] for i in "abc"])  # u1's
    features = sequence_features(stats, 0, items, items)
    assert features.shape == (3, len(FEATURES)) and features.dtype == np.float32
    # For position 2 (after a, b): c fits (u2 and u3 have a b c besides u1), d does not (only u4 has it).
    fit = candidate_features(stats, 0, items, items, 2, np.array([index["c"], index["d"]]))
    assert fit.shape == (2, 3) and fit[0, 0] > fit[1, 0] and fit[0, 1] > fit[1, 1]


def test_swapped_items_stand_out_on_movielens(movielens):
    train = training_interactions(movielens)
    stats = CollaborativeStats.of(train, factor_rank=32)
    corrupter = Corrupter(train, NOISE_MIXES["mixed"][0])
    rng = np.random.default_rng(0)
    users = [u for u, s in enumerate(train.sequences()) if len(s) >= 20][:150]
    features, truth = [], []
    for user in users:
        corrupted = corrupter(user, rng)
        features.append(sequence_features(stats, user, corrupted.items, corrupted.own))
        truth.append(corrupted.noisy)
        assert corrupted.noisy.sum() >= 1 and not np.isin(corrupted.items[corrupted.noisy], corrupted.own).any()
    features, truth = np.concatenate(features), np.concatenate(truth)
    # Low co-occurrence, or low factor similarity, with the neighbours = suspicious: swapped items must rank
    # clearly lower on each.
    for name in ("local_mean", "factor_local_mean"):
        assert auroc(truth, 1 - features[:, FEATURES.index(name)].clip(0, 1)) > 0.75, name


def test_the_evidence_is_computed_in_chunks_by_the_executor_in_any_order(movielens):
    train = training_interactions(movielens)
    executor = Backwards()
    stats = CollaborativeStats.of(train, factor_rank=8, executor=executor)
    # MovieLens-100K's 1,682 items: 27 blocks of 64 co-occurrence rows (the last one short), after the folds.
    assert executor.computed == [("EvidenceChunk", k) for k in reversed(range(FACTOR_FOLDS + 27))]
    expected = item_cooccurrence(train).toarray()  # the one-product definition
    assert stats.together.dtype == np.float32 and np.array_equal(stats.together.toarray(), expected)
    assert np.array_equal(stats.users_of, expected.diagonal())
    # The same bytes as in order in one process: what every engine and worker count must give.
    in_order = CollaborativeStats.of(train, factor_rank=8)
    assert stats.factors.tobytes() == in_order.factors.tobytes()
    for name in ("data", "indices", "indptr"):
        assert getattr(stats.together, name).tobytes() == getattr(in_order.together, name).tobytes()


def test_factors_never_see_the_user_they_judge(movielens):
    # Whatever a user holds, the factors it is judged with stay the same: they come from the other folds.
    train = training_interactions(movielens)
    user = 7
    part = train.user_slices()[user]
    changed_item = train.item.copy()
    changed_item[part] = np.random.default_rng(0).choice(train.num_items, part.stop - part.start)
    changed = replace(train, item=changed_item)
    before, after = (CollaborativeStats.of(t, factor_rank=8).factors for t in (train, changed))
    fold = user % FACTOR_FOLDS
    assert np.allclose(before[fold], after[fold], atol=1e-5)
    assert not np.allclose(np.delete(before, fold, axis=0), np.delete(after, fold, axis=0), atol=1e-3)
    norms = np.linalg.norm(before[fold], axis=1)
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-5)


def test_calibration_swaps_keep_the_nominal_rate_on_short_sequences():
    # 4,000 users with 5 training items each (Amazon windows are about this short). Training examples
    # swap at least one item, which lifts the share of swapped positions to E[max(1, Bin(5, 0.1))] / 5 =
    # 0.218; calibration examples may swap none, and keep the CORRUPTION_RATE that p is calibrated at.
    users, length, items = 4000, 5, 200
    rng = np.random.default_rng(0)
    sequences = np.stack([rng.choice(items, size=length, replace=False) for _ in range(users)])
    train = TrainingInteractions(
        rows=np.arange(users * length),
        user=np.repeat(np.arange(users), length),
        item=sequences.ravel(),
        position=np.tile(np.arange(length), users),
        num_users=users,
        num_items=items,
    )
    training, calibration = Corrupter(train, 1.0), Corrupter(train, 1.0, min_swaps=0)
    trained = [training(u, rng).noisy for u in range(users)]
    calibrated = [calibration(u, rng) for u in range(users)]
    assert min(noisy.sum() for noisy in trained) == 1
    assert np.mean(trained) == pytest.approx(0.218, abs=0.01)
    assert np.mean([c.noisy for c in calibrated]) == pytest.approx(CORRUPTION_RATE, abs=0.01)
    for c in calibrated:  # swapped in: never one of the user's own items
        assert not np.isin(c.items[c.noisy], c.own).any() and (c.items[~c.noisy] == c.own[~c.noisy]).all()
