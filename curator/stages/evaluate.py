"""`curator evaluate DENOISED --labels NOISY --report DIR`: the report folder (report.json, reliability.png)
of how well a `curator denoise` output found the known noise of its input, next to the baselines (the
work: curator.denoise.report)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curator.data.dataset import Dataset
from curator.denoise.cleaning import SCORES_FILE
from curator.denoise.report import EvaluateConfig, write_report
from curator.inject.config import NOISE_LABELS
from curator.run.stage import Stage, StageRun


@dataclass
class EvaluateStage(Stage):
    name = "evaluate"

    denoised: Dataset  # a `curator denoise` output (holds scores.parquet)
    labels: Dataset  # the dataset that was denoised, with labels/noise.parquet
    config: EvaluateConfig
    out: Path

    def inputs(self) -> dict[str, Dataset | Path]:
        # The score table and the ground truth are not in a dataset's content hash (its tables): two denoise
        # runs that edit nothing have equal tables and other scores.
        return {
            "denoised": self.denoised,
            "scores": self.denoised.path / SCORES_FILE,
            "labels": self.labels,
            "noise_labels": self.labels.path / NOISE_LABELS,
        }

    def produce(self, run: StageRun) -> dict[str, Any]:
        return write_report(run.folder, self.denoised, self.labels, self.config)
