"""From p(fake) to ledger edits: users with p >= threshold are dropped or down-weighted; every other user
is left exactly as it was.

The reweight curve, for p >= t:

    w(p) = ((1 - p) / (1 - t)) ** gamma        (w = 0 when t = 1)

It is 1 at the threshold (a user who barely passes is barely touched: no step from 1 to a small weight
at t, so a tiny change of p never flips a user's weight), falls smoothly and monotonically, and reaches 0
at p = 1. gamma > 1 makes it fall fast once p moves past t. The weight multiplies the user's current
weight, so a stage run twice compounds instead of forgetting the first run.
"""

from __future__ import annotations

import numpy as np

from curator.data.ledger import Edit
from curator.data.ledger_format import Action
from curator.fraud.config import DefenseConfig


def reweight_factor(p: np.ndarray, threshold: float, gamma: float) -> np.ndarray:
    """w(p) above, for p >= threshold (callers never apply it below)."""
    if threshold >= 1.0:
        return np.zeros_like(p, dtype=np.float64)
    return np.clip((1.0 - p) / (1.0 - threshold), 0.0, 1.0) ** gamma


def defense_edits(
    user_ids: list[str], probability: np.ndarray, weights: np.ndarray, config: DefenseConfig
) -> list[Edit]:
    """One edit per user with p >= threshold, in users order; nothing for the others."""
    flagged = np.flatnonzero(probability >= config.user_threshold)
    if config.action == "drop":
        return [
            Edit(user_ids[k], Action.DROP_USER.value, score=float(probability[k]), threshold=config.user_threshold)
            for k in flagged
        ]
    factor = reweight_factor(probability[flagged], config.user_threshold, config.gamma)
    return [
        Edit(
            user_ids[k],
            Action.REWEIGHT.value,
            new_weight=float(weights[k] * f),
            score=float(probability[k]),
            threshold=config.user_threshold,
        )
        for k, f in zip(flagged, factor)
    ]
