import math

import numpy as np
import pytest
import torch

from recsys.metrics import filter_seen, ranking_metrics, target_ranks


def test_rank_counts_strictly_higher_items():
    scores = torch.tensor([[0.0, 0.9, 0.1, 0.5, 0.3]])  # index 0 is padding
    assert target_ranks(scores, torch.tensor([3])).tolist() == [1]  # only item 1 scores higher
    assert target_ranks(scores, torch.tensor([1])).tolist() == [0]


def test_ties_count_against_the_model():
    scores = torch.tensor([[float("-inf"), 0.5, 0.5, 0.5, 0.1]])
    # items 1, 2, 3 tie: whichever is the target, the other two are ranked above it
    assert target_ranks(scores, torch.tensor([2])).tolist() == [2]
    constant = torch.zeros(1, 101)
    constant[0, 0] = float("-inf")
    assert target_ranks(constant, torch.tensor([7])).tolist() == [99]  # a constant scorer ranks last


def test_seen_items_are_filtered_and_a_seen_target_is_a_miss():
    scores = torch.tensor([[0.0, 0.9, 0.8, 0.7, 0.1], [0.0, 0.9, 0.8, 0.7, 0.1]])
    histories = torch.tensor([[1, 2], [0, 3]])  # second row: 0 is padding
    filter_seen(scores, histories)
    assert torch.isinf(scores[0, [0, 1, 2]]).all() and scores[0, 3] == 0.7
    ranks = target_ranks(scores, torch.tensor([3, 3]))
    assert ranks[0] == 0  # items 1 and 2 no longer outrank it
    assert ranks[1] >= 4  # the target was seen: filtered, ranked below every finite item


def test_ranking_metrics_by_hand():
    ranks = np.array([0, 4, 9, 10, 60])
    m = ranking_metrics(ranks, ks=(10, 50))
    assert m["HR@10"] == pytest.approx(3 / 5)
    assert m["NDCG@10"] == pytest.approx((1 + 1 / math.log2(6) + 1 / math.log2(11)) / 5)
    assert m["MRR@10"] == pytest.approx((1 + 1 / 5 + 1 / 10) / 5)
    assert m["HR@50"] == pytest.approx(4 / 5)
    assert m["MRR@50"] == pytest.approx((1 + 1 / 5 + 1 / 10 + 1 / 11) / 5)
