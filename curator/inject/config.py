"""Options of `curator inject` (their values: light enough for the command line to show before anything heavy
loads), and where the ground truth it writes lives in a dataset folder."""

from __future__ import annotations

from dataclasses import dataclass

from curator.errors import OptionError

# The kinds of fake users attacks.py makes (its docstring says what each one does).
ATTACKS = ("random", "bandwagon", "segment", "sequential", "reverse-bandwagon", "template", "average", "love-hate")
NOISE_DISTRIBUTIONS = ("uniform", "popularity")  # what noise.py draws replacement items from

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
            raise OptionError(
                f"--noise-dist: unknown distribution '{self.noise_dist}' (one of {', '.join(NOISE_DISTRIBUTIONS)})"
            )
        if self.attack is not None and self.attack not in ATTACKS:
            raise OptionError(f"--attack: unknown attack '{self.attack}' (one of {', '.join(ATTACKS)})")
        if not 0 < self.fake_users < 1:
            raise OptionError(f"--fake-users {self.fake_users} is not a fraction in (0, 1)")
        if self.targets < 1:
            raise OptionError(f"--targets {self.targets}: at least one target item is needed")
