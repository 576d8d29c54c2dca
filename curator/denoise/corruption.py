"""Self-made training examples: a user's own training sequence with a few items swapped for catalog
items, and which positions were swapped (and what was there before).

Training swaps draw half of the items uniformly and half in proportion to popularity, never one the user
already has: uniform draws alone would teach the denoiser that noise is rare items, which popularity-
matched noise is not. Calibration swaps draw by popularity only (CALIBRATION_UNIFORM_SHARE): fitted on
the hard case, p errs on the side of caution when noise is easier, so precision at a threshold holds
for both kinds of noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curator.data.collaborative import TrainingInteractions, item_popularity
from curator.stages.item_sampling import ItemSampler

CORRUPTION_RATE = 0.1  # share of positions swapped: the noise level the calibration is fitted at
UNIFORM_SHARE = 0.5
CALIBRATION_UNIFORM_SHARE = 0.0


@dataclass(frozen=True)
class Corrupted:
    user: int  # whose training sequence it is
    items: np.ndarray  # (P,) the sequence as the denoiser sees it
    own: np.ndarray  # the user's real items (for leave-one-user-out statistics)
    noisy: np.ndarray  # (P,) bool: swapped positions
    original: np.ndarray  # (P,) the real item at each position


class Corrupter:
    def __init__(self, train: TrainingInteractions, rate: float = CORRUPTION_RATE,
                 uniform_share: float = UNIFORM_SHARE):
        self.sequences = train.sequences()
        self.rate = rate
        self.uniform_share = uniform_share
        self.uniform = ItemSampler(np.ones(train.num_items))
        self.popular = ItemSampler(item_popularity(train).astype(np.float64))

    def __call__(self, user: int, rng: np.random.Generator) -> Corrupted:
        """`user`'s training sequence with a Binomial(P, rate) number of positions swapped (at least one,
        never all)."""
        items = self.sequences[user]
        count = int(np.clip(rng.binomial(len(items), self.rate), 1, max(len(items) - 1, 1)))
        positions = np.sort(rng.choice(len(items), size=count, replace=False))
        corrupted = items.copy()
        taken = set(items.tolist())
        for position in positions:
            sampler = self.uniform if rng.random() < self.uniform_share else self.popular
            corrupted[position] = sampler.draw(rng, 1, exclude=taken)[0]
            taken.add(int(corrupted[position]))
        noisy = np.zeros(len(items), dtype=bool)
        noisy[positions] = True
        return Corrupted(user, corrupted, items, noisy, items)
