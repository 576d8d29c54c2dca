"""The full (users, items) score matrix of a trained model: what the evaluation ranks, for any use that
needs more than the rank of one target (e.g. how often an item reaches other users' top K)."""

import numpy as np
import torch
import torch.nn as nn

from recsys.data import left_pad
from recsys.metrics import filter_seen


@torch.no_grad()
def score_matrix(model: nn.Module, histories: list[np.ndarray], max_len: int, batch_size: int = 512) -> torch.Tensor:
    """(len(histories), N+1) float32 on the CPU: the score of every item after each history (the model reads
    its last `max_len` items), with the items of the whole history and the padding column 0 set to -inf."""
    model.eval()
    device = model.item_embedding.weight.device
    rows = []
    for start in range(0, len(histories), batch_size):
        batch = histories[start:start + batch_size]
        longest = max(len(h) for h in batch)
        hidden = model(left_pad(batch, min(max_len, longest)).to(device))[:, -1]  # (B, D) after the last item
        rows.append(filter_seen(hidden @ model.item_embedding.weight.T, left_pad(batch, longest).to(device)).cpu())
    return torch.cat(rows)
