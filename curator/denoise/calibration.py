"""Turning the head's raw logits into probabilities that mean what they say.

Isotonic regression (monotone, no shape assumed) fitted on held-out simulated corruptions: a score of 0.9
then means that about 90% of the interactions scored 0.9 were swapped in. Plain isotonic regression makes
its steps as fine as the data allows, so its top step may rest on a handful of held-out positions that all
happen to be swaps, and then says p = 1 for everything above them: the Amazon Toys adapter's top step held
5 positions, and 28 test interactions reached p >= 0.9, 12 of them noise. Here every step holds at least
MIN_STEP_POSITIONS positions: the pool-adjacent-violators steps are fitted first, then the smallest step is
merged into its neighbour nearer in rate until none is smaller. Merging neighbours of a non-decreasing step
function keeps it non-decreasing. Stored as the steps' knots, so applying it needs numpy only, with the
share of swaps among the positions it was fitted on: p means what it says at that share of noise
(curator.denoise.noise_share restates it at another).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curator.denoise.corruption import CORRUPTION_RATE

# 20 held-out positions that are all swaps put the swap rate above 0.85 at 95% (rule of three: 1 - 3/20).
# Chosen on the adapters' report users (self-made swaps, never the test noise): with steps of any size the
# Toys adapter's report users got precision 0.70 at p >= 0.9; at 30, MovieLens' top step (25 swaps of 26
# positions) merged into one of 0.83, so p never reached 0.9 where it had been right 27 times of 27.
MIN_STEP_POSITIONS = 20


@dataclass(frozen=True)
class Step:
    """Held-out positions with logits in [low, high], `swapped` of `count` of them swaps."""

    low: float
    high: float
    swapped: float
    count: int

    @property
    def rate(self) -> float:
        return self.swapped / self.count

    def merged(self, right: Step) -> Step:
        return Step(self.low, right.high, self.swapped + right.swapped, self.count + right.count)


@dataclass(frozen=True)
class Calibration:
    logits: tuple[float, ...]  # knots, increasing
    probabilities: tuple[float, ...]  # non-decreasing
    min_step: int | None  # the fewest positions a step may hold; None: fitted before steps had a minimum
    share: float  # the share of swaps among the positions it was fitted on

    @classmethod
    def fit(cls, logits: np.ndarray, truth: np.ndarray, min_step: int = MIN_STEP_POSITIONS) -> Calibration:
        steps = _merge_small_steps(_isotonic_steps(np.asarray(logits, np.float64), np.asarray(truth)), min_step)
        knots = [(x, step.rate) for step in steps for x in dict.fromkeys((step.low, step.high))]
        return cls(
            tuple(float(x) for x, _ in knots), tuple(float(p) for _, p in knots), min_step, float(np.mean(truth))
        )

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        # between steps, linear; beyond the outer knots, the outer steps' rates
        return np.interp(np.asarray(logits, dtype=np.float64), self.logits, self.probabilities)

    def to_dict(self) -> dict:
        return {
            "method": "isotonic",
            "min_step_positions": self.min_step,
            "share": self.share,
            "logits": list(self.logits),
            "probabilities": list(self.probabilities),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        # Calibrations saved before the share was recorded were fitted on Binomial(P, CORRUPTION_RATE) swaps.
        return cls(
            tuple(data["logits"]),
            tuple(data["probabilities"]),
            data.get("min_step_positions"),
            data.get("share", CORRUPTION_RATE),
        )


def _isotonic_steps(logits: np.ndarray, truth: np.ndarray) -> list[Step]:
    """Pool adjacent violators over the distinct logits (tied logits share a step): the least-squares
    non-decreasing fit of the swap rate, as steps."""
    values, index = np.unique(logits, return_inverse=True)
    counts = np.bincount(index)
    swapped = np.bincount(index, weights=truth.astype(np.float64))
    steps: list[Step] = []
    for value, k, n in zip(values, swapped, counts):
        steps.append(Step(value, value, k, int(n)))
        while len(steps) > 1 and steps[-2].rate >= steps[-1].rate:
            right = steps.pop()
            steps[-1] = steps[-1].merged(right)
    return steps


def _merge_small_steps(steps: list[Step], min_step: int) -> list[Step]:
    """Merge the smallest step into its neighbour nearer in rate (the smaller change to the fitted rates)
    until every step holds `min_step` positions, or one step is left."""
    steps = list(steps)
    while len(steps) > 1:
        k = min(range(len(steps)), key=lambda j: steps[j].count)
        if steps[k].count >= min_step:
            break
        neighbours = [j for j in (k - 1, k + 1) if 0 <= j < len(steps)]
        other = min(neighbours, key=lambda j: abs(steps[j].rate - steps[k].rate))
        left = min(k, other)
        steps[left : left + 2] = [steps[left].merged(steps[left + 1])]
    return steps
