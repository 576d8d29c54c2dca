"""The one place where a pipeline's sections become the stages' own configs (the same dataclasses the commands
build from their options), so that a change to a stage's config is adapted here and nowhere else.

Each function takes the checked spec (and what the planner decided) and returns the stage's config; a value
the stage's own `validate` refuses becomes a PipelineError naming the section.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from curator.data.import_config import ImportConfig
from curator.denoise.config import AdaptConfig, DenoiseConfig, DenoiserConfig
from curator.errors import OptionError
from curator.fraud.config import DefendConfig, DefenseConfig, DetectorConfig
from curator.inject.config import InjectConfig
from curator.llm.config import EngineConfig
from curator.pipeline.spec import PipelineError, PipelineSpec
from curator.profile.config import ProfileOptions
from curator.run.executor import ExecutorConfig
from curator.training import TrainOptions


@contextmanager
def section(name: str) -> Iterator[None]:
    """A stage config's refusal, as a PipelineError naming the pipeline's section."""
    try:
        yield
    except PipelineError:
        raise
    except OptionError as error:
        raise PipelineError(f"pipeline section '{name}': {error}") from None


def checked(name: str, build: Callable[[], Any]) -> Any:
    with section(name):
        config = build()
        config.validate()
    return config


def import_config(spec: PipelineSpec) -> ImportConfig:
    return checked("data", lambda: ImportConfig(format=spec.format))


def inject_config(spec: PipelineSpec) -> InjectConfig:
    s = spec.inject
    return checked(
        "inject",
        lambda: InjectConfig(
            noise=s.noise,
            noise_dist=s.noise_dist,
            attack=s.attack,
            fake_users=s.fake_users,
            targets=s.targets,
            seed=spec.seed,
        ),
    )


def profile_config(spec: PipelineSpec) -> tuple[ProfileOptions, EngineConfig]:
    s = spec.profile
    options = checked(
        "profile",
        lambda: ProfileOptions(stage=s.stage, limit=s.limit, batch_size=s.batch_size, seed=spec.seed),
    )
    return options, checked("profile", lambda: EngineConfig(device=spec.device))


def adapt_config(spec: PipelineSpec, use_text: bool) -> AdaptConfig:
    s = spec.adapt
    return checked(
        "adapt",
        lambda: AdaptConfig(
            max_steps=s.max_steps,
            warmup_steps=min(s.warmup_steps, s.max_steps),
            time_budget=s.time_budget,
            seed=spec.seed,
            denoiser=DenoiserConfig(use_text=use_text),
        ),
    )


def adapt_engine(spec: PipelineSpec) -> EngineConfig:
    return checked("adapt", lambda: EngineConfig(quant="none", device=spec.device))


def defend_config(spec: PipelineSpec, use_text: bool) -> DefendConfig:
    s = spec.defend
    return checked(
        "defend",
        lambda: DefendConfig(
            detector=DetectorConfig(budgets=s.budgets, targets=s.targets, use_text=use_text, seed=spec.seed),
            defense=DefenseConfig(
                fdr=None if s.user_threshold is not None else s.fdr,
                user_threshold=s.user_threshold,
                action=s.action,
            ),
        ),
    )


def denoise_config(spec: PipelineSpec, adapter: str) -> DenoiseConfig:
    s = spec.denoise
    return checked(
        "denoise",
        lambda: DenoiseConfig(
            threshold=s.threshold,
            replace_threshold=s.replace_threshold,
            max_edits=s.max_edits,
            adapter=adapter,
            noise_share=s.noise_share,
        ),
    )


def denoise_engine(spec: PipelineSpec, adapter_quant: str) -> EngineConfig:
    """The engine the adapter runs on: its base model quantized as it was trained."""
    return checked("denoise", lambda: EngineConfig(quant=adapter_quant, device=spec.device))


def train_options(spec: PipelineSpec) -> TrainOptions:
    s = spec.train
    return checked(
        "train",
        lambda: TrainOptions(
            model=s.model,
            seeds=list(s.seeds),
            max_epochs=s.epochs,
            patience=s.patience,
            max_len=s.max_len,
            batch_size=s.batch_size,
            device=spec.device,
            align=s.align,
            align_kind=s.align_kind,
            align_weight=s.align_weight,
        ),
    )


def execution(spec: PipelineSpec) -> ExecutorConfig:
    """Where profile, defend and denoise compute their chunks (`engine`, `ray`): not part of any stage's identity."""
    r = spec.ray
    return checked("ray", lambda: ExecutorConfig(spec.engine, r.address, r.cpus, r.workers, r.threads))


def check_all(spec: PipelineSpec) -> None:
    """Build every enabled stage's config once, before any data is read: a bad value costs nothing."""
    import_config(spec)
    execution(spec)
    if spec.inject.enabled:
        inject_config(spec)
    if spec.profile.enabled:
        profile_config(spec)
    adapt_config(spec, use_text=True)
    adapt_engine(spec)
    if spec.defend.enabled:
        defend_config(spec, use_text=spec.defend.text)
    if spec.denoise.enabled:
        denoise_config(spec, spec.denoise.adapter)
    train_options(spec)
