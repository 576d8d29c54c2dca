"""The denoiser's scoring head: one noise logit for every position of a user's training sequence, from
the collaborative features of curator.denoise.context and the LLM's item vectors, in one pass.

For a sequence of P positions:

    states (P, D)     the LLM's vector of each item (curator.denoise.item_states)
      -> z (P, T)     projected to a small text space and normalised: cos(z_i, z_j) is the text similarity
    text features     the item's mean text cos with its neighbours (local) and with the whole sequence
    (P, 3)            (global), and that global mean standardised within the user
    collab (P, F)     curator.denoise.context.FEATURES
    evidence (P, 2)   the ID model's discriminator logit, raw and standardised within the user
                      (curator.denoise.id_model.ID_FEATURES)
    [collab, evidence, text features, z] -> MLP -> logit (P,)

`use_text=False` / `use_collab=False` / `use_id_model=False` drop one part (the ablations); the head is
otherwise the same. The replacement ranker scores a catalog item for a position by how well it fits the
neighbours, in co-occurrence, in item-factor space and in text space, by its popularity and by the ID
model's cloze log-probability of it there: a softmax over the items the user does not have.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from curator.denoise.config import DenoiserConfig
from curator.denoise.context import FEATURES, neighbour_summary
from curator.denoise.id_model import ID_FEATURES

TEXT_FEATURES = ("text_local_mean", "text_global_mean", "text_global_z")


def text_features(z: torch.Tensor) -> torch.Tensor:
    """(P, 3) from unit vectors z (P, T) of one sequence, in order."""
    local_mean, _, global_mean = neighbour_summary(z @ z.T)
    spread = global_mean.std(unbiased=False) if len(z) > 1 else torch.zeros(())
    global_z = (global_mean - global_mean.mean()) / spread if spread > 0 else torch.zeros_like(global_mean)
    return torch.stack([local_mean, global_mean, global_z], dim=1)


class NoiseHead(nn.Module):
    def __init__(self, config: DenoiserConfig, state_dim: int):
        super().__init__()
        self.config = config
        self.project = nn.Linear(state_dim, config.text_dim)
        inputs = (
            (len(FEATURES) if config.use_collab else 0)
            + (len(ID_FEATURES) if config.use_id_model else 0)
            + (len(TEXT_FEATURES) + config.text_dim if config.use_text else 0)
        )
        self.mlp = nn.Sequential(
            nn.Linear(inputs, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, 1),
        )

    def text_space(self, states: torch.Tensor) -> torch.Tensor:
        """(n, D) item vectors -> (n, T) unit vectors."""
        return F.normalize(self.project(states), dim=-1)

    def forward(self, collab: torch.Tensor, evidence: torch.Tensor | None, states: torch.Tensor) -> torch.Tensor:
        """Logits (P,) for one sequence: collab (P, F) features, evidence (P, 2) the ID model's (None without
        its part), states (P, D) item vectors in order."""
        parts = []
        if self.config.use_collab:
            parts.append(collab)
        if self.config.use_id_model:
            parts.append(evidence)
        if self.config.use_text:
            z = self.text_space(states)
            parts += [text_features(z), z]
        return self.mlp(torch.cat(parts, dim=1)).squeeze(1)


class ReplacementRanker(nn.Module):
    """score(candidate) = w . [co-occurrence fit, factor fit, popularity, text fit, cloze] + b; `text fit` is
    the mean cos in the head's text space with the position's neighbours, `cloze` the ID model's
    log-probability of the candidate at the masked position (only with the ID model's part: adapters made
    before it have four weights)."""

    def __init__(self, config: DenoiserConfig):
        super().__init__()
        self.config = config
        self.weights = nn.Parameter(torch.zeros(5 if config.use_id_model else 4))
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(
        self, candidate_collab: torch.Tensor, text_fit: torch.Tensor, cloze: torch.Tensor | None
    ) -> torch.Tensor:
        """(C,) logits: candidate_collab (C, 3) [fit, factor fit, popularity] from
        context.candidate_features, text_fit (C,), cloze (C,) (None without the ID model's part)."""
        if not self.config.use_collab:
            candidate_collab = torch.zeros_like(candidate_collab)
        if not self.config.use_text:
            text_fit = torch.zeros_like(text_fit)
        columns = [candidate_collab, text_fit[:, None]] + ([cloze[:, None]] if self.config.use_id_model else [])
        return torch.cat(columns, dim=-1) @ self.weights + self.bias
