"""`curator inject`: simulated interaction noise and poisoning attacks, with the ground truth kept apart.

The output is a new dataset folder whose tables look like real data; what was injected is only in
`labels/` (noise.parquet, fake_users.parquet, targets.parquet), which no stage reads. The manifest holds
the command and config, never the labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from curator.data.dataset import Dataset, write_dataset
from curator.inject.config import InjectConfig
from curator.inject.injection import inject
from curator.run.stage import Stage, StageRun


@dataclass
class InjectStage(Stage):
    name = "inject"

    data: Dataset
    config: InjectConfig
    out: Path

    def inputs(self) -> dict[str, Dataset]:
        return {"data": self.data}

    def produce(self, run: StageRun) -> dict[str, Any]:
        injected = inject(self.data, self.config)
        write_dataset(
            run.folder,
            injected.interactions,
            self.data.items,
            injected.users,
            name=self.out.name,
            source=self.data.manifest.get("source"),
            command=run.command,
            config={"stage": self.name, **asdict(self.config)},
            parent=self.data,
            notes=injected.notes,
            extra_files=injected.labels,
        )
        return injected.summary
