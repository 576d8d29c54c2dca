"""Per-user feature tables: named columns, one row per user of a dataset (in users-table order).

Two groups are built by their own modules: collaborative statistics (features_collaborative.py) and
LLM-derived signals (features_text.py, plus optional external signals such as the denoiser's
per-interaction noise probabilities). Everything is computed from the training part of each sequence
only: no feature has seen a validation or test target, nor a label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from curator.data.dataset import Dataset
from curator.errors import InputError


@dataclass(frozen=True)
class FeatureTable:
    names: tuple[str, ...]
    values: np.ndarray  # (users, len(names)) float64

    def __post_init__(self):
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise InputError(f"{self.values.shape} feature values for {len(self.names)} names")

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray], num_users: int) -> FeatureTable:
        for name, column in columns.items():
            if np.shape(column) != (num_users,):
                raise InputError(f"feature '{name}': {np.shape(column)} values for {num_users} users")
        values = (
            np.column_stack([np.asarray(c, np.float64) for c in columns.values()])
            if columns
            else np.zeros((num_users, 0))
        )
        return cls(tuple(columns), values)

    def join(self, other: FeatureTable) -> FeatureTable:
        return FeatureTable(self.names + other.names, np.hstack([self.values, other.values]))

    def select(self, names: Sequence[str]) -> FeatureTable:
        missing = [name for name in names if name not in self.names]
        if missing:
            raise InputError(f"features {', '.join(missing)} are not in this table (it has {', '.join(self.names)})")
        return FeatureTable(tuple(names), self.values[:, [self.names.index(name) for name in names]])


# An external per-user signal: given a dataset (the data itself, or a copy with simulated fakes added),
# named arrays aligned with its users table. It is a function of the dataset rather than a fixed array
# because the calibrator needs the same signal on the simulated fakes it trains on. Example: the
# denoiser's mean and max per-interaction noise probability of each user.
UserSignal = Callable[[Dataset], Mapping[str, np.ndarray]]


def per_user_mean_and_max(
    user_of_row: np.ndarray, values: np.ndarray, num_users: int, prefix: str
) -> dict[str, np.ndarray]:
    """Mean and max of per-interaction `values` for each user (0 for a user without any): the helper that
    turns a per-interaction score (e.g. noise probabilities) into a UserSignal's columns."""
    counts = np.bincount(user_of_row, minlength=num_users)
    sums = np.bincount(user_of_row, weights=values, minlength=num_users)
    maxima = np.full(num_users, -np.inf)
    np.maximum.at(maxima, user_of_row, values)
    return {
        f"{prefix}_mean": np.divide(sums, counts, out=np.zeros(num_users), where=counts > 0),
        f"{prefix}_max": np.where(counts > 0, maxima, 0.0),
    }
