"""The full (users, items) score matrix of a trained model: what the evaluation ranks, for any use that
needs more than the rank of one target (e.g. how often an item reaches other users' top K)."""

import numpy as np
import torch
import torch.nn as nn

from recsys.data import left_pad
from recsys.metrics import filter_seen


@torch.no_grad()
def history_scores(model: nn.Module, histories: list[np.ndarray], max_len: int) -> torch.Tensor:
    """(len(histories), N+1) float32 on the model's device: the score of every item after each history (the
    model reads its last `max_len` items), with the items of the whole history and the padding column 0 set
    to -inf. One batch: the evaluation ranks it, score_matrix collects it."""
    device = model.item_embedding.weight.device
    longest = max(len(h) for h in histories)
    hidden = model(left_pad(histories, min(max_len, longest)).to(device))[:, -1]  # (B, D) after the last item
    # Filter against the whole history, not only the last max_len items the model saw.
    return filter_seen(hidden @ model.item_embedding.weight.T, left_pad(histories, longest).to(device))


def score_matrix(model: nn.Module, histories: list[np.ndarray], max_len: int, batch_size: int = 512) -> torch.Tensor:
    """history_scores of all `histories`, in batches, on the CPU."""
    model.eval()
    return torch.cat(
        [
            history_scores(model, histories[start : start + batch_size], max_len).cpu()
            for start in range(0, len(histories), batch_size)
        ]
    )
