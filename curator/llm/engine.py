"""`load_engine(EngineConfig)` -> an `Engine`: one loaded model that stages generate and score with."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager

from curator.devices import resolve_device
from curator.llm.adapters import active_adapter, attach_adapters
from curator.llm.config import EngineConfig, EngineInfo
from curator.llm.generation import DecodingSettings, Generation, chat_prompt, generate, token_lengths
from curator.llm.models import load_causal_lm, resolve_model
from curator.llm.offline import offline_hub
from curator.llm.quantization import plan_quantization
from curator.llm.scoring import CandidateScore, score_candidates


class Engine:
    """A causal language model with its tokenizer (and adapters), and what was loaded (`info`)."""

    def __init__(self, model, tokenizer, info: EngineInfo):
        self.model = model
        self.tokenizer = tokenizer
        self.info = info

    def chat_prompt(self, system: str, user: str, response_prefix: str = "") -> str:
        return chat_prompt(self.tokenizer, system, user, response_prefix)

    def token_lengths(self, prompts: Sequence[str]) -> list[int]:
        return token_lengths(self.tokenizer, prompts)

    def generate(
        self, prompts: Sequence[str], settings: DecodingSettings, *, batch_size: int, seed: int = 0
    ) -> list[Generation]:
        return generate(self.model, self.tokenizer, prompts, settings, batch_size=batch_size, seed=seed)

    def score(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[list[CandidateScore]]:
        return score_candidates(self.model, self.tokenizer, prompts, candidates)

    def adapter(self, name: str | None) -> AbstractContextManager[None]:
        """`with engine.adapter("denoise"): ...` runs with that adapter; None runs the base model."""
        return active_adapter(self.model, name)


def load_engine(config: EngineConfig) -> Engine:
    """Load what `config` asks for (offline), falling back from quantization only with a stated reason."""
    from transformers.utils import logging as transformers_logging

    config.validate()
    # Per-tensor progress bars and load reports are noise in a CLI with its own progress display.
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    # bitsandbytes warns when imported that an optional CPU kernel package is missing; it falls back to its own.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

    device = resolve_device(config.device)
    plan = plan_quantization(config.quant, config.dtype, device)
    with offline_hub():
        source = resolve_model(config.model)
        model, tokenizer = load_causal_lm(source, plan.from_pretrained_kwargs(), device)
        model, adapters = attach_adapters(model, config.adapters)
        base = source.base_record()
    info = EngineInfo(
        model=source.name,
        model_path=source.location,
        quant=plan.used,
        quant_note=plan.note,
        dtype=str(plan.dtype).removeprefix("torch."),
        device=device,
        adapters=adapters,
        base=base,
    )
    return Engine(model, tokenizer, info)
