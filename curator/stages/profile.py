"""`curator profile`: item profiles, then user profiles, written by the LLM (RLMRec style) and embedded
(curator.profile). Resumable: the plan and the finished chunks are kept in the work folder. `execution` (the
engine that computes the chunks: in this process or on Ray) is not part of the identity: every engine writes
the same bytes, so a run killed on one resumes on the other.

Output: a new dataset folder, the input's tables and extras plus `profiles/items.parquet` and/or
`profiles/users.parquet`; its manifest's `config` holds the run record (`profile`: input, options, engine,
prompt versions), what the engine loaded (`engine`) and the profiles by status (`counts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curator.data.dataset import Dataset
from curator.llm import engine as llm_engine
from curator.llm.config import EngineConfig
from curator.llm.embeddings import TextEmbedder
from curator.profile.config import ProfileOptions, prompt_versions, run_record
from curator.profile.output import run_notes, status_counts, write_profiled
from curator.profile.profiling import ProfileRun
from curator.run.executor import ExecutorConfig, open_executor
from curator.run.stage import Stage, StageRun


@dataclass
class ProfileStage(Stage):
    name = "profile"
    resumable = True

    data: Dataset
    config: ProfileOptions
    engine: EngineConfig
    out: Path
    # Called only when there is work; tests pass small stand-ins.
    load_engine: Callable[[EngineConfig], llm_engine.Engine] = field(default=llm_engine.load_engine, repr=False)
    load_embedder: Callable[[str | None], TextEmbedder] = field(default=TextEmbedder, repr=False)
    execution: ExecutorConfig = field(default_factory=ExecutorConfig)

    def validate(self) -> None:
        self.config.validate()
        self.engine.validate()
        self.execution.validate()

    def inputs(self) -> dict[str, Dataset]:
        return {"data": self.data}

    def options(self) -> dict[str, Any]:
        return {"profile": asdict(self.config), "engine": self.engine.to_dict()}

    def versions(self) -> dict[str, Any]:
        return {"prompts": prompt_versions()}

    def produce(self, run: StageRun) -> dict[str, Any]:
        with open_executor(self.execution, preload=(ProfileRun.__module__,)) as executor:
            profiling = ProfileRun(
                self.data,
                self.config,
                self.engine,
                run.work,
                run.progress,
                self.load_engine,
                self.load_embedder,
                executor,
            )
            profiles = profiling.profiles()
        counts, engine_info = status_counts(profiles), profiling.engine_info()
        notes = run_notes(self.config, engine_info)
        config = {"profile": run_record(self.data, self.config, self.engine), "engine": engine_info, "counts": counts}
        write_profiled(run.folder, self.data, profiles, command=run.command, notes=notes, config=config)
        return {"counts": counts, "engine": engine_info, "notes": notes}
