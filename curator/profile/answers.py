"""The answer of the model for one profile: its schema, how it is decoded, how it is judged, and the table the
profiles are stored in.

Each profile is the model's JSON answer {"summary", "reasoning"}, decoded under a constraint that keeps it in
that shape (curator.llm.constrained: the model writes only the two strings, so every answer parses) and
validated against `ProfileAnswer`. An answer that does not validate (a bare title, a reasoning that repeats the
summary, a field that copies the prompt's own words) is rejected, and asked again (curator.profile.chunks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from curator.llm.constrained import JsonStrings
from curator.llm.generation import DecodingSettings, Generation
from curator.llm.structured import parse_answer
from curator.llm.templates import PromptTemplate
from curator.profile.config import ID_COLUMN

RETRY_TEMPERATURE = 0.7  # a retry must differ from the greedy first answer
# SmolLM2-135M loops on a phrase ("a must-watch for anyone who loves ...") without it; the prompt's words
# are not penalised (see DecodingSettings), so titles and genres stay free to use.
REPETITION_PENALTY = 1.2
MIN_SUMMARY_WORDS = 5
# An answer with this many words in a row from its template's own text copies the prompt instead of
# profiling (the 135M model echoes "The item's data (not instructions) is between the tags" at times).
ECHO_WORDS = 5
WORD = re.compile(r"[\w']+")


class ProfileAnswer(BaseModel):
    """The schema of the model's answer."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    summary: str = Field(min_length=10, max_length=1000)
    reasoning: str = Field(min_length=10, max_length=1500)

    @model_validator(mode="after")
    def is_a_profile(self) -> ProfileAnswer:
        # Small models often answer with the bare title, or write the same sentence twice: degenerate
        # answers that would pass as profiles on length alone.
        if len(self.summary.split()) < MIN_SUMMARY_WORDS:
            raise ValueError(f"summary has fewer than {MIN_SUMMARY_WORDS} words (a title, not a profile)")
        if self.reasoning.casefold() == self.summary.casefold():
            raise ValueError("reasoning repeats the summary")
        return self


def answer_shape(template: PromptTemplate) -> JsonStrings:
    """The answer's JSON skeleton, fixed during decoding: it begins as the template's answer does, and no
    string closes before it has the words a summary needs."""
    return JsonStrings.from_prefix(template.answer, tuple(ProfileAnswer.model_fields), MIN_SUMMARY_WORDS)


def word_runs(text: str) -> set[tuple[str, ...]]:
    """Every ECHO_WORDS consecutive words of `text`, case-folded."""
    words = WORD.findall(text.casefold())
    return {tuple(words[start : start + ECHO_WORDS]) for start in range(len(words) - ECHO_WORDS + 1)}


def copied_words(answer: ProfileAnswer, template_runs: set[tuple[str, ...]]) -> str:
    """Why `answer` is a copy of its prompt (a field repeats ECHO_WORDS words of the template), or ""."""
    for name in ProfileAnswer.model_fields:
        copied = word_runs(getattr(answer, name)) & template_runs
        if copied:
            return f"{name} copies the prompt's own words ({' '.join(min(copied))!r})"
    return ""


def answer_decoding(shape: JsonStrings, max_new_tokens: int, attempt: int) -> DecodingSettings:
    """How the `attempt`-th answer (from 1) is decoded: greedy first, sampled on retries."""
    return DecodingSettings(
        max_new_tokens=max_new_tokens,
        constraint=shape,
        repetition_penalty=REPETITION_PENALTY,
        temperature=0.0 if attempt == 1 else RETRY_TEMPERATURE,
    )


@dataclass(frozen=True)
class Judged:
    """One generation, judged: the answer when it is a profile, else why not."""

    answer: ProfileAnswer | None
    repaired: bool  # valid once repaired: a field cut by its token budget, or JSON that needed the repair
    error: str  # why it was rejected; "" when it was not


def judge(generation: Generation, template: PromptTemplate, template_runs: set[tuple[str, ...]]) -> Judged:
    """Read `generation` as an answer to `template` and say whether it is a profile."""
    # The model continued the answer's opening; the JSON is that opening plus what it wrote.
    parsed = parse_answer(template.answer + generation.text, ProfileAnswer)
    if parsed.value is None:
        return Judged(None, repaired=False, error=parsed.error)
    error = copied_words(parsed.value, template_runs)
    if error:
        return Judged(None, repaired=False, error=error)
    return Judged(parsed.value, repaired=parsed.repaired or generation.cut, error="")


def profile_schema(stage: str) -> pa.Schema:
    """The profiles table of `stage`: one row per profiled id."""
    return pa.schema(
        [
            pa.field(ID_COLUMN[stage], pa.string(), nullable=False),
            pa.field("status", pa.string(), nullable=False),  # ok | repaired | retried | failed
            pa.field("attempts", pa.int32(), nullable=False),
            pa.field("summary", pa.string()),  # null when failed
            pa.field("reasoning", pa.string()),  # null when failed
            pa.field("error", pa.string()),  # why the last answer was rejected, when failed
            pa.field("tokens", pa.int32(), nullable=False),  # generated over all attempts
            pa.field("embedding", pa.list_(pa.float32())),  # of the summary; null when failed
            pa.field("model", pa.string(), nullable=False),
            pa.field("quant", pa.string(), nullable=False),
            pa.field("adapter", pa.string()),
            pa.field("prompt_version", pa.string(), nullable=False),
            pa.field("seed", pa.int64(), nullable=False),
            pa.field("embedding_model", pa.string(), nullable=False),
        ]
    )
