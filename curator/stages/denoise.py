"""`curator denoise DATA --threshold 0.9`: score every training interaction with a denoise adapter, edit
the confident ones, and write the cleaned dataset with its ledger and score table (the work:
curator.denoise.cleaning).

Resumable, and shardable: neither `execution` (the engine that computes the chunks: every engine gives the
same output, so a run killed on one resumes on another) nor `shard` is part of the identity, since every
shard works on the same plan of chunks in the one work folder (a shard joins it as a resumed run).
A shard that leaves chunks unscored returns Pending; the one that scores the last chunk writes the output.
The adapter's files are part of the identity (a retrained adapter of the same name is new work).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curator.data.dataset import Dataset
from curator.data.hashing import path_digest
from curator.denoise.config import DenoiseConfig
from curator.llm.adapters import adapter_folder
from curator.llm.config import EngineConfig
from curator.run.executor import ExecutorConfig, open_executor
from curator.run.sharding import Shard
from curator.run.stage import Pending, Stage, StageRun


@dataclass
class DenoiseStage(Stage):
    name = "denoise"
    resumable = True

    data: Dataset
    config: DenoiseConfig
    out: Path
    engine: EngineConfig = field(default_factory=EngineConfig)
    shard: Shard = Shard(1, 1)  # this process's part of the chunks
    execution: ExecutorConfig = field(default_factory=ExecutorConfig)

    def validate(self) -> None:
        self.config.validate()
        self.execution.validate()

    def inputs(self) -> dict[str, Dataset]:
        return {"data": self.data}

    def options(self) -> dict[str, Any]:
        return {**asdict(self.config), "engine": self.engine.to_dict()}

    def versions(self) -> dict[str, Any]:
        return {"adapter": path_digest(adapter_folder(self.config.adapter))}

    def produce(self, run: StageRun) -> dict[str, Any] | Pending:
        from curator.denoise.cleaning import Cleaning  # here: a rerun that finds the output recorded needs no model

        with open_executor(self.execution, preload=(Cleaning.__module__,)) as executor:
            cleaning = Cleaning(self.data, self.config, self.engine, run.work, run.progress, executor)
            done = cleaning.score(self.shard)
            if done < len(cleaning.chunks):
                return Pending({"chunks_done": done, "chunks": len(cleaning.chunks)})
            return cleaning.write(run.folder, name=self.out.name, command=run.command)
