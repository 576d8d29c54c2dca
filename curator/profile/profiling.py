"""A profile run: item profiles, then user profiles, written by the LLM (RLMRec style) and embedded.

Work is planned once per stage: prompts sorted by token length, cut into batches, batches grouped into
chunks. The plan and each finished chunk go to the work folder (OUT.partial/), so a killed run resumes
with the same batches and seeds and gives the same result as an uninterrupted one; `--shard K/N` takes
every N-th chunk of the same plan (curator.run.sharding), and curator.profile.output merges the shards.
The chunks are computed by an executor (curator.run.executor): in this process, or with `--engine ray` in
Ray actors that each load the model and the embedder once; a chunk's table depends on its number and ids
only, so both write the same bytes. The driver loads the model to plan (the prompts' token lengths) and, in
this process, to generate; a run whose chunks are all done loads neither model nor embedder.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from curator.data.dataset import Dataset
from curator.llm.config import EngineConfig
from curator.llm.embeddings import TextEmbedder
from curator.llm.engine import Engine
from curator.llm.generation import length_batches
from curator.profile.answers import profile_schema
from curator.profile.chunks import ProfileChunks, ProfileWorker, StagePrompts
from curator.profile.config import CHUNK_BATCHES, STAGES, ProfileOptions
from curator.profile.output import in_dataset_order
from curator.profile.selection import select_items, select_users, training_histories
from curator.profile.tasks import input_item_profiles, item_tasks, user_tasks
from curator.run.executor import ChunkJob, Executor, LocalExecutor
from curator.run.progress import Progress
from curator.run.sharding import Shard
from curator.run.workfolder import WorkFolder

ENGINE_FILE = "engine.json"  # in the work folder: what the engine loaded (a resumed run may load none)


class ProfileRun:
    """One run: the selection, then each stage's plan and chunks."""

    def __init__(
        self,
        dataset: Dataset,
        options: ProfileOptions,
        engine_config: EngineConfig,
        work: WorkFolder,
        progress: Progress,
        load_engine: Callable[[EngineConfig], Engine],
        load_embedder: Callable[[str | None], TextEmbedder],
        executor: Executor | None = None,
    ):
        self.dataset, self.options, self.engine_config = dataset, options, engine_config
        self.work, self.progress, self.executor = work, progress, executor or LocalExecutor()
        self.shard = Shard.parse(options.shard)
        self.prompts = {stage: StagePrompts.load(stage) for stage in STAGES}
        self._load_engine, self._load_embedder = load_engine, load_embedder
        self._engine: Engine | None = None
        self._embedder: TextEmbedder | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._load_engine(self.engine_config)
            self.work.write_json(ENGINE_FILE, self._engine.info.to_dict())
        return self._engine

    @property
    def embedder(self) -> TextEmbedder:
        if self._embedder is None:
            self._embedder = self._load_embedder(self.options.embedding_model)
        return self._embedder

    def engine_info(self) -> dict | None:
        """What the engine loaded, in this process or the killed one this run resumes; None if it never ran."""
        return self.work.read_json(ENGINE_FILE)

    def profiles(self) -> dict[str, pa.Table]:
        """stage -> this shard's profiles of the stage, in dataset order."""
        options = self.options
        users = select_users(self.dataset, options.users, options.items, options.limit)
        histories = training_histories(self.dataset, users, options.recent)
        items = select_items(self.dataset, options.users, options.items, options.limit, histories)
        tables = {}
        if "items" in options.stages:
            tables["items"] = self.profile_stage("items", item_tasks(self.dataset, items))
        if "users" in options.stages:
            item_profiles = tables["items"] if "items" in tables else input_item_profiles(self.dataset)
            tables["users"] = self.profile_stage("users", user_tasks(self.dataset, histories, item_profiles))
        return tables

    def profile_stage(self, stage: str, tasks: dict[str, dict]) -> pa.Table:
        """Profiles of this shard's chunks of `tasks` (id -> template data), in dataset order."""
        plan = self.plan(stage, tasks)
        mine = [number for number in range(len(plan)) if self.shard.owns(number)]
        todo = [number for number in mine if not self.work.has_chunk(stage, number)]
        task, total = f"{stage} profiles", sum(len(plan[n]) for n in mine)
        self.progress.start(task, total=total, done=total - sum(len(plan[n]) for n in todo))
        if todo:
            job = ChunkJob(self.chunk_inputs(stage, plan, tasks), ProfileWorker)
            for number, chunk in self.executor.run(job, todo):
                self.work.write_chunk(stage, number, chunk)
                self.progress.advance(task, len(chunk), counted={"tokens": pc.sum(chunk["tokens"]).as_py() or 0})
        chunks = [self.work.read_chunk(stage, number) for number in mine]
        table = pa.concat_tables(chunks) if chunks else profile_schema(stage).empty_table()
        return in_dataset_order(table, stage, self.dataset)

    def plan(self, stage: str, tasks: dict[str, dict]) -> list[list[str]]:
        """The stage's chunks of ids, the same in every shard and every resumed run: made once, kept in the
        work folder. Prompts sorted by token length, batched, CHUNK_BATCHES batches per chunk."""
        plan = self.work.read_json(f"plan-{stage}.json")
        if plan is None:
            plan = self._new_plan(stage, tasks)
            self.work.write_json(f"plan-{stage}.json", plan)
        return plan

    def _new_plan(self, stage: str, tasks: dict[str, dict]) -> list[list[str]]:
        if not tasks:
            return []
        ids = list(tasks)
        lengths = self.engine.token_lengths([self.prompts[stage].prompt(self.engine, tasks[i]) for i in ids])
        batches = length_batches(lengths, self.options.batch_size)
        return [
            [ids[index] for batch in batches[start : start + CHUNK_BATCHES] for index in batch]
            for start in range(0, len(batches), CHUNK_BATCHES)
        ]

    def chunk_inputs(self, stage: str, plan: list[list[str]], tasks: dict[str, dict]) -> ProfileChunks:
        """What the workers of `stage` share; the driver's model and embedder when they run in this process."""
        here = self.executor.in_process
        return ProfileChunks(
            self.prompts[stage],
            plan,
            tasks,
            self.options,
            self.engine_config,
            self._load_engine,
            self._load_embedder,
            engine=self.engine if here else None,
            embedder=self.embedder if here else None,
        )
