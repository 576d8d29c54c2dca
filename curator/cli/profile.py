"""`curator profile DATA --out DIR`: LLM-written item and user profiles; `curator profile-merge` joins shards."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from curator.cli.engine_options import (
    DEVICE_HELP,
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
from curator.devices import resolve_device
from curator.llm.config import EngineConfig, generation_defaults

console = output_console()


class Stage(str, Enum):
    all = "all"
    items = "items"
    users = "users"


def parse_ids(text: Optional[str]) -> Optional[tuple[str, ...]]:
    return None if text is None else tuple(part.strip() for part in text.split(",") if part.strip())


def profile(
    data: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to create (the input plus profiles/).")],
    model: Annotated[Optional[str], typer.Option(help=MODEL_HELP)] = None,
    quant: Annotated[
        Optional[Quant],
        typer.Option(
            help="bitsandbytes quantization (default: 4bit on CUDA, none on CPU; falls back to none, saying why)."
        ),
    ] = None,
    dtype: Annotated[
        Optional[Dtype],
        typer.Option(
            help="Compute dtype (default: auto on CUDA; on CPU bfloat16 where it has bfloat16 instructions, "
            "AVX512-BF16 or AMX, else float32; auto: float32 on CPU, bfloat16 on CUDA)."
        ),
    ] = None,
    device: Annotated[Device, typer.Option(help=DEVICE_HELP)] = "auto",
    adapter: Annotated[Optional[str], typer.Option(help="LoRA adapter: a shipped adapter's name or a folder.")] = None,
    stage: Annotated[Stage, typer.Option(help="Profile items, users, or both (items first).")] = Stage.all,
    users: Annotated[
        Optional[str], typer.Option(help="Only these users, comma-separated (and the items they show).")
    ] = None,
    items: Annotated[Optional[str], typer.Option(help="Only these items, comma-separated.")] = None,
    limit: Annotated[Optional[int], typer.Option(help="At most this many users (and items), in dataset order.")] = None,
    shard: Annotated[
        Optional[str], typer.Option(help="Part K/N of the work, e.g. 2/4 (with --stage items or users).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Prompts generated together.")] = 16,
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 128,
    recent: Annotated[int, typer.Option(help="Most recent training interactions a user prompt shows.")] = 20,
    attempts: Annotated[
        int, typer.Option(help="Answers asked for at most per profile (first greedy, then sampled).")
    ] = 3,
    seed: Annotated[int, typer.Option(help="Seed for sampled retries.")] = 0,
    embedding_model: Annotated[
        Optional[str],
        typer.Option(help="sentence-transformers model for profile embeddings (default: all-MiniLM-L6-v2, shipped)."),
    ] = None,
    engine: Annotated[EngineKind, typer.Option(help=ENGINE_HELP)] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help=RAY_ADDRESS_HELP)] = None,
    ray_cpus: Annotated[Optional[int], typer.Option(help=RAY_CPUS_HELP)] = None,
    ray_workers: Annotated[Optional[int], typer.Option(help=RAY_WORKERS_HELP)] = None,
    ray_threads: Annotated[int, typer.Option(help=RAY_THREADS_HELP)] = 1,
    resume: Annotated[bool, typer.Option(help="Continue a killed run (its work folder is OUT.partial).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out and discard an unfinished run.")] = False,
):
    """Write item profiles, then user profiles (JSON summary + reasoning, embedded) with the local LLM."""
    # The LLM's and the data's libraries load only when profiling.
    from curator.cli.progress import cli_progress
    from curator.data.dataset import read_dataset
    from curator.profile.config import ProfileOptions
    from curator.run.stage import run_stage
    from curator.stages.profile import ProfileStage

    executor = execution(engine, ray_address, ray_cpus, ray_workers, ray_threads)
    dataset = read_dataset(data)
    options = ProfileOptions(
        stage=stage.value,
        users=parse_ids(users),
        items=parse_ids(items),
        limit=limit,
        shard=shard,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        recent=recent,
        attempts=attempts,
        seed=seed,
        embedding_model=embedding_model,
    )
    defaults = generation_defaults(resolve_device(Device(device).value))
    engine_config = EngineConfig(
        model=model,
        quant=Quant(quant).value if quant else defaults.quant,
        dtype=Dtype(dtype).value if dtype else defaults.dtype,
        device=Device(device).value,
        adapters=(adapter,) if adapter else (),
    )
    with cli_progress() as progress:
        result = run_stage(
            ProfileStage(dataset, options, engine_config, out, execution=executor),
            resume=resume,
            overwrite=overwrite,
            progress=progress,
            command=["curator", *sys.argv[1:]],
        )
    if result.already_done:
        console.print(f"{out} already holds this run: nothing to do", highlight=False)
        return
    console.print(_counts_table(result.summary["counts"]))
    engine_info = result.summary["engine"]
    if engine_info:
        console.print(
            f"model {engine_info['model']}, quantization {engine_info['quant']}, {engine_info['dtype']} "
            f"on {engine_info['device']}",
            highlight=False,
            soft_wrap=True,
        )
    if dtype is None:
        console.print(f"note: --dtype {defaults.dtype}, the default here: {defaults.why}", soft_wrap=True)
    for note in result.summary["notes"]:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    console.print(f"profiles in {out / 'profiles'}", highlight=False, soft_wrap=True)


def merge(
    shards: Annotated[list[Path], typer.Argument(help="The output folders of --shard 1/N ... N/N of one run.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to create.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
):
    """Join the shards of a `curator profile --shard K/N` run into one dataset folder."""
    from curator.data.dataset import read_dataset
    from curator.run.stage import run_stage
    from curator.stages.profile_merge import ProfileMergeStage

    stage = ProfileMergeStage([read_dataset(path) for path in shards], out)
    result = run_stage(stage, overwrite=overwrite, command=["curator", *sys.argv[1:]])
    if result.already_done:
        console.print(f"{out} already holds this merge: nothing to do", highlight=False)
        return
    console.print(_counts_table(result.summary["counts"]))
    console.print(f"merged {len(shards)} shards into {out}", highlight=False, soft_wrap=True)


def _counts_table(counts: dict[str, dict[str, int]]) -> Table:
    statuses = ("ok", "repaired", "retried", "failed")
    table = Table(title="profiles by status")
    table.add_column("stage")
    for status in statuses:
        table.add_column(status, justify="right")
    for stage, by_status in counts.items():
        table.add_row(stage, *(str(by_status.get(status, 0)) for status in statuses))
    return table
