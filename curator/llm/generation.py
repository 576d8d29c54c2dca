"""Batched text generation: chat-templated prompts, length-bucketed batches, left padding, bounded output.

Prompts are sorted by token length and cut into batches, so a batch pads little; each batch is padded on
the left so that every prompt's answer starts at the same position. Greedy decoding by default; with a
temperature, sampling is seeded per batch from `seed`, so the same call gives the same text. With a
`constraint`, answers keep to a JSON shape whatever the model prefers (see constrained.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    StoppingCriteria,
    StoppingCriteriaList,
)

from curator.errors import ModelError
from curator.llm.constrained import JsonStrings, JsonStringsProcessor
from curator.seeds import derive_seed


@dataclass(frozen=True)
class DecodingSettings:
    """How answers are decoded. An answer ends at an end-of-sequence token, at the token that completes
    one of `stop_strings` (kept in the text), or after `max_new_tokens`.

    With `constraint`, every prompt must end with `constraint.prefix`, and every answer completes that
    prefix into a JSON object of the constraint's string fields within `max_new_tokens`."""

    max_new_tokens: int = 128
    temperature: float = 0.0  # 0: greedy; above: sampling, seeded
    top_p: float = 0.95  # sampling only
    # > 1 makes a token the answer already holds less likely (small models loop). The prompt's tokens are
    # not penalised: an answer should be free to use the words of its prompt (a title, a genre).
    repetition_penalty: float = 1.0
    stop_strings: tuple[str, ...] = ()
    constraint: JsonStrings | None = None


@dataclass(frozen=True)
class Generation:
    text: str  # the answer, special tokens removed
    new_tokens: int  # tokens generated, the end-of-sequence token included
    cut: bool = False  # a length limit ended the answer (max_new_tokens, or a constrained field's budget)


def chat_prompt(tokenizer, system: str, user: str, response_prefix: str = "") -> str:
    """The model's chat template around one system and one user message, then the start of the answer.

    `response_prefix` is the beginning of the assistant's answer (e.g. '{"summary": "'), written for the model,
    which continues it.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError("the model's tokenizer has no chat template (an instruction-tuned model is needed)")
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + response_prefix


def token_lengths(tokenizer, prompts: Sequence[str]) -> list[int]:
    # The chat template already holds any begin-of-sequence token: add no special tokens here or in `generate`.
    return [len(ids) for ids in tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of `lengths` in batches of similar length: sorted by (length, index), then cut."""
    order = sorted(range(len(lengths)), key=lambda index: (lengths[index], index))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def end_token_ids(model, tokenizer) -> list[int]:
    configured = model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    return sorted({i for i in ids if i is not None} | {tokenizer.eos_token_id})


@torch.inference_mode()
def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    settings: DecodingSettings,
    *,
    batch_size: int,
    seed: int = 0,
) -> list[Generation]:
    """One Generation per prompt, in the order of `prompts`."""
    if settings.constraint and not all(prompt.endswith(settings.constraint.prefix) for prompt in prompts):
        raise ValueError(f"a constrained answer continues {settings.constraint.prefix!r}: end every prompt with it")
    end_ids = end_token_ids(model, tokenizer)
    # A complete config, so that defaults shipped with a model (e.g. sampling) never change the decoding.
    sampling = settings.temperature > 0
    config = GenerationConfig(
        max_new_tokens=settings.max_new_tokens,
        do_sample=sampling,
        temperature=settings.temperature if sampling else None,
        top_p=settings.top_p if sampling else None,
        top_k=None,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=end_ids,
    )
    # A row that stopped early is filled with padding up to the batch's longest answer.
    answer_ends = {*end_ids, tokenizer.pad_token_id}
    results: list[Generation | None] = [None] * len(prompts)
    for number, batch in enumerate(length_batches(token_lengths(tokenizer, prompts), batch_size)):
        encoded = tokenizer(
            [prompts[i] for i in batch], padding=True, add_special_tokens=False, return_tensors="pt"
        ).to(model.device)
        prompt_length = encoded["input_ids"].shape[1]
        stops = StoppingCriteriaList(
            [StopOnStrings(tokenizer, settings.stop_strings, prompt_length)] if settings.stop_strings else []
        )
        processors = LogitsProcessorList()
        if settings.repetition_penalty != 1.0:
            processors.append(
                RepetitionPenaltyLogitsProcessor(settings.repetition_penalty, prompt_ignore_length=prompt_length)
            )
        shape = (
            JsonStringsProcessor(
                settings.constraint,
                tokenizer,
                tokenizer.eos_token_id,
                prompt_length,
                settings.max_new_tokens,
                len(batch),
            )
            if settings.constraint
            else None
        )
        if shape:
            processors.append(shape)  # last: what it forbids stays forbidden
        torch.manual_seed(derive_seed(seed, "batch", number))
        output = model.generate(
            **encoded, generation_config=config, stopping_criteria=stops, logits_processor=processors
        )
        answers = output[:, prompt_length:].tolist()
        budget_cut = shape.cut if shape else [False] * len(batch)
        for index, answer, closed_by_budget in zip(batch, answers, budget_cut):
            results[index] = _decode(tokenizer, answer, answer_ends, settings.stop_strings, closed_by_budget)
    return results


class StopOnStrings(StoppingCriteria):
    """A row is done once its answer (not its prompt) contains one of `stop_strings`.

    transformers' own `stop_strings` indexes the whole vocabulary on every `generate` call, which costs more
    than the generation itself for short answers at batch size 1. A string of n characters that the last
    token completes lies within the last n tokens (every token has at least one character), so decoding
    that window at each step is enough.
    """

    def __init__(self, tokenizer, stop_strings: Sequence[str], prompt_length: int):
        self.tokenizer, self.stop_strings, self.prompt_length = tokenizer, tuple(stop_strings), prompt_length
        self.window = max(len(stop) for stop in stop_strings)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        tails = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :][:, -self.window :])
        return torch.tensor(
            [any(stop in tail for stop in self.stop_strings) for tail in tails],
            dtype=torch.bool,
            device=input_ids.device,
        )


def _decode(
    tokenizer, answer: list[int], answer_ends: set[int], stop_strings: Sequence[str], closed_by_budget: bool
) -> Generation:
    end = next((position for position, token in enumerate(answer) if token in answer_ends), None)
    kept = answer if end is None else answer[:end]
    text = tokenizer.decode(kept, skip_special_tokens=True)
    # No end token and no stop string: the row was still going when max_new_tokens ended the batch.
    reached_limit = end is None and not any(stop in text for stop in stop_strings)
    return Generation(
        text=text, new_tokens=len(answer) if end is None else end + 1, cut=reached_limit or closed_by_budget
    )
