"""How far an attack pushed its target items: T-HR@K and T-NDCG@K over the real users who never
interacted with a target, from a full-ranking score matrix.

The matrix is what recsys's full-ranking evaluation computes: one row per real user, one column per item
index (column 0 the padding), seen items already set to -inf (recsys.metrics.filter_seen). Ranks count
ties against the target, as in recsys.metrics.target_ranks, which this reuses; recsys itself needs no
import of curator for any of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from recsys.metrics import ranking_metrics, target_ranks

DEFAULT_KS = (50,)


def never_interacted(histories: Sequence[np.ndarray], targets: Sequence[int]) -> np.ndarray:
    """(users, targets) True where the user's history (item indices) does not hold the target."""
    targets = np.asarray(targets)
    eligible = np.array([~np.isin(targets, history) for history in histories], dtype=bool)
    return eligible.reshape(len(histories), len(targets))


def target_exposure(
    scores: torch.Tensor | np.ndarray, targets: Sequence[int], eligible: np.ndarray, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float | int | None]:
    """T-HR@K and T-NDCG@K: per target, the share of its eligible users who get it in their top K (and the
    rank-discounted share), averaged over targets; None when no target has an eligible user.

    scores (users, items): as described above; targets: column indices; eligible (users, targets): which
    users count for which target (`never_interacted`)."""
    scores = torch.as_tensor(scores)
    eligible = np.asarray(eligible, dtype=bool)
    per_target = []
    for column, target in enumerate(targets):
        users = np.flatnonzero(eligible[:, column])
        if len(users):
            ranks = target_ranks(scores[users], torch.full((len(users),), int(target), dtype=torch.int64))
            per_target.append(ranking_metrics(ranks.numpy(), ks))
    out: dict[str, float | int | None] = {"targets_measured": len(per_target)}
    for k in ks:
        for metric in ("HR", "NDCG"):
            values = [m[f"{metric}@{k}"] for m in per_target]
            out[f"T-{metric}@{k}"] = float(np.mean(values)) if values else None
    return out
