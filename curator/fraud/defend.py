"""`curator defend DATA --user-threshold 0.5 --fraud-action drop|reweight --out DIR`: the user-level defense.

Detects fake users (detector.py), drops or down-weights those with p(fake) >= the threshold through the
ledger, and writes the curated dataset with `ledger.parquet` and `user_scores.parquet` (one row per input
user: p_fake, the action taken, the new weight, the calibrator's inputs and every feature). Users below
the threshold are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curator.data.atomic import check_not_overlapping, check_output_free
from curator.data.dataset import Dataset
from curator.data.ledger import build_ledger, ledger_counts, write_curated
from curator.fraud.actions import defense_edits
from curator.fraud.config import DefenseConfig, DetectorConfig
from curator.fraud.detector import Detection, detect
from curator.fraud.features import UserSignal
from curator.stages.progress import StageProgress

USER_SCORES_FILE = "user_scores.parquet"
STAGE = "defend"


@dataclass(frozen=True)
class DefenseResult:
    dataset: Dataset
    detection: Detection
    counts: dict[str, int]


def defend(dataset: Dataset, detector: DetectorConfig, defense: DefenseConfig, vectors: np.ndarray | None,
           out_dir: str | Path, *, command: Sequence[str], signals: Sequence[UserSignal] = (),
           embedding_model: str | None = None, overwrite: bool = False,
           progress: StageProgress | None = None) -> DefenseResult:
    detector.validate()
    defense.validate()
    out_dir = Path(out_dir)
    check_output_free(out_dir, overwrite)  # before the detection, which takes a while
    check_not_overlapping([dataset.path], out_dir)
    detection = detect(dataset, detector, vectors, signals, progress)
    return write_defended(dataset, detection, detector, defense, out_dir, command=command,
                          embedding_model=embedding_model, overwrite=overwrite)


def write_defended(dataset: Dataset, detection: Detection, detector: DetectorConfig, defense: DefenseConfig,
                   out_dir: str | Path, *, command: Sequence[str], embedding_model: str | None = None,
                   overwrite: bool = False) -> DefenseResult:
    """Act on `detection` (of `dataset`, by a detector configured as `detector`) and write the result."""
    defense.validate()
    weights = dataset.users["weight"].to_numpy().astype(np.float64)
    edits = defense_edits(detection.user_ids, detection.probability, weights, defense)
    ledger = build_ledger(dataset.tables, edits, stage=STAGE, model=embedding_model if detector.use_text else None)
    config: dict[str, Any] = {"detector": asdict(detector), "defense": asdict(defense),
                              "embedding_model": embedding_model, "estimated_prior": detection.prior}
    written = write_curated(Path(out_dir), dataset, ledger, STAGE, config, command,
                            extra_files={USER_SCORES_FILE: _score_table(detection, edits)}, overwrite=overwrite)
    return DefenseResult(written, detection, ledger_counts(ledger))


def _score_table(detection: Detection, edits) -> pa.Table:
    decided = {edit.user_id: edit for edit in edits}
    actions = [decided[user].action if user in decided else "keep" for user in detection.user_ids]
    new_weight = [decided[user].new_weight if user in decided else None for user in detection.user_ids]
    table = detection.table()
    table = table.add_column(2, "action", pa.array(actions, pa.string()))
    return table.add_column(3, "new_weight", pa.array(new_weight, pa.float64()))
