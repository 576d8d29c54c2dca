"""`curator data revert CURATED` and `curator data apply DATA --ledger CURATED`: a curated dataset's ledger undone
(its input back) or applied again (its tables back), each proven by the hashes its manifest records (the work:
curator.data.ledger_replay)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curator.data.dataset import Dataset
from curator.data.ledger_format import LEDGER_FILE
from curator.data.ledger_replay import parent_hash, write_applied, write_reverted
from curator.run.stage import Stage, StageRun


@dataclass
class RevertStage(Stage):
    name = "revert"

    curated: Dataset  # a curated dataset folder: its manifest names its parent, it holds ledger.parquet
    out: Path

    def validate(self) -> None:
        parent_hash(self.curated)  # a folder that is not a curated dataset is refused before anything runs

    def inputs(self) -> dict[str, Dataset | Path]:
        return {"curated": self.curated, "ledger": self.curated.path / LEDGER_FILE}

    def options(self) -> dict[str, Any]:
        return {}

    def produce(self, run: StageRun) -> dict[str, Any]:
        dataset = write_reverted(run.folder, self.curated, name=self.out.name, command=run.command)
        return {**dataset.summary(), "content_hash": dataset.content_hash}


@dataclass
class ApplyStage(Stage):
    name = "apply"

    data: Dataset  # the input the curated dataset was made from
    curated: Dataset  # whose ledger is applied
    out: Path

    def validate(self) -> None:
        parent_hash(self.curated)

    def inputs(self) -> dict[str, Dataset | Path]:
        return {"data": self.data, "curated": self.curated, "ledger": self.curated.path / LEDGER_FILE}

    def options(self) -> dict[str, Any]:
        return {}

    def produce(self, run: StageRun) -> dict[str, Any]:
        dataset = write_applied(run.folder, self.data, self.curated, name=self.out.name, command=run.command)
        return {**dataset.summary(), "content_hash": dataset.content_hash}
