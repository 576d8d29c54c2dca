"""Simulated attacks on a copy of the data: the positive examples the calibrator learns fakes from.

The copy lives in memory only; it is the data itself plus fake users built by `curator inject`'s attack
generators from the data's own users, promoting targets of the simulation's own choosing (not the
targets of any real attack, which the defender does not know).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curator.data.dataset import Dataset
from curator.inject.attacks import make_attack


def with_simulated_attack(
    dataset: Dataset, attack: str, fake_fraction: float, targets: int, rng: np.random.Generator
) -> tuple[Dataset, np.ndarray]:
    """(the data with simulated fakes appended, (users,) True for the simulated fakes)."""
    simulated = make_attack(dataset, attack, fake_fraction, targets, rng)
    copy = Dataset(
        path=dataset.path,  # the items (and so their profiles) are the data's own
        interactions=pa.concat_tables([dataset.interactions, simulated.interactions]),
        items=dataset.items,
        users=pa.concat_tables([dataset.users, simulated.users]),
        manifest={"name": f"{dataset.name} + simulated {attack} attack", "content_hash": None},
    )
    is_fake = np.r_[np.zeros(len(dataset.users), bool), np.ones(len(simulated.users), bool)]
    return copy, is_fake
