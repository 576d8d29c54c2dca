"""`curator adapt DATA --task denoise`: train a denoiser on self-made corruptions of the data's own training
sequences (no labels are read) and write it as an adapter folder (the work: curator.denoise.training).

Resumable: the work folder keeps the ID models, the item texts' pass through the frozen layers and a checkpoint
of the steps. Progress is also written to OUT.partial/adapt.log as plain lines (and kept in the adapter). The
identity holds the engine config as trained with (4-bit/8-bit bases train unquantized on a CPU).
Under torchrun this stage runs on rank 0, which tells the other ranks (`group`) to train in step with it once
it starts training (curator.denoise.training).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curator.data.dataset import Dataset
from curator.denoise.config import AdaptConfig
from curator.denoise.item_states import check_item_text
from curator.denoise.training import adapt_curves, train_adapter, trainable
from curator.llm.config import EngineConfig
from curator.profile.alignment import file_digest
from curator.profile.config import PROFILE_FILE
from curator.run.distributed import ProcessGroup
from curator.run.progress import LogFile
from curator.run.stage import Stage, StageRun
from curator.run.tracking import TrackingConfig, track

LOG_FILE = "adapt.log"


@dataclass
class AdaptStage(Stage):
    name = "adapt"
    resumable = True

    data: Dataset
    config: AdaptConfig
    out: Path
    engine: EngineConfig = field(default_factory=EngineConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)  # where the curves go: not part of the run
    group: ProcessGroup = field(default_factory=ProcessGroup)  # under torchrun: the other ranks

    def validate(self) -> None:
        self.config.validate()
        self.tracking.validate()
        check_item_text(self.data, self.config.denoiser.item_text)

    def inputs(self) -> dict[str, Dataset]:
        return {"data": self.data}

    def options(self) -> dict[str, Any]:
        options = asdict(self.config)
        if self.config.denoiser.item_text == "fields":  # the identity of runs from before --item-text existed
            del options["denoiser"]["item_text"]
        return {**options, "engine": trainable(self.engine).to_dict()}

    def versions(self) -> dict[str, Any]:
        # The profiles are not part of the dataset's content hash: new profiles are a new adapter.
        if self.config.denoiser.item_text != "profiles":
            return {}
        return {"item_profiles": file_digest(self.data.path / PROFILE_FILE["items"])}

    def produce(self, run: StageRun) -> dict[str, Any]:
        # Progress goes to OUT.partial/adapt.log too (plain lines), and the log into the adapter at the end.
        log = run.work.path / LOG_FILE
        figures = train_adapter(
            self.data,
            self.config,
            trainable(self.engine),
            run.work,
            run.folder,
            command=run.command,
            progress=LogFile(run.progress, log),
            group=self.group,
        )
        shutil.copyfile(log, run.folder / LOG_FILE)
        track(
            self.tracking, self.out, run.folder, f"adapt {self.data.name}", self.options(), {"": adapt_curves(figures)}
        )
        return figures
