"""`curator evaluate`: how well a `curator denoise` run found the known noise of its input, next to the
baselines computed in the same run on the same interactions.

The input must carry ground truth in labels/noise.parquet (from `curator inject --noise`, or the noisy
LLM4DSR import). Reported for the denoiser: detection metrics of its calibrated p (P/R/F1 at the
thresholds, AUROC, ECE, a reliability diagram) and replacement accuracy on the noise it edited (top-1:
the first candidate is the original item; hit@10: the original is among the first ten). Candidates and
originals are compared by item id, or by title where the labels only know the original's title.
For each baseline: the same detection metrics of its raw scores (ranks, not probabilities: AUROC is the
fair comparison). `write_report` writes the report folder: REPORT_FILE and RELIABILITY_FILE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curator.data.dataset import Dataset
from curator.denoise.baselines import BASELINE_NAMES, baseline_scores
from curator.denoise.cleaning import read_scores
from curator.denoise.scores import noise_truth
from curator.errors import InputError, OptionError
from curator.evaluation.detection import detection_report, reliability_diagram, replacement_accuracy
from curator.inject.config import NOISE_LABELS

REPORT_FILE = "report.json"
RELIABILITY_FILE = "reliability.png"


@dataclass(frozen=True)
class EvaluateConfig:
    baselines: tuple[str, ...] = BASELINE_NAMES  # computed in the same run, on the same interactions
    seed: int = 0  # of the random baseline

    def validate(self) -> None:
        for name in self.baselines:
            if name not in BASELINE_NAMES:
                raise OptionError(f"unknown baseline '{name}' (one of {', '.join(BASELINE_NAMES)})")


def noise_labels(dataset: Dataset) -> pa.Table:
    file = dataset.path / NOISE_LABELS
    if not file.is_file():
        raise InputError(
            f"{dataset.path}: no {NOISE_LABELS} (evaluate needs data with known noise: "
            "`curator inject --noise`, or the noisy LLM4DSR import)"
        )
    return pq.read_table(file)


def check_parent(denoised: Dataset, noisy: Dataset) -> None:
    parent = denoised.manifest.get("parent") or {}
    if parent.get("content_hash") != noisy.content_hash:
        raise InputError(f"{denoised.path} was not made from {noisy.path} (its parent's content hash differs)")


def replacement_report(scores: pa.Table, truth: np.ndarray, labels: pa.Table, noisy: Dataset) -> dict[str, Any]:
    """Replacement accuracy over the truly noisy interactions the denoiser edited."""
    edited = np.array([c is not None for c in scores["candidates"].to_pylist()]) & truth
    if not edited.any():
        return {"count": 0}
    if "is_noise" in labels.column_names:
        labels = labels.filter(labels["is_noise"])
    key = list(zip(labels["user_id"].to_pylist(), labels["position"].to_pylist()))
    rows = scores.filter(pa.array(edited))
    by_id = "original_item_id" in labels.column_names
    original = dict(zip(key, labels["original_item_id" if by_id else "original_title"].to_pylist()))
    title_of = dict(zip(noisy.items["item_id"].to_pylist(), noisy.items["title"].to_pylist()))
    candidates = [c if by_id else [title_of[i] for i in c] for c in rows["candidates"].to_pylist()]
    originals = [original[k] for k in zip(rows["user_id"].to_pylist(), rows["position"].to_pylist())]
    return replacement_accuracy(candidates, originals)


def evaluate_denoising(
    denoised: Dataset,
    noisy: Dataset,
    scores: pa.Table,
    report_dir: Path,
    *,
    baselines: tuple[str, ...] = BASELINE_NAMES,
    seed: int = 0,
) -> dict[str, Any]:
    """The report, as report.json holds it; the reliability diagram goes to report_dir/RELIABILITY_FILE."""
    check_parent(denoised, noisy)
    labels = noise_labels(noisy)
    truth = noise_truth(scores, labels)
    probabilities = scores["score"].to_numpy()
    report_dir.mkdir(parents=True, exist_ok=True)
    reliability_diagram(truth, probabilities, report_dir / RELIABILITY_FILE, title="denoiser")
    report: dict[str, Any] = {
        "denoiser": {
            **detection_report(truth, probabilities),
            "replacement": replacement_report(scores, truth, labels, noisy),
        },
        "baselines": {},
    }
    for name in baselines:
        baseline = baseline_scores(noisy, name, seed=seed)
        report["baselines"][name] = detection_report(noise_truth(baseline, labels), baseline["score"].to_numpy())
    return report


def write_report(folder: Path, denoised: Dataset, noisy: Dataset, config: EvaluateConfig) -> dict[str, Any]:
    """Evaluate the `curator denoise` output `denoised` against the known noise of its input `noisy`, and
    write the report folder into `folder`; return the report."""
    report = evaluate_denoising(
        denoised, noisy, read_scores(denoised), folder, baselines=config.baselines, seed=config.seed
    )
    (folder / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
