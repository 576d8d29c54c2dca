"""Options of the fake-user detector and of the defense that acts on its probabilities."""

from __future__ import annotations

from dataclasses import dataclass

from curator.errors import OptionError
from curator.inject.config import ATTACKS

FRAUD_ACTIONS = ("drop", "reweight")
DEFAULT_FDR = 0.05  # `curator defend`'s decision when given neither --fdr nor --user-threshold
# The kinds the calibrator simulates by default: the four it was designed and measured with (docs/fraud.md).
# `curator inject --attack` has more kinds (curator.inject.config.ATTACKS), to test it on kinds it never simulated.
SIMULATED_ATTACKS = ("random", "bandwagon", "segment", "sequential")


@dataclass(frozen=True)
class DetectorConfig:
    attacks: tuple[str, ...] = SIMULATED_ATTACKS  # simulated attack types the calibrator learns fakes from
    budgets: tuple[float, ...] = (0.01, 0.05)  # simulated fakes, as fractions of the users: one copy each
    targets: int = 5  # target items of each simulated attack
    use_text: bool = True  # False: collaborative signals only (the ablation)
    group_inputs: bool = False  # evidence.GROUP_INPUTS (partner_excess): measured, not on by default (docs/fraud.md)
    seed: int = 0

    def validate(self) -> None:
        unknown = [attack for attack in self.attacks if attack not in ATTACKS]
        if unknown or not self.attacks:
            raise OptionError(
                f"--simulate: unknown or no attack type {', '.join(unknown)} (choose from {', '.join(ATTACKS)})"
            )
        if not self.budgets or not all(0 < budget < 1 for budget in self.budgets):
            raise OptionError(f"--budgets {', '.join(map(str, self.budgets))}: fractions in (0, 1) are needed")
        if self.targets < 1:
            raise OptionError(f"--targets {self.targets}: at least one target item is needed")


@dataclass(frozen=True)
class DefenseConfig:
    """Which users to act on: either those the BH procedure picks at false-discovery rate `fdr` (fdr.py: at
    most about that share of them real, whatever kind of fake the others are), or those with p(fake) >=
    `user_threshold` (the calibrated probability, which holds only for the simulated kinds). Exactly one is set:
    DefenseConfig(fdr=None, user_threshold=0.5) for the gate."""

    fdr: float | None = DEFAULT_FDR
    user_threshold: float | None = None
    action: str = "drop"
    gamma: float = 2.0  # reweight: the exponent of the weight curve (actions.py)

    def validate(self) -> None:
        if (self.fdr is None) == (self.user_threshold is None):
            raise OptionError("give either --fdr or --user-threshold, not both")
        if self.fdr is not None and not 0 < self.fdr < 1:
            raise OptionError(f"--fdr {self.fdr} is not a rate in (0, 1)")
        if self.user_threshold is not None and not 0 <= self.user_threshold <= 1:
            raise OptionError(f"--user-threshold {self.user_threshold} is not a probability in [0, 1]")
        if self.action not in FRAUD_ACTIONS:
            raise OptionError(f"--fraud-action: unknown action '{self.action}' (one of {', '.join(FRAUD_ACTIONS)})")
        if self.gamma <= 0:
            raise OptionError(f"--gamma {self.gamma} must be positive")


@dataclass(frozen=True)
class DefendConfig:
    """Everything `curator defend` is run with: the detector, the defense, and the LLM-derived inputs."""

    detector: DetectorConfig = DetectorConfig()
    defense: DefenseConfig = DefenseConfig()
    embedding_model: str | None = None  # item text vectors (default all-MiniLM-L6-v2); read when detector.use_text
    denoiser: str | None = None  # a denoise adapter whose p(noise) of each user's items is a signal; None: unused

    def validate(self) -> None:
        self.detector.validate()
        self.defense.validate()
