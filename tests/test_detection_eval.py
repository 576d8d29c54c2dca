"""Detection metrics on tiny arrays computed by hand, and target-item exposure on a tiny score matrix."""

import math

import numpy as np
import pytest
import torch

from curator.errors import InputError
from curator.evaluation.detection import (
    auroc,
    detection_report,
    expected_calibration_error,
    reliability_bins,
    reliability_diagram,
    replacement_accuracy,
    threshold_metrics,
)
from curator.evaluation.targets import never_interacted, target_exposure

TRUTH = [True, True, False, False, True]
SCORES = [0.95, 0.6, 0.8, 0.1, 0.3]


def test_precision_recall_f1_at_thresholds():
    metrics = threshold_metrics(TRUTH, SCORES, thresholds=(0.5, 0.9, 0.99))
    # p >= 0.5 flags 0.95, 0.6 (noise) and 0.8 (clean): 2 of 3 flagged are noise, 2 of 3 noise found.
    assert metrics["0.5"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "flagged": 3})
    assert metrics["0.9"] == pytest.approx({"precision": 1.0, "recall": 1 / 3, "f1": 0.5, "flagged": 1})
    assert metrics["0.99"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "flagged": 0}  # nothing flagged


def test_auroc_counts_correctly_ordered_pairs():
    # Positives 0.95, 0.6, 0.3 against negatives 0.8, 0.1: 4 of the 6 pairs are ordered right.
    assert auroc(TRUTH, SCORES) == pytest.approx(4 / 6)
    assert auroc([True, False], [0.5, 0.5]) == 0.5  # a tie is half right
    assert auroc([True, True], [0.2, 0.9]) is None  # one class: undefined


def test_expected_calibration_error_by_hand():
    truth, scores = [True, False, True, True], [0.05, 0.15, 0.85, 0.95]
    # Two bins: [0, .5) holds 0.05, 0.15 (mean 0.1, rate 0.5); [.5, 1] holds 0.85, 0.95 (mean 0.9, rate 1).
    assert expected_calibration_error(truth, scores, bins=2) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    # Ten bins: each score alone in its bin.
    assert expected_calibration_error(truth, scores, bins=10) == pytest.approx((0.95 + 0.15 + 0.15 + 0.05) / 4)
    assert expected_calibration_error([True, False, False, False], [0.25] * 4) == pytest.approx(0.0)


def test_reliability_bins_put_one_in_the_last_bin():
    bins = reliability_bins([True, False], [1.0, 0.0], bins=4)
    assert [b.count for b in bins] == [1, 0, 0, 1]
    assert bins[3].mean_score == 1.0 and bins[3].positive_rate == 1.0 and bins[1].mean_score is None


def test_reliability_diagram_is_a_png(tmp_path):
    rng = np.random.default_rng(0)
    scores = rng.random(500)
    path = reliability_diagram(rng.random(500) < scores, scores, tmp_path / "plots" / "reliability.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_detection_report_and_bad_input():
    report = detection_report(TRUTH, SCORES)
    assert report["count"] == 5 and report["positives"] == 3 and set(report["thresholds"]) == {"0.5", "0.7", "0.9"}
    assert len(report["reliability"]) == 10
    with pytest.raises(InputError, match="probabilities"):
        auroc([True, False], [0.5, 1.2])
    with pytest.raises(InputError, match="one length"):
        threshold_metrics([True], [0.5, 0.2])


def test_replacement_accuracy():
    candidates = [["a", "b"], ["c", "d"], ["x"], [f"i{k}" for k in range(20)]]
    originals = ["a", "d", "z", "i12"]
    assert replacement_accuracy(candidates, originals) == {"count": 4, "top1": 0.25, "hit@10": 0.5}
    assert replacement_accuracy(candidates, originals, k=20)["hit@20"] == 0.75


def test_target_exposure_from_a_full_ranking_matrix():
    inf = float("-inf")
    # Column 0 is padding, seen items are -inf (as recsys's filter_seen leaves them); target = item 3.
    scores = torch.tensor(
        [
            [inf, 0.9, 0.5, 0.8, 0.1],  # item 3 ranked second (behind item 1)
            [inf, 0.2, 0.1, 0.9, 0.0],  # item 3 ranked first
            [inf, 0.4, 0.3, inf, 0.2],  # has seen item 3: not eligible
        ]
    )
    eligible = never_interacted([np.array([1]), np.array([4]), np.array([3, 1])], [3])
    assert eligible.tolist() == [[True], [True], [False]]
    exposure = target_exposure(scores, [3], eligible, ks=(1, 2))
    assert exposure["T-HR@1"] == 0.5 and exposure["T-NDCG@1"] == 0.5
    assert exposure["T-HR@2"] == 1.0 and exposure["T-NDCG@2"] == pytest.approx((1 / math.log2(3) + 1) / 2)

    # Two targets are averaged per target; a tie counts against the target.
    scores[0, 4] = 0.9  # item 4 ties items 1 for user 0: rank 1, not 0
    both = target_exposure(scores.numpy(), [3, 4], never_interacted([np.array([1])] * 3, [3, 4]), ks=(1,))
    assert both["T-HR@1"] == pytest.approx((1 / 3 + 0) / 2) and both["targets_measured"] == 2

    # No targets (clean data): nothing to measure, not an error.
    none = target_exposure(scores, [], never_interacted([np.array([1])] * 3, []), ks=(1,))
    assert none == {"targets_measured": 0, "T-HR@1": None, "T-NDCG@1": None}
