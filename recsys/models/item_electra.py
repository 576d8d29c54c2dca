"""An ELECTRA-style item discriminator with a cloze head: a bidirectional transformer over item ids.

Every position sees the whole window (no causal mask, as BERT4Rec), and two heads read the same states:

    discriminator   one logit per position: was this item swapped in (noise) or is it the user's own?
                    ELECTRA (Clark et al., 2020) trains on swaps drawn by a small generator; here the
                    swaps come from outside (the caller's corrupter), the model only tells them apart.
    cloze           at a position holding MASK, logits over the catalog of the item that was there
                    (BERT4Rec, Sun et al., 2019), with the item embeddings tied to the output.

Item indices are 1..num_items; 0 is padding (right-padded windows), num_items + 1 is MASK.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn

from recsys.models.sasrec import Block, SASRec


@dataclass
class ItemElectraConfig:
    num_items: int
    max_len: int = 64
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.1

    @property
    def mask_token(self) -> int:
        return self.num_items + 1


class ItemElectra(nn.Module):
    def __init__(self, config: ItemElectraConfig):
        super().__init__()
        self.config = config
        self.item_embedding = nn.Embedding(config.num_items + 2, config.hidden, padding_idx=0)
        self.position_embedding = nn.Embedding(config.max_len, config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        # SASRec's block attends wherever its mask allows: here, to every real item of the window.
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.ln_f = nn.LayerNorm(config.hidden)
        self.discriminator = nn.Linear(config.hidden, 1)
        self.cloze_bias = nn.Parameter(torch.zeros(config.num_items))
        self.apply(SASRec._init_weights)  # the same initialisation as the blocks' own model

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """(B, L) right-padded item indices -> (B, L, D) hidden states (zero at padding)."""
        B, L = items.shape
        assert L <= self.config.max_len, f"window of {L} items, model holds {self.config.max_len}"
        is_item = items > 0  # (B, L)
        positions = torch.arange(L, device=items.device)  # (L,)
        x = self.item_embedding(items) * self.config.hidden**0.5 + self.position_embedding(positions)
        x = self.dropout(x) * is_item[..., None]  # (B, L, D)
        # Every query looks at every real item, and always at itself (padding rows would attend to nothing).
        attn_mask = is_item[:, None, :] | torch.eye(L, dtype=torch.bool, device=items.device)  # (B, L, L)
        attn_mask = attn_mask[:, None]  # (B, 1, L, L)
        for block in self.blocks:
            x = block(x, attn_mask) * is_item[..., None]
        return self.ln_f(x)  # (B, L, D)

    def noise_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, L, D) states -> (B, L) logits that each position's item was swapped in."""
        return self.discriminator(hidden).squeeze(-1)

    def cloze_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(N, D) states at masked positions -> (N, num_items) logits of items 1..num_items (column k is
        item k + 1)."""
        return hidden @ self.item_embedding.weight[1 : self.config.num_items + 1].T + self.cloze_bias
