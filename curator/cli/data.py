"""`curator data import|info|export|revert|apply`: bring data in, look at it, hand it to other tools, undo or
redo a curated dataset's ledger."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from curator.cli.output import console as output_console
from curator.data.import_config import DUPLICATE_ACTIONS, FORMATS, LLM4DSR_VARIANTS, SHORTCUT_FORMATS

if TYPE_CHECKING:
    from curator.run.stage import StageResult

console = output_console()

app = typer.Typer(
    help="Import data into a dataset folder, show its statistics, export it, undo or redo a ledger.",
    no_args_is_help=True,
)

ImportFormat = Enum("ImportFormat", {name: name for name in FORMATS}, type=str)
Variant = Enum("Variant", {name: name for name in LLM4DSR_VARIANTS}, type=str)
DuplicateAction = Enum("DuplicateAction", {name: name for name in DUPLICATE_ACTIONS}, type=str)


class ExportFormat(str, Enum):
    recbole = "recbole"


def _command_line() -> list[str]:
    return ["curator", *sys.argv[1:]]


@app.command("import")
def import_command(
    source: Annotated[
        str, typer.Argument(help=f"Input file or folder, or a bundled dataset: {', '.join(SHORTCUT_FORMATS)}.")
    ],
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
    titles: Annotated[
        Optional[Path],
        typer.Option(
            help="llm4dsr: the item id -> title JSON (default: the first found in SOURCE of VARIANT_id2name.json, "
            "id2name.json, VARIANT_id2name4Rec.json, id2name4Rec.json)."
        ),
    ] = None,
    on_duplicates: Annotated[
        Optional[DuplicateAction],
        typer.Option(
            help="Rows equal to an earlier one in user, item, time and rating: keep them (the default, with a note), "
            "drop them (with a note), or stop with an error."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder.")] = False,
):
    """Import SOURCE into a dataset folder (interactions, items, users, manifest)."""
    from curator.data.import_config import ImportConfig
    from curator.run.stage import run_stage
    from curator.stages.data_import import ImportStage

    given = {
        "mapping": mapping,
        "items_file": items_file,
        "items_mapping": items_map,
        "delimiter": delimiter,
        "variant": variant.value if variant else None,
        "splits": splits,
        "titles": str(titles) if titles else None,
    }
    config = ImportConfig(
        format=format.value if format else None,
        name=name,
        options={key: value for key, value in given.items() if value is not None},
        on_duplicates=on_duplicates.value if on_duplicates else None,
    )
    result = run_stage(ImportStage(source, config, out), overwrite=overwrite, command=_command_line())
    if result.already_done:
        console.print(f"{out} already holds this import: nothing to do", highlight=False)
    _print_summary(result.summary, result.out)


@app.command("info")
def info_command(
    data: Annotated[Path, typer.Argument(help="Dataset folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
):
    """Show a dataset folder's statistics."""
    from curator.data.dataset import read_dataset
    from curator.data.stats import dataset_stats

    dataset = read_dataset(data)
    stats = dataset_stats(dataset)
    if as_json:
        print(json.dumps(stats, indent=2))
        return
    table = Table(title=f"{dataset.name} ({data})", show_header=False)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in _flatten(stats).items():
        table.add_row(key.replace("_", " "), _format(key, value))  # plain text: the console reads no markup
    console.print(table)
    _print_notes(dataset.manifest.get("notes", []))


@app.command("export")
def export_command(
    data: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the files into.")],
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="Target format.")] = ExportFormat.recbole,
    name: Annotated[Optional[str], typer.Option(help="File name stem (default: the dataset name).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder.")] = False,
):
    """Export a dataset folder (RecBole atomic files: NAME.inter, NAME.item, NAME.user)."""
    from curator.data.dataset import read_dataset
    from curator.data.export import export_recbole

    dataset = read_dataset(data)
    files = export_recbole(dataset, out, name or dataset.name, overwrite=overwrite)
    console.print(f"wrote {', '.join(str(f) for f in files)}", highlight=False, soft_wrap=True)


@app.command("revert")
def revert_command(
    curated: Annotated[Path, typer.Argument(help="Curated dataset folder (with ledger.parquet).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to create.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder.")] = False,
):
    """Undo CURATED's ledger: the dataset it was made from, checked against the hashes its manifest records."""
    from curator.data.dataset import read_dataset
    from curator.run.stage import run_stage
    from curator.stages.ledger import RevertStage

    result = run_stage(RevertStage(read_dataset(curated), out), overwrite=overwrite, command=_command_line())
    _print_replayed(result)


@app.command("apply")
def apply_command(
    data: Annotated[Path, typer.Argument(help="The dataset folder the curated one was made from.")],
    ledger: Annotated[Path, typer.Option(help="Curated dataset folder whose ledger.parquet to apply.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to create.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder.")] = False,
):
    """Apply a curated dataset's ledger to DATA again, checked against the hashes its manifest records."""
    from curator.data.dataset import read_dataset
    from curator.run.stage import run_stage
    from curator.stages.ledger import ApplyStage

    stage = ApplyStage(read_dataset(data), read_dataset(ledger), out)
    _print_replayed(run_stage(stage, overwrite=overwrite, command=_command_line()))


def _print_replayed(result: StageResult) -> None:
    if result.already_done:
        console.print(f"{result.out} already holds this dataset: nothing to do", highlight=False, soft_wrap=True)
    console.print(f"content hash {result.summary['content_hash'][:12]} checked", highlight=False)
    _print_summary(result.summary, result.out)


def _print_summary(summary: dict[str, Any], path: Path) -> None:
    """The one-line summary of a dataset folder a command wrote (`Dataset.summary`), and its notes."""
    counts = summary["counts"]
    console.print(
        f"[bold]{escape(summary['name'])}[/] → {escape(str(path))}: {counts['users']:,} users, "
        f"{counts['items']:,} items, "
        f"{counts['interactions']:,} interactions",
        highlight=False,
        soft_wrap=True,
        markup=True,  # the name in bold; everything from the data escaped
    )
    _print_notes(summary["notes"])


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        console.print(f"[dim]note:[/] {escape(note)}", highlight=False, soft_wrap=True, markup=True)


def _flatten(stats: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in stats.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key} "))
        else:
            flat[prefix + key] = value
    return flat


def _format(name: str, value: Any) -> str:
    """A statistic of `dataset_stats` as its kind reads best: dates for timestamps, percentages for shares,
    separators for counts, lengths without a meaningless decimal part."""
    if name.startswith("timestamp"):
        return _timestamp(value)
    if name.endswith("share") or name == "sparsity":
        return f"{value:.2%}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(value) or "–"
    return str(value)


def _timestamp(value: int) -> str:
    """A date where the value reads as Unix seconds (1973 to 2286); otherwise a position (data without times
    keep their file order there)."""
    if 10**8 <= value < 10**10:
        return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{value:,}"
