"""Turning the head's raw logits into probabilities that mean what they say.

Isotonic regression (monotone, no shape assumed) fitted on held-out simulated corruptions: a score of 0.9
then means that about 90% of the interactions scored 0.9 were swapped in. It is stored as the fitted
step function's knots, so applying it needs numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression


@dataclass(frozen=True)
class Calibration:
    logits: tuple[float, ...]  # knots, increasing
    probabilities: tuple[float, ...]  # non-decreasing

    @classmethod
    def fit(cls, logits: np.ndarray, truth: np.ndarray) -> Calibration:
        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(logits, truth.astype(float))
        return cls(tuple(map(float, isotonic.X_thresholds_)), tuple(map(float, isotonic.y_thresholds_)))

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(logits, dtype=np.float64), self.logits, self.probabilities)

    def to_dict(self) -> dict:
        return {"method": "isotonic", "logits": list(self.logits), "probabilities": list(self.probabilities)}

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        return cls(tuple(data["logits"]), tuple(data["probabilities"]))
