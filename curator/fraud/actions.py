"""From a detection to ledger edits: the users a decision picks are dropped or down-weighted; every other user
is left exactly as it was.

A decision bounds a user's doubt (how likely the user is real): at most 1 - t under `--user-threshold t`
(doubt = 1 - p(fake)), at most alpha under `--fdr alpha` (doubt = the user's BH q-value, fdr.py). The reweight
curve, for a user whose doubt d is within the bound b:

    w(d) = (d / b) ** gamma        (w = 0 when b = 0)

It is 1 at the bound (a user who barely passes is barely touched: no step from 1 to a small weight there, so
a tiny change of the score never flips a user's weight), falls smoothly and monotonically, and reaches 0 where
no doubt is left. gamma > 1 makes it fall fast once the user is past the bound. The weight multiplies the
user's current weight, so a stage run twice compounds instead of forgetting the first run.
"""

from __future__ import annotations

import numpy as np

from curator.data.ledger import Edit
from curator.data.ledger_format import Action
from curator.fraud.config import DefenseConfig


def reweight_factor(p: np.ndarray, threshold: float, gamma: float) -> np.ndarray:
    """w above for the p(fake) gate: doubt 1 - p, bound 1 - threshold (callers apply it only at p >= threshold)."""
    return doubt_factor(1.0 - np.asarray(p, dtype=np.float64), 1.0 - threshold, gamma)


def doubt_factor(doubt: np.ndarray, bound: float, gamma: float) -> np.ndarray:
    """w(d) above, for doubts within `bound`."""
    if bound <= 0.0:
        return np.zeros_like(doubt, dtype=np.float64)
    return np.clip(doubt / bound, 0.0, 1.0) ** gamma


def defense_edits(
    user_ids: list[str],
    probability: np.ndarray,
    weights: np.ndarray,
    config: DefenseConfig,
    q_value: np.ndarray | None = None,
) -> list[Edit]:
    """One edit per user the decision of `config` picks, in users order; nothing for the others. `q_value`:
    the users' BH q-values, needed when `config.fdr` is set. The ledger's score is p(fake); its threshold is
    the p(fake) threshold, none under --fdr (the q-value decides; user_scores.parquet holds it)."""
    if config.fdr is not None:
        if q_value is None:
            raise ValueError("a decision at a false-discovery rate needs the users' q-values")
        picked, doubt, bound, threshold = q_value <= config.fdr, q_value, config.fdr, None
    else:
        threshold = config.user_threshold
        picked, doubt, bound = probability >= threshold, 1.0 - probability, 1.0 - threshold
    flagged = np.flatnonzero(picked)
    if config.action == "drop":
        return [
            Edit(user_ids[k], Action.DROP_USER.value, score=float(probability[k]), threshold=threshold) for k in flagged
        ]
    factor = doubt_factor(doubt[flagged], bound, config.gamma)
    return [
        Edit(
            user_ids[k],
            Action.REWEIGHT.value,
            new_weight=float(weights[k] * f),
            score=float(probability[k]),
            threshold=threshold,
        )
        for k, f in zip(flagged, factor)
    ]
