"""Self-made training examples: a user's own training sequence with a few items swapped for catalog
items, and which positions were swapped (and what was there before).

What the swaps are drawn from is the adapter's `--noise-dist` (config.NOISE_MIXES), never an item the user
already has. The default, mixed, is for noise of unknown kind: training swaps draw half of the items
uniformly and half in proportion to popularity (uniform draws alone would teach the denoiser that noise
is rare items, which popularity-matched noise is not), and calibration swaps draw by popularity only:
fitted on the hard case, p errs on the side of caution when noise is easier, so precision at a threshold
holds for both kinds. Where the noise is known to be uniform (accidental clicks on anything; Amazon Toys'
LLM4DSR noise), `uniform` trains and calibrates on uniform draws, and the denoiser learns how much rarity
says; `popularity` is the same for popularity-matched noise.

Training examples swap at least one position, so that every step has something to learn from.
Calibration examples draw the count alone (zero included): their share of swapped positions is then the
nominal CORRUPTION_RATE that p is calibrated at, whatever the sequence lengths. With at least one, short
sequences pushed it up (0.17 on Toys' windows of about 8 training items, against 0.10 on MovieLens-100K's
~100), and p overstated the odds of noise about two-fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curator.data.collaborative import TrainingInteractions, item_popularity
from curator.data.sampling import ItemSampler

CORRUPTION_RATE = 0.1  # share of positions swapped: the noise level the calibration is fitted at


@dataclass(frozen=True)
class Corrupted:
    user: int  # whose training sequence it is
    items: np.ndarray  # (P,) the sequence as the denoiser sees it
    own: np.ndarray  # the user's real items (for leave-one-user-out statistics)
    noisy: np.ndarray  # (P,) bool: swapped positions
    original: np.ndarray  # (P,) the real item at each position


class Corrupter:
    def __init__(
        self, train: TrainingInteractions, uniform_share: float, min_swaps: int = 1, rate: float = CORRUPTION_RATE
    ):
        self.sequences = train.sequences()
        self.rate = rate
        self.uniform_share = uniform_share
        self.min_swaps = min_swaps
        self.uniform = ItemSampler(np.ones(train.num_items))
        self.popular = ItemSampler(item_popularity(train).astype(np.float64))

    def __call__(self, user: int, rng: np.random.Generator) -> Corrupted:
        """`user`'s training sequence with a Binomial(P, rate) number of positions swapped (at least
        min_swaps, never all unless min_swaps demands it)."""
        items = self.sequences[user]
        count = int(np.clip(rng.binomial(len(items), self.rate), self.min_swaps, max(len(items) - 1, self.min_swaps)))
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
