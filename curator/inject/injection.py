"""Noise and an attack injected into one dataset, each from its own random stream of the seed.

The attack is built from the input's real users, the noise goes into real users only, and each draws
from its own stream of `seed`, so adding one never changes the other. What was injected is returned
apart from the tables (the labels), with a summary of counts and the notes the manifest keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from curator.data.dataset import Dataset
from curator.inject.attacks import make_attack
from curator.inject.config import FAKE_USERS_LABELS, NOISE_LABELS, TARGETS_LABELS, InjectConfig
from curator.inject.noise import inject_noise
from curator.seeds import derive_seed


@dataclass(frozen=True)
class Injection:
    interactions: pa.Table
    users: pa.Table
    labels: dict[str, pa.Table]  # path inside the dataset folder -> ground truth
    summary: dict[str, Any]  # counts, never the labels
    notes: list[str]


def inject(dataset: Dataset, config: InjectConfig) -> Injection:
    interactions, users = dataset.interactions, dataset.users
    labels: dict[str, pa.Table] = {}
    summary: dict[str, Any] = {}
    notes = []
    if config.noise is not None:
        rng = np.random.default_rng(derive_seed(config.seed, "inject", "noise"))
        interactions, labels[NOISE_LABELS] = inject_noise(dataset, config.noise, config.noise_dist, rng)
        summary["noise"] = {"replaced": len(labels[NOISE_LABELS]), "distribution": config.noise_dist}
        notes.append(
            f"noise: {len(labels[NOISE_LABELS])} training interactions replaced by "
            f"{config.noise_dist} draws from the catalog; ground truth in {NOISE_LABELS}"
        )
    if config.attack is not None:
        rng = np.random.default_rng(derive_seed(config.seed, "inject", "attack"))
        attack = make_attack(dataset, config.attack, config.fake_users, config.targets, rng)
        interactions = pa.concat_tables([interactions, attack.interactions])
        users = pa.concat_tables([users, attack.users])
        labels[FAKE_USERS_LABELS], labels[TARGETS_LABELS] = attack.fake_users, attack.targets
        summary["attack"] = {"attack": config.attack, "fake_users": len(attack.users), "targets": config.targets}
        notes.append(
            f"attack: {len(attack.users)} fake users ({config.attack}) promoting {config.targets} "
            f"target items; ground truth in {FAKE_USERS_LABELS}, {TARGETS_LABELS}"
        )
    summary["labels"] = sorted(labels)
    return Injection(interactions, users, labels, summary, notes)
