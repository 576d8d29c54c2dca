"""Alignment of a recommender's representations with fixed text embeddings (RLMRec, Ren et al., WWW 2024).

The text side is a table of fixed embeddings, one row per item (and optionally per user): LLM-written
profiles or raw item text, embedded by a sentence encoder. Rows without text have mask 0 and take no part.
Two kinds, each a small head trained with the recommender and added to its loss with a weight:

- con (RLMRec-Con): InfoNCE between a learned projection of each collaborative representation and its
  text embedding, the other rows of the batch as negatives (cosine similarity over a temperature), both ways.
- gen (RLMRec-Gen): reconstruct the text embedding from a representation that has not seen the thing it
  describes: an item's text from the sequence state that predicts it (the item itself is masked from that
  state: causal models see only what came before), a user's text from the state after their history.
  Loss: 1 - cosine between the reconstruction and the text embedding.

Items are aligned through the ID embedding (con) or the predicting state (gen); users through the last
sequence state, the only representation a sequential model has of a user.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

KINDS = ("con", "gen")


@dataclass
class AlignConfig:
    kind: str = "con"  # con | gen
    weight: float = 0.1  # of the alignment term, next to the recommendation loss (which weighs 1)
    temperature: float = 0.2  # con: of the InfoNCE softmax over cosine similarities
    users: bool = False  # also align the sequence state with user text (when user text exists)


@dataclass
class TextTable:
    """Fixed text embeddings: row i describes item i (row 0, padding, has none) or user i."""

    embeddings: torch.Tensor  # (R, E), unit rows where present
    present: torch.Tensor  # (R,) bool: the row has text

    def to(self, device: torch.device) -> "TextTable":
        return TextTable(self.embeddings.to(device), self.present.to(device))


def head(hidden: int, text_dim: int) -> nn.Module:
    """The map from the recommender's space to the text space (RLMRec's projection: a small MLP)."""
    return nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, text_dim))


def info_nce(mapped: torch.Tensor, text: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE over a batch: row k of `mapped` (P, E) belongs with row k of `text` (P, E)."""
    logits = F.normalize(mapped, dim=1) @ F.normalize(text, dim=1).T / temperature  # (P, P)
    labels = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def reconstruction(mapped: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cosine(mapped row, text row)."""
    return (1 - F.cosine_similarity(mapped, text, dim=1)).mean()


@dataclass
class AlignText:
    """What a run aligns to: item text, and user text (rows in the order of the split's sequences) or none."""

    items: TextTable
    users: TextTable | None = None

    def to(self, device: torch.device) -> "AlignText":
        return AlignText(self.items.to(device), self.users.to(device) if self.users is not None else None)


class Alignment(nn.Module):
    """The alignment heads and their loss. Trained, checkpointed and resumed next to the model (recsys.train)
    but not part of it: scoring needs only the model."""

    def __init__(self, config: AlignConfig, hidden: int, text_dim: int):
        super().__init__()
        assert config.kind in KINDS, f"unknown alignment kind {config.kind}"
        self.config = config
        self.item_head = head(hidden, text_dim)
        self.user_head = head(hidden, text_dim) if config.users else None

    def loss(
        self,
        item_embedding: torch.Tensor,
        hidden: torch.Tensor,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        users: torch.Tensor,
        text: AlignText,
    ) -> torch.Tensor:
        """The weighted alignment term of one batch.

        item_embedding: (N+1, D) the model's item table; hidden: (B, L, D) its sequence states;
        inputs, targets: (B, L) items (0 = padding); users: (B,) row of each sequence in `text.users`.
        """
        items_text, users_text = text.items, text.users
        total = hidden.new_zeros(())
        if self.config.kind == "con":
            items = torch.unique(torch.cat([inputs[inputs > 0], targets[targets > 0]]))  # (I,) the batch's items
            items = items[items_text.present[items]]
            if len(items) > 1:
                mapped = self.item_head(item_embedding[items])  # (I, E)
                total = total + info_nce(mapped, items_text.embeddings[items], self.config.temperature)
        else:
            real = (targets > 0) & items_text.present[targets]  # (B, L) states whose next item has text
            if real.any():
                mapped = self.item_head(hidden[real])  # (P, E)
                total = total + reconstruction(mapped, items_text.embeddings[targets[real]])
        if self.user_head is not None and users_text is not None:
            last = hidden[:, -1]  # (B, D): left padding puts every sequence's last state here
            keep = users_text.present[users]  # (B,)
            if keep.sum() > 1:
                mapped = self.user_head(last[keep])  # (U, E)
                text = users_text.embeddings[users[keep]]
                if self.config.kind == "con":
                    total = total + info_nce(mapped, text, self.config.temperature)
                else:
                    total = total + reconstruction(mapped, text)
        return self.config.weight * total
