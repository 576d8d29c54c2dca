"""GRU4Rec (Hidasi et al., 2016) as a sequence encoder, trained like SASRec+ with full cross-entropy."""

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


@dataclass
class GRU4RecConfig:
    num_items: int  # item indices are 1..num_items, 0 is padding
    max_len: int = 50
    hidden: int = 64
    layers: int = 1
    dropout: float = 0.1


class GRU4Rec(nn.Module):
    def __init__(self, config: GRU4RecConfig):
        super().__init__()
        self.config = config
        self.item_embedding = nn.Embedding(config.num_items + 1, config.hidden, padding_idx=0)
        nn.init.normal_(self.item_embedding.weight, std=0.02)
        self.dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(config.hidden, config.hidden, num_layers=config.layers, batch_first=True)
        self.out = nn.Linear(config.hidden, config.hidden)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        B, L = items.shape
        lengths = (items > 0).sum(dim=1).clamp(min=1)  # (B,)
        # Batches are left-padded; a GRU must not step over padding (its biases would move the state),
        # so rotate each row to start at its first item, run packed, and rotate back.
        shift = (torch.arange(L, device=items.device)[None, :] + (L - lengths)[:, None]) % L  # (B, L)
        left_aligned = items.gather(1, shift)
        x = self.dropout(self.item_embedding(left_aligned))  # (B, L, D)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=L)  # (B, L, D)
        unshift = (torch.arange(L, device=items.device)[None, :] - (L - lengths)[:, None]) % L
        h = h.gather(1, unshift[..., None].expand(-1, -1, h.shape[-1]))  # back to left padding
        return self.out(self.dropout(h))  # (B, L, D)
