"""`curator denoise DATA --threshold 0.9 --out DIR`: edit the interactions the denoiser is confident are
noise; write the cleaned dataset, its ledger and the per-interaction score table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from curator.cli.engine_options import (
    DEVICE_HELP,
    DTYPE_HELP,
    ENGINE_HELP,
    MODEL_HELP,
    RAY_ADDRESS_HELP,
    RAY_CPUS_HELP,
    RAY_THREADS_HELP,
    RAY_WORKERS_HELP,
    Device,
    Dtype,
    EngineKind,
    Quant,
    execution,
)
from curator.cli.output import console as output_console
from curator.denoise.config import DEFAULT_ADAPTER, DenoiseConfig
from curator.llm.config import EngineConfig
from curator.run.sharding import Shard

console = output_console()


def denoise(
    data: Annotated[Path, typer.Argument(help="Dataset folder to clean (it is not modified).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to create.")],
    threshold: Annotated[
        float, typer.Option(help="Edit an interaction when its calibrated probability of being noise is at least this.")
    ] = 0.9,
    max_edits: Annotated[Optional[int], typer.Option(help="At most this many edits per user, highest first.")] = None,
    replace_threshold: Annotated[
        float, typer.Option(help="Replace (rather than remove) when the best candidate's confidence is at least this.")
    ] = 0.5,
    noise_share: Annotated[
        str,
        typer.Option(
            help="The data's share of noise, which p is restated at: auto (estimated from the scores, at most the "
            "share the adapter was calibrated at) or a number in (0, 1)."
        ),
    ] = "auto",
    adapter: Annotated[
        str, typer.Option(help="Denoise adapter: a shipped name or a folder (curator adapt).")
    ] = DEFAULT_ADAPTER,
    allow_foreign_adapter: Annotated[
        bool,
        typer.Option(
            help="Use an adapter trained on another catalog (refused otherwise); p is then marked uncalibrated."
        ),
    ] = False,
    shard: Annotated[
        Optional[str],
        typer.Option(help="Part K/N of the users, e.g. 2/4; the shard that finishes last writes the output."),
    ] = None,
    engine: Annotated[EngineKind, typer.Option(help=ENGINE_HELP)] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help=RAY_ADDRESS_HELP)] = None,
    ray_cpus: Annotated[Optional[int], typer.Option(help=RAY_CPUS_HELP)] = None,
    ray_workers: Annotated[Optional[int], typer.Option(help=RAY_WORKERS_HELP)] = None,
    ray_threads: Annotated[int, typer.Option(help=RAY_THREADS_HELP)] = 1,
    model: Annotated[Optional[str], typer.Option(help=MODEL_HELP)] = None,
    quant: Annotated[
        Optional[Quant], typer.Option(help="Base quantization (default: what the adapter was trained with).")
    ] = None,
    dtype: Annotated[Dtype, typer.Option(help=DTYPE_HELP)] = "auto",
    device: Annotated[Device, typer.Option(help=DEVICE_HELP)] = "auto",
    resume: Annotated[bool, typer.Option(help="Continue a killed run (its work folder is OUT.partial).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out and discard an unfinished run.")] = False,
):
    """Score every training interaction with the denoiser; remove or replace those with p >= --threshold."""
    config = DenoiseConfig(
        threshold=threshold,
        max_edits=max_edits,
        replace_threshold=replace_threshold,
        adapter=adapter,
        noise_share=noise_share,
        allow_foreign_adapter=allow_foreign_adapter,
    )
    config.validate()  # before loading anything: a bad option costs nothing
    part = Shard.parse(shard)
    executor = execution(engine, ray_address, ray_cpus, ray_workers, ray_threads)
    # Loaded once the options are known to be good (torch, the data's libraries).
    from curator.cli.progress import cli_progress
    from curator.data.dataset import read_dataset
    from curator.denoise.cleaning import SCORES_FILE
    from curator.denoise.denoiser import trained_quant
    from curator.denoise.outlook import does_little, outlook_line
    from curator.llm.adapters import adapter_folder
    from curator.run.stage import run_stage
    from curator.stages.denoise import DenoiseStage

    engine_config = EngineConfig(
        model=model,
        quant=Quant(quant).value if quant else trained_quant(adapter_folder(adapter)),
        dtype=Dtype(dtype).value,
        device=Device(device).value,
    )
    stage = DenoiseStage(read_dataset(data), config, out, engine_config, shard=part, execution=executor)
    with cli_progress() as progress:
        # Shards share one work folder: each joins it as a resumed run.
        result = run_stage(
            stage,
            resume=resume or part.count > 1,
            overwrite=overwrite,
            progress=progress,
            command=["curator", *sys.argv[1:]],
        )
    if not result.finished:
        console.print(
            f"shard {shard} done; {result.summary['chunks_done']} of {result.summary['chunks']} chunks "
            "are complete. The shard that completes the last chunk writes the output.",
            highlight=False,
        )
        return
    if result.already_done:
        console.print(f"{out} already holds this denoising: nothing to do", highlight=False, soft_wrap=True)
    edits = ", ".join(f"{count} {action}" for action, count in result.summary["edits"].items() if count) or "no edits"
    share = result.summary["share_of_noise"]
    console.print(
        f"{edits} at threshold {threshold:g}, p at {share['used']:.1%} noise "
        f"({'estimated' if share['estimated'] else 'given'}; the adapter is calibrated at "
        f"{share['fitted']:.1%}); wrote {out} (ledger.parquet, {SCORES_FILE})",
        highlight=False,
        soft_wrap=True,
    )
    catalog = result.summary["adapter_catalog"]
    if catalog["foreign"]:
        overlap = "not recorded" if catalog["item_overlap"] is None else f"{catalog['item_overlap']:.0%}"
        console.print(
            f"warning: the adapter was trained on another catalog (item overlap {overlap}): p is uncalibrated "
            "here and the threshold is not a probability (marked so in the output)",
            highlight=False,
            soft_wrap=True,
        )
    edited = sum(result.summary["edits"].values())
    if does_little(edited, result.summary["scored"], share["used"]):
        console.print(
            f"{'nothing' if not edited else 'little'} reaches --threshold {threshold:g}: "
            f"{outlook_line(result.summary['outlook'], threshold)}",
            highlight=False,
            soft_wrap=True,
        )
