"""`curator train DATA`: SASRec+ / GRU4Rec on the leave-one-out split, a results table, metrics.json."""

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from curator.cli.engine_options import Device
from curator.cli.output import console as output_console
from curator.cli.tracking_options import LogDir, Mlflow, curves_line
from curator.errors import OptionError
from curator.run.tracking import TrackingConfig

console = output_console()  # the results (and --json); progress and epoch logs go to stderr


class ModelName(str, Enum):
    sasrec = "sasrec"
    gru4rec = "gru4rec"


class AlignWith(str, Enum):
    none = "none"
    text = "text"
    profiles = "profiles"


class AlignKind(str, Enum):
    con = "con"
    gen = "gen"


def parse_seeds(seeds: Optional[str], seed: int) -> list[int]:
    if seeds is None:
        return [seed]
    try:
        parsed = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise OptionError(f"--seeds takes comma-separated integers, got '{seeds}'") from None
    if len(set(parsed)) != len(parsed) or not parsed:
        raise OptionError(f"--seeds must list distinct integers, got '{seeds}'")
    return parsed


def results_table(summary: dict) -> Table:
    seeds = summary["seeds"]
    over_seeds = f"mean ± std over {len(seeds)} seeds" if len(seeds) > 1 else f"seed {seeds[0]['seed']}"
    table = Table(
        title=f"test metrics ({over_seeds}): {summary['users_evaluated']} users ranked against "
        f"{summary['num_items']} items"
    )
    table.add_column("metric")
    for k in (10, 20, 50):
        table.add_column(f"@{k}", justify="right")
    for metric in ("HR", "NDCG", "MRR"):
        cells = []
        for k in (10, 20, 50):
            value = summary["test"][f"{metric}@{k}"]
            cells.append(f"{value['mean']:.4f} ± {value['std']:.4f}" if len(seeds) > 1 else f"{value['mean']:.4f}")
        table.add_row(metric, *cells)
    return table


def train(
    data: Annotated[Path, typer.Argument(help="Dataset folder (from `curator data import` or a curation stage).")],
    model: Annotated[ModelName, typer.Option(help="Backbone.")] = ModelName.sasrec,
    seed: Annotated[int, typer.Option(help="Seed for initialisation, shuffling and dropout.")] = 0,
    seeds: Annotated[Optional[str], typer.Option(help="Several seeds, e.g. 1,2,3: reports mean ± std.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder [default: runs/<dataset>-<model>].")] = None,
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 200,
    patience: Annotated[
        int, typer.Option(help="Stop after this many epochs without a better validation NDCG@10.")
    ] = 10,
    batch_size: Annotated[int, typer.Option(help="Users per batch.")] = 128,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    max_len: Annotated[int, typer.Option(help="Most recent items the model reads per user.")] = 50,
    hidden: Annotated[int, typer.Option(help="Embedding and hidden size.")] = 64,
    layers: Annotated[int, typer.Option(help="Transformer blocks (SASRec) or GRU layers.")] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads (SASRec).")] = 1,
    dropout: Annotated[float, typer.Option(help="Dropout rate.")] = 0.1,
    weights: Annotated[bool, typer.Option(help="Weight each user's loss by users.weight.")] = True,
    device: Annotated[Device, typer.Option(help="Where the model trains (auto: CUDA when present).")] = "auto",
    align: Annotated[
        AlignWith,
        typer.Option(
            help="Align the item representations with text (RLMRec): the folder's LLM profiles (from "
            "`curator profile`; users too where it has user profiles) or each item's raw text, embedded by MiniLM."
        ),
    ] = AlignWith.none,
    align_kind: Annotated[
        AlignKind, typer.Option(help="con: contrastive (InfoNCE); gen: reconstruct the text embedding.")
    ] = AlignKind.con,
    align_weight: Annotated[float, typer.Option(help="Weight of the alignment term in the loss.")] = 0.1,
    align_users: Annotated[
        bool, typer.Option(help="With --align profiles: also align with the user profiles, where there are.")
    ] = True,
    resume: Annotated[bool, typer.Option(help="Continue a killed run (its work folder is OUT.partial).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    log_dir: LogDir = None,
    mlflow: Mlflow = False,
):
    """Train an ID-based sequential recommender with full cross-entropy and evaluate it by full ranking."""
    # torch and the data's libraries load only when a command needs them
    from curator.cli.progress import cli_progress
    from curator.data.dataset import read_dataset
    from curator.run.distributed import ProcessGroup
    from curator.run.stage import run_stage
    from curator.run.workfolder import work_folder_for
    from curator.stages.train import TrainStage
    from curator.training import TrainOptions, train_seeds

    options = TrainOptions(
        model=model.value,
        seeds=parse_seeds(seeds, seed),
        max_epochs=epochs,
        patience=patience,
        batch_size=batch_size,
        lr=lr,
        max_len=max_len,
        hidden=hidden,
        layers=layers,
        heads=heads,
        dropout=dropout,
        use_weights=weights,
        device=Device(device).value,
        align=align.value,
        align_kind=align_kind.value,
        align_weight=align_weight,
        align_users=align_users,
    )
    tracking = TrackingConfig(log_dir=log_dir, mlflow=mlflow)
    options.validate()  # before reading the data: a bad option costs nothing
    tracking.validate()
    dataset = read_dataset(data)
    run_dir = out or Path("runs") / f"{dataset.name}-{model.value}"
    group = ProcessGroup.join(options.device)  # under torchrun: data-parallel over its processes
    if group.rank > 0:  # trains in step with rank 0, in rank 0's work folder, and writes nothing
        if group.hear():
            train_seeds(dataset, options, work_folder_for(run_dir), writes=False)
        return
    with cli_progress() as progress:
        try:
            result = run_stage(
                TrainStage(dataset, options, run_dir, tracking, group),
                resume=resume,
                overwrite=overwrite,
                progress=progress,
                command=["curator", *sys.argv[1:]],
            )
        finally:
            group.tell(trains=False)  # the run was done already, or failed before training: nobody waits
    summary = result.summary
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    if result.already_done:
        console.print(f"{run_dir} already holds this run: nothing to do", highlight=False)
    console.print(results_table(summary))
    gpu_memory = summary["peak_gpu_memory_mib"]
    memory = f"peak memory {summary['peak_memory_mib']:.0f} MiB" + (
        f", GPU {gpu_memory:.0f} MiB" if gpu_memory is not None else ""
    )
    console.print(
        f"{summary['seconds_per_epoch']:.1f} s/epoch on {summary['device']}, {memory}; "
        f"metrics, config and data hash in {run_dir / 'metrics.json'}"
    )
    if line := curves_line(tracking, run_dir):
        console.print(line, highlight=False, soft_wrap=True)
