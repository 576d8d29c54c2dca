"""The user-level defense: act on a detection and write the curated dataset.

Users with p(fake) >= the threshold are dropped or down-weighted through the ledger (actions.py); the
curated dataset is written with `ledger.parquet` and `user_scores.parquet` (one row per input user:
p_fake, the action taken, the new weight, the calibrator's inputs and every feature). Users below the
threshold are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curator.data.dataset import Dataset
from curator.data.ledger import build_ledger, ledger_counts, write_curated
from curator.fraud.actions import defense_edits
from curator.fraud.config import DefenseConfig, DetectorConfig
from curator.fraud.detector import Detection

USER_SCORES_FILE = "user_scores.parquet"
STAGE = "defend"


def write_defended(
    folder: Path,
    dataset: Dataset,
    detection: Detection,
    detector: DetectorConfig,
    defense: DefenseConfig,
    *,
    name: str,
    command: Sequence[str],
    embedding_model: str | None = None,
) -> dict[str, int]:
    """Act on `detection` (of `dataset`, by a detector configured as `detector`), write the curated dataset
    `name` into `folder`; the ledger's counts by action."""
    weights = dataset.users["weight"].to_numpy().astype(np.float64)
    edits = defense_edits(detection.user_ids, detection.probability, weights, defense)
    ledger = build_ledger(dataset.tables, edits, stage=STAGE, model=embedding_model if detector.use_text else None)
    config: dict[str, Any] = {
        "detector": asdict(detector),
        "defense": asdict(defense),
        "embedding_model": embedding_model,
        "estimated_prior": detection.prior,
    }
    write_curated(
        folder,
        dataset,
        ledger,
        STAGE,
        config,
        command,
        name=name,
        extra_files={USER_SCORES_FILE: _score_table(detection, edits)},
    )
    return ledger_counts(ledger)


def _score_table(detection: Detection, edits) -> pa.Table:
    decided = {edit.user_id: edit for edit in edits}
    actions = [decided[user].action if user in decided else "keep" for user in detection.user_ids]
    new_weight = [decided[user].new_weight if user in decided else None for user in detection.user_ids]
    table = detection.table()
    table = table.add_column(2, "action", pa.array(actions, pa.string()))
    return table.add_column(3, "new_weight", pa.array(new_weight, pa.float64()))
