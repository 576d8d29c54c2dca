"""Each evaluated user's test rank under each seed's best model of a `curator train` run, as a table: what the
report compares per user group (users the curation edited vs the rest), which the run's mean metrics cannot.

A pipeline step with the Stage contract (fingerprint, no-op rerun, atomic output), not a command of its own:
its inputs are the dataset and the train run's folder (the checkpoints' bytes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curator.data.dataset import Dataset
from curator.data.sequences import user_sequences
from curator.run.stage import Stage, StageRun
from curator.training import TrainOptions, seed_folder

RANKS_FILE = "user_ranks.parquet"


@dataclass
class UserRanksStage(Stage):
    name = "ranks"

    data: Dataset
    train_run: Path  # a finished `curator train` output on `data`
    config: TrainOptions
    out: Path

    def inputs(self) -> dict[str, Dataset | Path]:
        return {"data": self.data, "train_run": self.train_run}

    def options(self) -> dict[str, Any]:
        options = asdict(self.config)
        del options["device"]
        return options

    def produce(self, run: StageRun) -> dict[str, Any]:
        from recsys.data import LeaveOneOut
        from recsys.train import load_best, stage_ranks

        data = user_sequences(self.data)
        split = LeaveOneOut(data.sequences, data.num_items, data.weights)
        user_ids = [data.user_ids[u] for u in split.evaluated]
        columns: dict[str, list] = {"user_id": [], "seed": [], "rank": []}
        run.progress.start("test ranks", len(self.config.seeds))
        for seed in self.config.seeds:
            config = self.config.train_config(seed)
            model = self.config.build_model(data.num_items, seed).to(config.device)
            model = load_best(model, seed_folder(self.train_run, seed))
            ranks = stage_ranks(model, split, "test", config)
            columns["user_id"] += user_ids
            columns["seed"] += [seed] * len(ranks)
            columns["rank"] += ranks.astype(np.int64).tolist()
            run.progress.advance("test ranks")
        pq.write_table(pa.table(columns), run.folder / RANKS_FILE)
        return {"users": len(user_ids), "seeds": list(self.config.seeds)}
