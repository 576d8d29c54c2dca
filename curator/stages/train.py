"""`curator train DATA`: SASRec+ / GRU4Rec on the leave-one-out split, one model per seed, mean ± std.

The output is a run folder:
    RUN/seed-S/checkpoint.pt   the seed's last state (with its best weights: recsys.train.load_best)
    RUN/seed-S/metrics.json    the seed's result and its epoch history
    RUN/metrics.json           all seeds, mean ± std, options, data hash, timing
    RUN/tensorboard/seed-S/    the seed's curves as TensorBoard event files (or under --log-dir; curator.run.tracking)
While the run is going, the seed folders live in the work folder (RUN.partial/): a killed run continues
from the last epoch of the seed it was training with `--resume`. The device is not part of a run's
identity: a run killed on a GPU can be continued on a CPU. Under torchrun this stage runs on rank 0, which
tells the other ranks (`group`) to train in step with it once it starts training (curator.training).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curator.data.dataset import Dataset
from curator.llm.embeddings import DEFAULT_EMBEDDING_MODEL
from curator.profile.alignment import alignment_record, check_alignment_input
from curator.run.distributed import ProcessGroup
from curator.run.stage import Stage, StageRun
from curator.run.tracking import TrackingConfig, track
from curator.training import (
    METRICS_FILE,
    TrainOptions,
    run_summary,
    seed_curves,
    seed_folder,
    train_seeds,
    write_json,
)


@dataclass
class TrainStage(Stage):
    name = "train"
    resumable = True

    data: Dataset
    config: TrainOptions
    out: Path
    tracking: TrackingConfig = field(default_factory=TrackingConfig)  # where the curves go: not part of the run
    group: ProcessGroup = field(default_factory=ProcessGroup)  # under torchrun: the other ranks

    def validate(self) -> None:
        self.config.validate()
        self.tracking.validate()
        check_alignment_input(self.data, self.config.align)

    def inputs(self) -> dict[str, Dataset]:
        return {"data": self.data}

    def options(self) -> dict[str, Any]:
        options = asdict(self.config)
        del options["device"]  # where it trains does not change what a run is
        if self.config.align == "none":  # the identity of runs from before alignment existed
            for name in TrainOptions.ALIGN_FIELDS:
                del options[name]
        return options

    def versions(self) -> dict[str, Any]:
        # The profiles are not part of the dataset's content hash: new profiles are a new run.
        record = alignment_record(self.data, self.config.align, self.config.align_users, DEFAULT_EMBEDDING_MODEL)
        return {"aligned_to": record} if record else {}

    def produce(self, run: StageRun) -> dict[str, Any]:
        self.group.tell(trains=True)
        results, split = train_seeds(self.data, self.config, run.work.path, run.progress)
        for seed in self.config.seeds:
            os.rename(seed_folder(run.work.path, seed), seed_folder(run.folder, seed))
        summary = run_summary(self.data, self.config, results, split, run.command)
        write_json(run.folder / METRICS_FILE, summary)
        curves = {f"seed-{seed}": seed_curves(seed_folder(run.folder, seed)) for seed in self.config.seeds}
        track(self.tracking, self.out, run.folder, f"train {self.data.name}", self.options(), curves)
        return summary
