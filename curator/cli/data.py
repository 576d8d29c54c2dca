"""`curator data import|info|export`: bring data in, look at it, hand it to other tools."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from curator.data.dataset import Dataset, load_dataset
from curator.data.export import export_recbole
from curator.data.importers import IMPORTERS, SHORTCUTS, ImportConfig
from curator.data.importers.llm4dsr import VARIANTS
from curator.data.stats import dataset_stats
from curator.run.stage import run_stage
from curator.stages.data_import import ImportStage

console = Console()

app = typer.Typer(help="Import data into a dataset folder, show its statistics, export it.", no_args_is_help=True)

ImportFormat = Enum("ImportFormat", {name: name for name in IMPORTERS}, type=str)  # the registry's formats
Variant = Enum("Variant", {name: name for name in VARIANTS}, type=str)


class ExportFormat(str, Enum):
    recbole = "recbole"


def _command_line() -> list[str]:
    return ["curator", *sys.argv[1:]]


@app.command("import")
def import_command(
    source: Annotated[str, typer.Argument(help=f"Input file or folder, or a bundled dataset: {', '.join(SHORTCUTS)}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to create.")],
    format: Annotated[
        Optional[ImportFormat], typer.Option("--format", "-f", help="Source format (not needed for a bundled dataset).")
    ] = None,
    name: Annotated[Optional[str], typer.Option(help="Dataset name (default: the file or folder name).")] = None,
    mapping: Annotated[
        Optional[str],
        typer.Option(
            "--map", help="csv: columns, e.g. user=uid,item=iid,time=ts,rating=stars (time, rating optional)."
        ),
    ] = None,
    items_file: Annotated[Optional[Path], typer.Option(help="csv: a CSV/TSV of items.")] = None,
    items_map: Annotated[
        Optional[str],
        typer.Option(help="csv: items columns, e.g. item=iid,title=name (other columns keep their names)."),
    ] = None,
    delimiter: Annotated[
        Optional[str],
        typer.Option(help="csv: delimiter (a character, or tab/comma/semicolon/pipe/space) (default: detected)."),
    ] = None,
    variant: Annotated[Optional[Variant], typer.Option(help="llm4dsr: which windows to read (default: clean).")] = None,
    splits: Annotated[
        Optional[str], typer.Option(help="llm4dsr: which files, a subset of train,valid,test (default: all).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder.")] = False,
):
    """Import SOURCE into a dataset folder (interactions, items, users, manifest)."""
    given = {
        "mapping": mapping,
        "items_file": items_file,
        "items_mapping": items_map,
        "delimiter": delimiter,
        "variant": variant.value if variant else None,
        "splits": splits,
    }
    config = ImportConfig(
        format=format.value if format else None,
        name=name,
        options={key: value for key, value in given.items() if value is not None},
    )
    result = run_stage(ImportStage(source, config, out), overwrite=overwrite, command=_command_line())
    if result.already_done:
        console.print(f"{out} already holds this import: nothing to do", highlight=False)
    dataset = result.dataset()
    _print_summary(dataset)


@app.command("info")
def info_command(
    data: Annotated[Path, typer.Argument(help="Dataset folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
):
    """Show a dataset folder's statistics."""
    dataset = load_dataset(data)
    stats = dataset_stats(dataset)
    if as_json:
        print(json.dumps(stats, indent=2))
        return
    table = Table(title=f"{dataset.name} ({data})", show_header=False)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in _flatten(stats).items():
        table.add_row(key.replace("_", " "), _format(value))
    console.print(table)
    _print_notes(dataset)


@app.command("export")
def export_command(
    data: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the files into.")],
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="Target format.")] = ExportFormat.recbole,
    name: Annotated[Optional[str], typer.Option(help="File name stem (default: the dataset name).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder.")] = False,
):
    """Export a dataset folder (RecBole atomic files: NAME.inter, NAME.item, NAME.user)."""
    dataset = load_dataset(data)
    files = export_recbole(dataset, out, name or dataset.name, overwrite=overwrite)
    console.print(f"wrote {', '.join(str(f) for f in files)}", highlight=False, soft_wrap=True)


def _print_summary(dataset: Dataset) -> None:
    counts = dataset.manifest["counts"]
    console.print(
        f"[bold]{dataset.name}[/] → {dataset.path}: {counts['users']:,} users, {counts['items']:,} items, "
        f"{counts['interactions']:,} interactions",
        highlight=False,
        soft_wrap=True,
    )
    _print_notes(dataset)


def _print_notes(dataset: Dataset) -> None:
    for note in dataset.manifest.get("notes", []):
        console.print(f"[dim]note:[/] {note}", highlight=False, soft_wrap=True)


def _flatten(stats: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in stats.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key} "))
        else:
            flat[prefix + key] = value
    return flat


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if value < 1000 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(value) or "-"
    return str(value)
