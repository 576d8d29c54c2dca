"""SASRec (Kang & McAuley, 2018): a causal transformer over the item sequence.

Trained here with full cross-entropy over all items at every position ("SASRec+", Klenitskiy & Vasilev,
RecSys 2023) by recsys.train; this file is only the encoder.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class SASRecConfig:
    num_items: int  # item indices are 1..num_items, 0 is padding
    max_len: int = 50
    hidden: int = 64
    layers: int = 2
    heads: int = 1
    dropout: float = 0.1


class CausalSelfAttention(nn.Module):
    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.heads = config.heads
        self.qkv = nn.Linear(config.hidden, 3 * config.hidden)
        self.proj = nn.Linear(config.hidden, config.hidden)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        q, k, v = (t.view(B, L, self.heads, D // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, h, L, d)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.hidden)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.hidden)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.hidden),
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.ln1(x), attn_mask))
        x = x + self.dropout(self.mlp(self.ln2(x)))
        return x


class SASRec(nn.Module):
    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.config = config
        self.item_embedding = nn.Embedding(config.num_items + 1, config.hidden, padding_idx=0)
        self.position_embedding = nn.Embedding(config.max_len, config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.ln_f = nn.LayerNorm(config.hidden)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        B, L = items.shape
        assert L <= self.config.max_len, f"sequence of {L} items, model holds {self.config.max_len}"
        is_item = items > 0  # (B, L)
        # Positions count back from the most recent item, so the last item always has the same position
        # whatever the amount of left padding.
        positions = torch.arange(L - 1, -1, -1, device=items.device)  # (L,)
        x = self.item_embedding(items) * self.config.hidden**0.5 + self.position_embedding(positions)
        x = self.dropout(x) * is_item[..., None]  # (B, L, D)

        causal = torch.ones(L, L, dtype=torch.bool, device=items.device).tril()  # (L, L)
        # A query may look at earlier real items, and always at itself (padding rows would otherwise
        # attend to nothing and produce NaN).
        attn_mask = (causal & is_item[:, None, :]) | torch.eye(L, dtype=torch.bool, device=items.device)
        attn_mask = attn_mask[:, None]  # (B, 1, L, L)

        for block in self.blocks:
            x = block(x, attn_mask) * is_item[..., None]
        return self.ln_f(x)  # (B, L, D)
