"""`curator inject`: simulated interaction noise and poisoning attacks, with the ground truth kept apart.

The output is a new dataset folder whose tables look like real data; what was injected is only in
`labels/` (noise.parquet, fake_users.parquet, targets.parquet), which no stage reads. The manifest holds
the command and config, never the labels. Noise (inject_noise.py) and an attack (inject_attacks.py) can be
combined: the attack is built from the input's real users, the noise goes into real users only, and each
draws from its own random stream of `--seed`, so adding one never changes the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curator.data.atomic import check_not_overlapping, check_output_free
from curator.data.dataset import Dataset, write_dataset
from curator.errors import OptionError
from curator.seeds import derive_seed
from curator.stages.inject_attacks import ATTACKS, make_attack
from curator.stages.inject_noise import NOISE_DISTRIBUTIONS, inject_noise

NOISE_LABELS = "labels/noise.parquet"
FAKE_USERS_LABELS = "labels/fake_users.parquet"
TARGETS_LABELS = "labels/targets.parquet"
DEFAULT_NOISE = 0.1  # the fraction `curator inject` replaces when given neither --noise nor --attack


@dataclass(frozen=True)
class InjectConfig:
    noise: float | None = None  # fraction of training interactions to replace
    noise_dist: str = "uniform"
    attack: str | None = None
    fake_users: float = 0.01  # fake users, as a fraction of the real users
    targets: int = 1
    seed: int = 0

    def validate(self) -> None:
        if self.noise is None and self.attack is None:
            raise OptionError("nothing to inject: give --noise and/or --attack")
        if self.noise is not None and not 0 < self.noise < 1:
            raise OptionError(f"--noise {self.noise} is not a fraction in (0, 1)")
        if self.noise_dist not in NOISE_DISTRIBUTIONS:
            raise OptionError(f"--noise-dist: unknown distribution '{self.noise_dist}' "
                              f"(one of {', '.join(NOISE_DISTRIBUTIONS)})")
        if self.attack is not None and self.attack not in ATTACKS:
            raise OptionError(f"--attack: unknown attack '{self.attack}' (one of {', '.join(ATTACKS)})")
        if not 0 < self.fake_users < 1:
            raise OptionError(f"--fake-users {self.fake_users} is not a fraction in (0, 1)")
        if self.targets < 1:
            raise OptionError(f"--targets {self.targets}: at least one target item is needed")


def inject(
    dataset: Dataset, config: InjectConfig, out_dir: str | Path, *, command: Sequence[str], overwrite: bool = False
) -> tuple[Dataset, dict[str, Any]]:
    """Write the injected dataset to `out_dir`; return it and a summary (counts, no labels)."""
    config.validate()
    out_dir = Path(out_dir)
    check_output_free(out_dir, overwrite)
    check_not_overlapping([dataset.path], out_dir)

    interactions, users = dataset.interactions, dataset.users
    labels: dict[str, pa.Table] = {}
    summary: dict[str, Any] = {"out": str(out_dir)}
    notes = []
    if config.noise is not None:
        rng = np.random.default_rng(derive_seed(config.seed, "inject", "noise"))
        interactions, labels[NOISE_LABELS] = inject_noise(dataset, config.noise, config.noise_dist, rng)
        summary["noise"] = {"replaced": len(labels[NOISE_LABELS]), "distribution": config.noise_dist}
        notes.append(f"noise: {len(labels[NOISE_LABELS])} training interactions replaced by "
                     f"{config.noise_dist} draws from the catalog; ground truth in {NOISE_LABELS}")
    if config.attack is not None:
        rng = np.random.default_rng(derive_seed(config.seed, "inject", "attack"))
        attack = make_attack(dataset, config.attack, config.fake_users, config.targets, rng)
        interactions = pa.concat_tables([interactions, attack.interactions])
        users = pa.concat_tables([users, attack.users])
        labels[FAKE_USERS_LABELS], labels[TARGETS_LABELS] = attack.fake_users, attack.targets
        summary["attack"] = {"attack": config.attack, "fake_users": len(attack.users), "targets": config.targets}
        notes.append(f"attack: {len(attack.users)} fake users ({config.attack}) promoting {config.targets} "
                     f"target items; ground truth in {FAKE_USERS_LABELS}, {TARGETS_LABELS}")

    written = write_dataset(
        out_dir, interactions, dataset.items, users, name=out_dir.name, source=dataset.manifest.get("source"),
        command=command, config={"stage": "inject", **asdict(config)}, parent=dataset, notes=notes,
        extra_files=labels, overwrite=overwrite,
    )
    summary["labels"] = sorted(labels)
    return written, summary
