"""Options of `curator adapt` (`AdaptConfig`, with the denoiser's shape `DenoiserConfig`) and of `curator denoise`
(`DenoiseConfig`), and the values they take.

Plain data with no heavy imports: the command line shows the choices and checks the options before torch or
the data load, so that a bad option costs nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from curator.errors import OptionError

TASKS = ("denoise",)  # what `curator adapt` trains an adapter for
DEFAULT_ADAPTER = "denoise-ml100k"  # the shipped adapter `curator denoise` uses without --adapter
DEFAULT_FACTOR_RANK = 32  # of the cross-fitted item factors (curator.denoise.context)
# --noise-dist of `curator adapt`: (share of uniform draws among the training swaps, among the calibration swaps);
# the rest are drawn in proportion to popularity (curator.denoise.corruption says why)
# `curator evaluate`'s baselines (curator.denoise.baselines), named here so that its --help lists them cheaply
TEXT_BASELINE = "text-embedding"  # the one that needs the items' text embedded
BASELINE_NAMES = (
    "random",
    "least-popular",
    "cooccurrence",
    "cooccurrence-window",
    "factor-window",
    "id-model",
    TEXT_BASELINE,
)
NOISE_MIXES = {"mixed": (0.5, 0.0), "uniform": (1.0, 1.0), "popularity": (0.0, 0.0)}
# --item-text of `curator adapt`: what the LLM part reads of an item (curator.denoise.item_states.item_texts), and
# the tokens it reads of it: a title and a few fields fit in 32; a profile summary is one or two sentences after
# the title. The bound is what keeps the cost per item fixed.
ITEM_TEXT_TOKENS = {"fields": 32, "profiles": 64}


@dataclass(frozen=True)
class IdModelConfig:
    """The ID model (recsys.models.item_electra) and its training (curator.denoise.id_model)."""

    hidden: int = 64
    layers: int = 2
    heads: int = 2
    max_len: int = 64  # items per window: longer sequences are read in consecutive windows
    steps: int = 400
    batch_windows: int = 64
    learning_rate: float = 2e-3
    mask_rate: float = 0.15  # of the unswapped positions masked for the cloze head
    uniform_share: float = 0.5  # of the swaps drawn uniformly, the rest by popularity (as `--noise-dist mixed`)
    folds: int = 2  # scores are cross-fitted: each fold of users is read by a model trained on the others
    seed: int = 0


@dataclass(frozen=True)
class DenoiserConfig:
    use_text: bool = True  # the LLM part
    use_collab: bool = True  # the collaborative part (co-occurrence and item factors)
    # the ID model's part (curator.denoise.id_model): its discriminator logit as input of the head, its cloze
    # head as input of the replacement ranker. Adapters made before it have none (load_denoiser)
    use_id_model: bool = True
    factor_rank: int = DEFAULT_FACTOR_RANK  # of the cross-fitted item factors (curator.denoise.context)
    text_dim: int = 32
    hidden: int = 64
    lora_rank: int = 8
    top_layers: int = 1  # decoder layers that carry the LoRA adapter (the rest are frozen and cached)
    item_text: str = "fields"  # the item's text fields, or its title and LLM profile summary (ITEM_TEXT_TOKENS)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AdaptConfig:
    task: str = "denoise"
    max_steps: int = 480  # warm-up steps included
    warmup_steps: int = 400
    time_budget: float | None = None  # seconds of the whole command (curator.denoise.budget; resumed runs count
    # what they already spent)
    users_per_step: int | None = None  # None: as many users as hold about positions_per_step positions
    positions_per_step: int = 800
    learning_rate: float = 3e-3  # head
    lora_learning_rate: float = 5e-4
    heldout_share: float = 0.2
    ranker_positions: int = 1000
    noise_dist: str = "mixed"  # what the self-made swaps are drawn from (NOISE_MIXES)
    seed: int = 0
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    # the ID model's budget and shape; its swaps and seed are the adapter's own (--noise-dist, --seed)
    id_model: IdModelConfig = field(default_factory=IdModelConfig)

    def validate(self) -> None:
        if self.task not in TASKS:
            raise OptionError(f"--task: '{self.task}' is not one of {', '.join(TASKS)}")
        if self.max_steps < 1:
            raise OptionError(f"--max-steps {self.max_steps}: at least one step is needed")
        if self.warmup_steps < 0:
            raise OptionError(f"--warmup-steps {self.warmup_steps}: give 0 or more")
        if self.time_budget is not None and self.time_budget <= 0:
            raise OptionError(f"--time-budget {self.time_budget}: give a positive number of seconds")
        if self.noise_dist not in NOISE_MIXES:
            raise OptionError(
                f"--noise-dist: unknown distribution '{self.noise_dist}' (one of {', '.join(NOISE_MIXES)})"
            )
        if self.users_per_step is not None and self.users_per_step < 1:
            raise OptionError(f"--users-per-step {self.users_per_step}: at least one user is needed")
        if self.positions_per_step < 1:
            raise OptionError(f"--positions-per-step {self.positions_per_step}: at least one position is needed")
        if not 0 < self.heldout_share < 1:
            raise OptionError(f"--heldout-share {self.heldout_share} is not a fraction in (0, 1)")
        if not (self.denoiser.use_text or self.denoiser.use_collab):
            raise OptionError("a denoiser needs its LLM part, its collaborative part, or both")
        if self.id_model.steps < 1:
            raise OptionError(f"--id-steps {self.id_model.steps}: at least one step is needed")
        if self.denoiser.item_text not in ITEM_TEXT_TOKENS:
            raise OptionError(f"--item-text: '{self.denoiser.item_text}' is not one of {', '.join(ITEM_TEXT_TOKENS)}")
        if self.denoiser.item_text == "profiles" and not self.denoiser.use_text:
            raise OptionError("--item-text profiles is read by the LLM part, which --no-llm leaves out")
        if self.denoiser.factor_rank < 1:
            raise OptionError(f"--factor-rank {self.denoiser.factor_rank}: give at least 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DenoiseConfig:
    threshold: float = 0.9
    max_edits: int | None = None  # per user; None: no limit
    replace_threshold: float = 0.5
    adapter: str = DEFAULT_ADAPTER
    candidates: int = 10  # ranked candidates kept in the score table for each edited position
    noise_share: float | str = "auto"  # the data's share of noise that p is restated at; "auto": estimated
    allow_foreign_adapter: bool = False  # score with an adapter trained on another catalog (p is then uncalibrated)

    def stated_share(self) -> float | None:
        """The share given as --noise-share; None for "auto"."""
        if self.noise_share == "auto":
            return None
        try:
            share = float(self.noise_share)
        except ValueError:
            raise OptionError(f"--noise-share {self.noise_share}: give auto or a share in (0, 1)") from None
        if not 0.0 < share < 1.0:
            raise OptionError(f"--noise-share {self.noise_share}: a share of noise is in (0, 1)")
        return share

    def validate(self) -> None:
        for name in ("threshold", "replace_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise OptionError(f"--{name.replace('_', '-')} {value} is not a probability in [0, 1]")
        if self.max_edits is not None and self.max_edits < 1:
            raise OptionError(f"--max-edits {self.max_edits}: give at least 1 (or leave it out for no limit)")
        if self.candidates < 1:
            raise OptionError(f"--candidates {self.candidates}: at least one candidate is needed")
        self.stated_share()
