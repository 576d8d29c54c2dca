"""`curator evaluate DENOISED --labels NOISY --report DIR`: the denoiser's detection and replacement
accuracy against known noise, next to the baselines on the same interactions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from curator.data.dataset import load_dataset
from curator.evaluation.detection import DEFAULT_THRESHOLDS
from curator.run.stage import run_stage

console = Console()


def evaluate(
    denoised: Annotated[Path, typer.Argument(help="Output folder of `curator denoise` (holds scores.parquet).")],
    labels: Annotated[Path, typer.Option(help="The dataset that was denoised, with labels/noise.parquet.")],
    report: Annotated[Path, typer.Option(help="Folder to create, for report.json and reliability.png.")],
    baselines: Annotated[
        Optional[str], typer.Option(help="Comma-separated baselines to compute in the same run (default: all).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random baseline.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --report folder.")] = False,
):
    """Precision / recall / F1 at 0.5, 0.7, 0.9, AUROC, ECE, a reliability plot and replacement accuracy."""
    # The baselines and the report load torch: only when the command runs.
    from curator.denoise.report import RELIABILITY_FILE, REPORT_FILE, EvaluateConfig
    from curator.stages.evaluate import EvaluateStage

    config = (
        EvaluateConfig(seed=seed)
        if baselines is None
        else EvaluateConfig(baselines=tuple(b.strip() for b in baselines.split(",") if b.strip()), seed=seed)
    )
    config.validate()  # before reading the data: a bad option costs nothing
    stage = EvaluateStage(load_dataset(denoised), load_dataset(labels), config, report)
    result = run_stage(stage, overwrite=overwrite, command=["curator", *sys.argv[1:]])
    if result.already_done:
        console.print(f"{report} already holds this report: nothing to do", highlight=False, soft_wrap=True)

    summary = result.summary
    table = Table(title="noise detection on the same interactions (baselines: raw scores, not probabilities)")
    for column in ("detector", "AUROC", *(f"P/R/F1 @{t:g}" for t in DEFAULT_THRESHOLDS), "ECE"):
        table.add_column(column, justify="right")
    for name, r in [("denoiser", summary["denoiser"]), *summary["baselines"].items()]:
        at = r["thresholds"]
        table.add_row(
            name,
            "n/a" if r["auroc"] is None else f"{r['auroc']:.3f}",
            *(
                f"{at[f'{t:g}']['precision']:.2f}/{at[f'{t:g}']['recall']:.2f}/{at[f'{t:g}']['f1']:.2f}"
                for t in DEFAULT_THRESHOLDS
            ),
            f"{r['ece']:.3f}",
        )
    console.print(table)
    replacement = summary["denoiser"]["replacement"]
    if replacement.get("count"):
        console.print(
            f"replacement of the {replacement['count']} true noise items edited: top-1 "
            f"{replacement['top1']:.3f}, hit@10 {replacement['hit@10']:.3f}",
            highlight=False,
        )
    console.print(f"wrote {report / REPORT_FILE} and {report / RELIABILITY_FILE}", highlight=False)
