"""The steps of one chunk of a stage's profiles: prompts, answers (retried while rejected), embeddings, the
chunk's table; and the worker that computes a chunk (`ProfileWorker`, given to an executor by
curator.profile.profiling: in this process, or in Ray actors that each load the LLM and the embedder once).

Every id of a chunk is answered greedily first; the ids whose answer is rejected (curator.profile.answers.judge)
are asked again together, sampled with the chunk's own seed for that attempt, at most `attempts` times in all.
Statuses: ok (the first answer, valid as written), repaired (the first answer, valid once repaired: a field cut
by its token budget, or JSON that needed curator.llm.structured's repair), retried (valid on a later attempt),
failed (never valid: stored with the last rejection's reason and no summary, reasoning or embedding).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from curator.llm.config import EngineConfig, EngineInfo
from curator.llm.constrained import JsonStrings
from curator.llm.embeddings import TextEmbedder
from curator.llm.engine import Engine
from curator.llm.generation import Generation
from curator.llm.templates import PromptTemplate, load_template
from curator.profile.answers import (
    Judged,
    ProfileAnswer,
    answer_decoding,
    answer_shape,
    judge,
    profile_schema,
    word_runs,
)
from curator.profile.config import ID_COLUMN, TEMPLATE, ProfileOptions
from curator.seeds import derive_seed


@dataclass(frozen=True)
class StagePrompts:
    """What a stage's prompts and answers follow: its template, the answer's shape, the template's own words."""

    stage: str
    template: PromptTemplate
    shape: JsonStrings
    template_runs: set[tuple[str, ...]]

    @classmethod
    def load(cls, stage: str) -> StagePrompts:
        template = load_template(TEMPLATE[stage])
        return cls(stage, template, answer_shape(template), word_runs(template.own_text))

    def prompt(self, engine: Engine, data: dict[str, Any]) -> str:
        """The prompt of one profile: the template rendered with `data`, in the model's chat format."""
        return engine.chat_prompt(*self.template.render(**data), response_prefix=self.template.answer)


@dataclass(frozen=True)
class Accepted:
    status: str  # ok | repaired | retried
    attempts: int
    answer: ProfileAnswer


@dataclass
class ChunkAnswers:
    """The attempts at one chunk so far."""

    accepted: dict[str, Accepted] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # the last rejection of each id
    tokens: Counter = field(default_factory=Counter)  # generated for each id, over all attempts

    def record(self, identifier: str, attempt: int, generation: Generation, judged: Judged) -> None:
        self.tokens[identifier] += generation.new_tokens
        if judged.answer is None:
            self.errors[identifier] = judged.error
        else:
            status = "retried" if attempt > 1 else "repaired" if judged.repaired else "ok"
            self.accepted[identifier] = Accepted(status, attempt, judged.answer)


def answer_chunk(
    engine: Engine, prompts: StagePrompts, texts: dict[str, str], options: ProfileOptions, number: int
) -> ChunkAnswers:
    """Ask for an answer to each prompt of `texts`, and again for the rejected ones, at most `attempts` times."""
    answers = ChunkAnswers()
    pending = list(texts)
    with engine.adapter(_adapter(engine.info)):
        for attempt in range(1, options.attempts + 1):
            settings = answer_decoding(prompts.shape, options.max_new_tokens, attempt)
            generations = engine.generate(
                [texts[i] for i in pending],
                settings,
                batch_size=options.batch_size,
                seed=derive_seed(options.seed, "profile", prompts.stage, number, attempt),
            )
            for identifier, generation in zip(pending, generations):
                answers.record(
                    identifier, attempt, generation, judge(generation, prompts.template, prompts.template_runs)
                )
            pending = [identifier for identifier in pending if identifier not in answers.accepted]
            if not pending:
                break
    return answers


def embed_summaries(embedder: TextEmbedder, ids: list[str], answers: ChunkAnswers) -> dict[str, np.ndarray]:
    """id -> the embedding of its summary, for the accepted answers."""
    valid = [identifier for identifier in ids if identifier in answers.accepted]
    return dict(zip(valid, embedder.embed([answers.accepted[i].answer.summary for i in valid])))


def chunk_table(
    prompts: StagePrompts,
    ids: list[str],
    answers: ChunkAnswers,
    vectors: dict[str, np.ndarray],
    info: EngineInfo,
    options: ProfileOptions,
    embedding_model: str,
) -> pa.Table:
    """One row per id of the chunk, in `ids` order, with the provenance of every profile."""
    rows = []
    for identifier in ids:
        accepted = answers.accepted.get(identifier)
        answer = accepted.answer if accepted else None
        rows.append(
            {
                ID_COLUMN[prompts.stage]: identifier,
                "status": accepted.status if accepted else "failed",
                "attempts": accepted.attempts if accepted else options.attempts,
                "summary": answer.summary if answer else None,
                "reasoning": answer.reasoning if answer else None,
                "error": None if answer else answers.errors[identifier],
                "tokens": answers.tokens[identifier],
                "embedding": vectors[identifier].tolist() if answer else None,
                "model": info.model,
                "quant": info.quant,
                "adapter": _adapter(info),
                "prompt_version": prompts.template.version,
                "seed": options.seed,
                "embedding_model": embedding_model,
            }
        )
    return pa.Table.from_pylist(rows, schema=profile_schema(prompts.stage))


def _adapter(info: EngineInfo) -> str | None:
    """The adapter profiles are written with: the engine's first, if it has one."""
    return next(iter(info.adapters), None)


@dataclass(frozen=True)
class ProfileChunks:
    """What every worker of a stage's profiles shares: the plan of chunks (ids), each id's template data, the
    options, and how a worker loads the engine and the embedder. `engine` and `embedder` (the driver's, when
    the workers run in its process) never travel: a worker elsewhere loads its own, once."""

    prompts: StagePrompts
    plan: list[list[str]]
    tasks: dict[str, dict[str, Any]]
    options: ProfileOptions
    engine_config: EngineConfig
    load_engine: Callable[[EngineConfig], Engine]  # picklable (a module's function or class) for Ray
    load_embedder: Callable[[str | None], TextEmbedder]
    engine: Engine | None = None
    embedder: TextEmbedder | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "engine": None, "embedder": None}


class ProfileWorker:
    """A worker that computes chunk k of ProfileChunks: the profiles table of its ids, in plan order. What
    it writes depends on the chunk's ids, data and number only (the seed of a retry is the chunk's), so every
    executor and worker count gives the same table."""

    def __init__(self, shared: ProfileChunks):
        self.shared = shared
        self.engine = shared.engine or shared.load_engine(shared.engine_config)
        self.embedder = shared.embedder or shared.load_embedder(shared.options.embedding_model)

    def __call__(self, k: int) -> pa.Table:
        shared, ids = self.shared, self.shared.plan[k]
        texts = {identifier: shared.prompts.prompt(self.engine, shared.tasks[identifier]) for identifier in ids}
        answers = answer_chunk(self.engine, shared.prompts, texts, shared.options, k)
        vectors = embed_summaries(self.embedder, ids, answers)
        return chunk_table(shared.prompts, ids, answers, vectors, self.engine.info, shared.options, self.embedder.name)
