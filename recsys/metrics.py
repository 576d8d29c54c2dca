"""Full-ranking metrics over all items, vectorised over a batch of users.

Written by hand rather than taken from a library: libraries either sample negatives or loop per user,
and ties must count against the model (a constant scorer must score zero, not 1/N).
"""

import numpy as np
import torch

DEFAULT_KS = (10, 20, 50)


def filter_seen(scores: torch.Tensor, histories: torch.Tensor) -> torch.Tensor:
    """Sets the scores of already-seen items, and of the padding index 0, to -inf (in place).

    scores: (B, N+1); histories: (B, H) item indices, 0-padded.
    A target the user has already seen is filtered too, so it counts as a miss (pessimistic).
    """
    scores.scatter_(1, histories, float("-inf"))
    scores[:, 0] = float("-inf")
    return scores


def target_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0-based rank of each target; every other item with an equal score is ranked above it.

    scores: (B, N+1), targets: (B,) -> (B,) int64
    """
    target_scores = scores.gather(1, targets[:, None])  # (B, 1)
    # One pass of `>=` counts higher items, tied items and the target itself; int32 sums are ~2x faster.
    return (scores >= target_scores).sum(dim=1, dtype=torch.int32).long() - 1


def ranking_metrics(ranks: np.ndarray, ks=DEFAULT_KS) -> dict[str, float]:
    """HR@K, NDCG@K and MRR@K (mean over users) from 0-based target ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out = {}
    for k in ks:
        hit = ranks < k
        out[f"HR@{k}"] = float(hit.mean())
        out[f"NDCG@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
        out[f"MRR@{k}"] = float(np.where(hit, 1.0 / (ranks + 1.0), 0.0).mean())
    return out
