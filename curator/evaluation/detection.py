"""How good a detector is: scores p in [0, 1] (the probability that an interaction is noise, or a user is
fake) against boolean ground truth.

Precision / recall / F1 at fixed probability thresholds (an edit is applied when p >= threshold, so these
are what `--threshold` delivers), AUROC (ranking quality, threshold-free), expected calibration error and
a reliability diagram (whether p means what it says), and replacement accuracy (whether the original item
is the one put back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from curator.errors import InputError

DEFAULT_THRESHOLDS = (0.5, 0.7, 0.9)
DEFAULT_BINS = 10


def _checked(truth: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth, scores = np.asarray(truth, dtype=bool), np.asarray(scores, dtype=np.float64)
    if truth.shape != scores.shape or truth.ndim != 1:
        raise InputError(f"scores {scores.shape} and truth {truth.shape} must be two vectors of one length")
    if not np.all((scores >= 0) & (scores <= 1)):
        raise InputError("scores must be probabilities in [0, 1]")
    return truth, scores


def threshold_metrics(truth, scores, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, dict[str, float]]:
    """Per threshold t (as a string key): precision, recall, F1 of flagging p >= t, and how many were flagged.
    Precision is 0 when nothing is flagged."""
    truth, scores = _checked(truth, scores)
    metrics = {}
    for threshold in thresholds:
        flagged = scores >= threshold
        precision, recall, f1, _ = precision_recall_fscore_support(truth, flagged, average="binary", zero_division=0.0)
        metrics[f"{threshold:g}"] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "flagged": int(flagged.sum()),
        }
    return metrics


def auroc(truth, scores) -> float | None:
    """Area under the ROC curve; None when the truth has only one class (it is undefined)."""
    truth, scores = _checked(truth, scores)
    if truth.all() or not truth.any():
        return None
    return float(roc_auc_score(truth, scores))


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_score: float | None  # None for an empty bin
    positive_rate: float | None


def reliability_bins(truth, scores, bins: int = DEFAULT_BINS) -> list[ReliabilityBin]:
    """Equal-width bins over [0, 1] (1.0 falls in the last); per bin the mean score and the observed rate.

    Written here rather than taken from sklearn.calibration.calibration_curve, which drops empty bins and
    does not return the counts that ECE and the diagram need."""
    truth, scores = _checked(truth, scores)
    index = np.minimum((scores * bins).astype(np.int64), bins - 1)
    out = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        out.append(
            ReliabilityBin(
                lower=b / bins,
                upper=(b + 1) / bins,
                count=count,
                mean_score=float(scores[members].mean()) if count else None,
                positive_rate=float(truth[members].mean()) if count else None,
            )
        )
    return out


def expected_calibration_error(truth, scores, bins: int = DEFAULT_BINS) -> float:
    """Sum over equal-width bins of (share of items in the bin) x |observed rate - mean score|."""
    table = reliability_bins(truth, scores, bins)
    total = sum(b.count for b in table)
    return float(sum(b.count / total * abs(b.positive_rate - b.mean_score) for b in table if b.count))


def reliability_diagram(truth, scores, path: str | Path, *, bins: int = DEFAULT_BINS, title: str = "") -> Path:
    """A PNG: observed rate against mean score per bin (the diagonal is perfect calibration), and below
    it how many scores fall in each bin."""
    table = reliability_bins(truth, scores, bins)
    ece = expected_calibration_error(truth, scores, bins)
    figure = Figure(figsize=(5, 6), layout="constrained")  # no pyplot: no global backend or state
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    centres = [(b.lower + b.upper) / 2 for b in table]
    top.bar(centres, [b.positive_rate or 0.0 for b in table], width=1 / bins, edgecolor="black", label="observed")
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    filled = [b for b in table if b.count]
    top.plot(
        [b.mean_score for b in filled],
        [b.positive_rate for b in filled],
        "o-",
        color="black",
        label="mean score in bin",
    )
    top.set(
        ylabel="fraction that is truly positive",
        xlim=(0, 1),
        ylim=(0, 1),
        title=f"{title}{' — ' if title else ''}ECE {ece:.3f}",
    )
    top.legend(loc="upper left")
    bottom.bar(centres, [b.count for b in table], width=1 / bins, edgecolor="black")
    bottom.set(xlabel="score p", ylabel="count", yscale="log")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def detection_report(
    truth, scores, *, thresholds: Sequence[float] = DEFAULT_THRESHOLDS, bins: int = DEFAULT_BINS
) -> dict[str, Any]:
    """Everything above in one JSON-ready dict."""
    truth, scores = _checked(truth, scores)
    return {
        "count": len(truth),
        "positives": int(truth.sum()),
        "auroc": auroc(truth, scores),
        "ece": expected_calibration_error(truth, scores, bins),
        "thresholds": threshold_metrics(truth, scores, thresholds),
        "reliability": [asdict(b) for b in reliability_bins(truth, scores, bins)],
    }


def replacement_accuracy(
    candidates: Sequence[Sequence[str]], originals: Sequence[str], k: int = 10
) -> dict[str, float]:
    """For replaced interactions: top-1 = the first candidate is the original item; hit@k = the original
    is among the first k candidates. `candidates[i]` is ranked best first."""
    if len(candidates) != len(originals) or not len(originals):
        raise InputError(f"{len(candidates)} candidate lists for {len(originals)} originals")
    top1 = np.mean([len(ranked) > 0 and ranked[0] == original for ranked, original in zip(candidates, originals)])
    hit = np.mean([original in list(ranked[:k]) for ranked, original in zip(candidates, originals)])
    return {"count": len(originals), "top1": float(top1), f"hit@{k}": float(hit)}
