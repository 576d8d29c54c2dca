"""`curator adapt DATA --task denoise --out adapters/NAME`: train a LoRA denoiser on the data's own
training sequences (self-made corruptions; no labels are read)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from curator.cli.choices import choices
from curator.cli.engine_options import DEVICE_HELP, DTYPE_HELP, MODEL_HELP, Device, Dtype, Quant
from curator.cli.output import console as output_console
from curator.cli.output import precision
from curator.cli.tracking_options import LogDir, Mlflow, curves_line
from curator.denoise.config import (
    DEFAULT_FACTOR_RANK,
    ITEM_TEXT_TOKENS,
    NOISE_MIXES,
    TASKS,
    AdaptConfig,
    DenoiserConfig,
    IdModelConfig,
)
from curator.llm.config import EngineConfig
from curator.run.tracking import TrackingConfig

console = output_console()

Task = choices("Task", TASKS)
NoiseMix = choices("NoiseMix", NOISE_MIXES)
ItemText = choices("ItemText", ITEM_TEXT_TOKENS)


def adapt(
    data: Annotated[Path, typer.Argument(help="Dataset folder whose training sequences the adapter learns from.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Adapter folder to create (e.g. adapters/my-denoiser).")],
    task: Annotated[Task, typer.Option(help="What the adapter is for.")] = "denoise",
    max_steps: Annotated[
        int, typer.Option(help="Training steps, warm-up included (each a batch of freshly corrupted users).")
    ] = 480,
    warmup_steps: Annotated[
        int,
        typer.Option(
            help="First steps train the head alone on the base model's item vectors (fast); LoRA trains after."
        ),
    ] = 400,
    time_budget: Annotated[
        Optional[float],
        typer.Option(
            help="Seconds for the whole command: the ID model, the training steps, the ranker and its report stop "
            "early to fit (the item texts' pass and calibration are not cut, so a slow machine can still run over)."
        ),
    ] = None,
    positions_per_step: Annotated[
        int,
        typer.Option(
            help="Labelled positions per training step: each step takes as many users as hold this many items "
            "(8 on MovieLens' ~100-item sequences, ~100 on 8-item windows)."
        ),
    ] = 800,
    users_per_step: Annotated[
        Optional[int], typer.Option(help="Users per training step, instead of sizing steps by --positions-per-step.")
    ] = None,
    lora_rank: Annotated[int, typer.Option(help="LoRA rank.")] = 8,
    top_layers: Annotated[int, typer.Option(help="Top decoder layers that carry LoRA (the rest stay frozen).")] = 1,
    factor_rank: Annotated[
        int, typer.Option(help="Rank of the cross-fitted item factors among the collaborative features.")
    ] = DEFAULT_FACTOR_RANK,
    no_llm: Annotated[
        bool, typer.Option("--no-llm", help="Ablation: no LLM part (collaborative features only).")
    ] = False,
    no_collab: Annotated[bool, typer.Option("--no-collab", help="Ablation: no collaborative part (LLM only).")] = False,
    no_id_model: Annotated[
        bool, typer.Option("--no-id-model", help="Ablation: no ID model (item-id transformer) part.")
    ] = False,
    item_text: Annotated[
        ItemText,
        typer.Option(
            help="What the LLM part reads of an item: its text fields (title | year | genres ...), or its title "
            "and the summary of its LLM profile (the folder's profiles/items.parquet, from `curator profile`)."
        ),
    ] = "fields",
    id_steps: Annotated[
        int,
        typer.Option(
            help="Training steps of each of the ID model's fold models (windows of item ids with the same swaps)."
        ),
    ] = IdModelConfig.steps,
    noise_dist: Annotated[
        NoiseMix,
        typer.Option(
            help="What the self-made swaps are drawn from: mixed (noise of unknown kind; calibrated on the "
            "popularity-matched case), uniform or popularity (noise known to be of that kind)."
        ),
    ] = "mixed",
    seed: Annotated[int, typer.Option(help="Seed of the user split, the corruptions and the initialisation.")] = 0,
    model: Annotated[Optional[str], typer.Option(help=MODEL_HELP)] = None,
    quant: Annotated[Quant, typer.Option(help="Base quantization (4bit/8bit train on CUDA only: QLoRA).")] = "none",
    dtype: Annotated[Dtype, typer.Option(help=DTYPE_HELP)] = "auto",
    device: Annotated[Device, typer.Option(help=DEVICE_HELP)] = "auto",
    resume: Annotated[bool, typer.Option(help="Continue a killed run (its work folder is OUT.partial).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out and discard an unfinished run.")] = False,
    log_dir: LogDir = None,
    mlflow: Mlflow = False,
):
    """Train a denoise adapter: LoRA on the LLM's top layers + a per-position noise head, calibrated on
    held-out users, with a card of its budget, learning curve and held-out metrics."""
    config = AdaptConfig(
        task=Task(task).value,
        max_steps=max_steps,
        warmup_steps=warmup_steps,
        time_budget=time_budget,
        users_per_step=users_per_step,
        positions_per_step=positions_per_step,
        noise_dist=NoiseMix(noise_dist).value,
        seed=seed,
        denoiser=DenoiserConfig(
            use_text=not no_llm,
            use_collab=not no_collab,
            use_id_model=not no_id_model,
            lora_rank=lora_rank,
            top_layers=top_layers,
            factor_rank=factor_rank,
            item_text=ItemText(item_text).value,
        ),
        id_model=IdModelConfig(steps=id_steps),
    )
    tracking = TrackingConfig(log_dir=log_dir, mlflow=mlflow)
    config.validate()  # before loading anything: a bad option costs nothing
    tracking.validate()
    # Loaded once the options are known to be good (torch, the LLM's and the data's libraries).
    from curator.cli.progress import cli_progress
    from curator.data.dataset import read_dataset
    from curator.denoise.training import follow, trainable
    from curator.run.distributed import ProcessGroup
    from curator.run.stage import run_stage
    from curator.run.workfolder import WorkFolder, work_folder_for
    from curator.stages.adapt import AdaptStage

    engine = EngineConfig(model=model, quant=Quant(quant).value, dtype=Dtype(dtype).value, device=Device(device).value)
    dataset = read_dataset(data)
    group = ProcessGroup.join(engine.device)  # under torchrun: the steps data-parallel over its processes
    if group.rank > 0:  # trains in step with rank 0, in rank 0's work folder, and writes nothing
        if group.hear():
            follow(dataset, config, trainable(engine), WorkFolder(work_folder_for(out)), group)
        return
    stage = AdaptStage(dataset, config, out, engine, tracking, group)
    with cli_progress() as progress:
        try:
            result = run_stage(
                stage, resume=resume, overwrite=overwrite, progress=progress, command=["curator", *sys.argv[1:]]
            )
        finally:
            group.tell(trains=False)  # the run was done already, or failed before training: nobody waits
    if result.already_done:
        console.print(f"{out} already holds this adapter: nothing to do", highlight=False, soft_wrap=True)
    figures = result.summary
    heldout = figures["heldout"]
    at = heldout["thresholds"]["0.9"]
    console.print(
        f"{figures['steps']} steps in {figures['seconds']:.0f} s; held-out users: "
        f"AUROC {heldout['auroc']:.3f}, ECE {heldout['ece']:.3f}, "
        f"precision/recall at 0.9 {precision(at)}/{at['recall']:.2f}",
        highlight=False,
    )
    console.print(f"wrote {out} (card: {out / 'README.md'})", highlight=False, soft_wrap=True)
    if line := curves_line(tracking, out):
        console.print(line, highlight=False, soft_wrap=True)
