"""`curator evaluate DENOISED --labels NOISY --report DIR`: the denoiser's detection and replacement
accuracy against known noise, next to the baselines on the same interactions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from curator.cli.output import console as output_console
from curator.cli.output import precision
from curator.denoise.config import BASELINE_NAMES

console = output_console()


def evaluate(
    denoised: Annotated[Path, typer.Argument(help="Output folder of `curator denoise` (holds scores.parquet).")],
    labels: Annotated[Path, typer.Option(help="The dataset that was denoised, with labels/noise.parquet.")],
    report: Annotated[Path, typer.Option(help="Folder to create, for report.json and reliability.png.")],
    baselines: Annotated[
        Optional[str],
        typer.Option(
            help=f"Comma-separated baselines to compute in the same run, of {', '.join(BASELINE_NAMES)} (default: all)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random and id-model baselines.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --report folder.")] = False,
):
    """Precision / recall / F1 at 0.5, 0.7, 0.9, AUROC, ECE, a reliability plot and replacement accuracy."""
    # The baselines and the report load torch: only when the command runs.
    from curator.data.dataset import read_dataset
    from curator.denoise.report import RELIABILITY_FILE, REPORT_FILE, EvaluateConfig
    from curator.run.stage import run_stage
    from curator.stages.evaluate import EvaluateStage

    config = (
        EvaluateConfig(seed=seed)
        if baselines is None
        else EvaluateConfig(baselines=tuple(b.strip() for b in baselines.split(",") if b.strip()), seed=seed)
    )
    config.validate()  # before reading the data: a bad option costs nothing
    stage = EvaluateStage(read_dataset(denoised), read_dataset(labels), config, report)
    result = run_stage(stage, overwrite=overwrite, command=["curator", *sys.argv[1:]])
    if result.already_done:
        console.print(f"{report} already holds this report: nothing to do", highlight=False, soft_wrap=True)

    summary = result.summary
    console.print(_detection_table(summary))
    replacement = summary["denoiser"]["replacement"]
    if replacement.get("count"):
        console.print(
            f"replacement of the {replacement['count']} true noise items edited: top-1 "
            f"{replacement['top1']:.3f}, hit@10 {replacement['hit@10']:.3f}",
            highlight=False,
        )
    console.print(f"wrote {report / REPORT_FILE} and {report / RELIABILITY_FILE}", highlight=False)


def _detection_table(summary: dict) -> Table:
    """AUROC for every detector; precision / recall / F1 at the thresholds and ECE for the denoiser only: its
    scores are probabilities, the baselines' are ranks, which no threshold or calibration error applies to."""
    thresholds = list(summary["denoiser"]["thresholds"])
    table = Table(title="noise detection on the same interactions (P/R/F1 and ECE: the denoiser's probabilities)")
    for column in ("detector", "AUROC", *(f"P/R/F1 @{t}" for t in thresholds), "ECE"):
        table.add_column(column, justify="right")
    denoiser = summary["denoiser"]
    table.add_row(
        "denoiser",
        _auroc(denoiser),
        *(_precision_recall_f1(denoiser["thresholds"][t]) for t in thresholds),
        f"{denoiser['ece']:.3f}",
    )
    for name, baseline in summary["baselines"].items():
        table.add_row(name, _auroc(baseline), *("" for _ in thresholds), "")
    return table


def _auroc(report: dict) -> str:
    return "n/a" if report["auroc"] is None else f"{report['auroc']:.3f}"


def _precision_recall_f1(at: dict) -> str:
    return f"{precision(at)}/{at['recall']:.2f}/{at['f1']:.2f}"
