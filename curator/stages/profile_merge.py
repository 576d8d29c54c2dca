"""`curator profile-merge`: the outputs of `curator profile --shard 1/N` ... `N/N` of one run joined into the
output of the unsharded run (curator.profile.output): the same tables, byte for byte."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from curator.data.dataset import Dataset
from curator.profile.output import shards_parent, unsharded_record, write_merged
from curator.run.stage import Stage, StageRun


@dataclass
class ProfileMergeStage(Stage):
    name = "profile-merge"

    shards: list[Dataset]
    out: Path

    @cached_property
    def record(self) -> dict[str, Any]:
        """The run record of the unsharded run (checked: the shards are all of one run, each once)."""
        return unsharded_record(self.shards)

    @cached_property
    def parent(self) -> Dataset:
        """The dataset the shards were profiled from: the merged output's parent."""
        return shards_parent(self.shards[0])

    def validate(self) -> None:
        _ = self.record  # reading it checks the shards

    def inputs(self) -> dict[str, Dataset]:
        return {"parent": self.parent, **{f"shard-{k}": shard for k, shard in enumerate(self.shards, 1)}}

    def options(self) -> dict[str, Any]:
        return {"profile": self.record}

    def produce(self, run: StageRun) -> dict[str, Any]:
        counts = write_merged(run.folder, self.shards, self.record, self.parent, command=run.command)
        return {"counts": counts, "shards": len(self.shards)}
