"""Importers: one per source format, one registry, one pipeline.

An importer reads its source into `SourceTables`; `write_imported` does the rest for all of them:
order interactions into sequences, complete the items and users tables, validate and write the folder
(`curator data import` runs it as a stage: curator.stages.data_import).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from curator.data.dataset import Dataset, write_dataset
from curator.data.import_config import SHORTCUT_FORMATS, ImportConfig
from curator.data.importers.checks import handle_duplicates, non_finite_ratings_as_null
from curator.data.importers.common import (
    SYNTHETIC_TIME_NOTE,
    SourceTables,
    build_items,
    build_users,
    describe_files,
)
from curator.data.importers.delimited import read_csv
from curator.data.importers.llm4dsr import read_llm4dsr
from curator.data.importers.movielens import read_movielens
from curator.data.importers.recbole import bundled_movielens_100k, read_recbole
from curator.data.importers.sequence import read_sequence
from curator.data.ordering import order_interactions
from curator.errors import InputError, OptionError

Importer = Callable[..., SourceTables]

# Format name -> reader (one per curator.data.import_config.FORMATS). A reader takes the source path and keyword
# options (its own, see its signature).
IMPORTERS: dict[str, Importer] = {
    "recbole": read_recbole,
    "movielens": read_movielens,
    "sequence": read_sequence,
    "csv": read_csv,
    "llm4dsr": read_llm4dsr,
}

# Source names that need no path: (format, function giving the path), one per import_config.SHORTCUT_FORMATS.
SHORTCUTS: dict[str, tuple[str, Callable[[], Path]]] = {
    name: (format, bundled_movielens_100k) for name, format in SHORTCUT_FORMATS.items()
}


def import_options(format: str) -> list[str]:
    """The keyword options the reader of `format` accepts."""
    parameters = inspect.signature(IMPORTERS[format]).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def resolve_source(source: str, format: str | None) -> tuple[Path, str]:
    """(path, format) for a SOURCE argument: a shortcut name or a path plus --format."""
    if source in SHORTCUTS and not Path(source).exists():
        shortcut_format, locate = SHORTCUTS[source]
        if format not in (None, shortcut_format):
            raise OptionError(f"--format {format} does not fit '{source}', which is in {shortcut_format} format")
        return locate(), shortcut_format
    if format is None:
        raise OptionError(f"--format is required for '{source}' (one of {', '.join(IMPORTERS)})")
    if format not in IMPORTERS:
        raise OptionError(f"--format: unknown format '{format}' (one of {', '.join(IMPORTERS)})")
    path = Path(source)
    if not path.exists() and not (format == "recbole" and path.with_name(path.name + ".inter").is_file()):
        raise InputError(f"{source}: no such file or folder")
    return path, format


def reader_options(config: ImportConfig, format: str) -> dict[str, Any]:
    """`config.options`, checked against what the reader of `format` takes."""
    unknown = sorted(set(config.options) - set(import_options(format)))
    if unknown:
        raise OptionError(f"format {format} does not take option(s): {', '.join(unknown)}")
    return dict(config.options)


def source_files(path: Path) -> list[Path]:
    """The files a source is read from: the file or folder itself, or a RecBole prefix's NAME.* files."""
    return [path] if path.exists() else sorted(path.parent.glob(f"{path.name}.*"))


def write_imported(folder: Path, path: Path, format: str, config: ImportConfig, command: Sequence[str]) -> Dataset:
    """Read `path` in `format` and write it as a dataset folder into `folder`.

    `config.options` are the reader's keyword options (e.g. {'variant': 'noisy'} for llm4dsr); one the format
    does not take is an OptionError.
    """
    tables = IMPORTERS[format](path, **reader_options(config, format))
    raw, checked_notes = checked_interactions(tables, config.on_duplicates, source=str(path))
    interactions = order_interactions(raw)
    items, item_notes = build_items(interactions["item_id"], tables.items, tables.items_file)
    users = build_users(interactions["user_id"], tables.users, tables.users_file)
    return write_dataset(
        folder,
        interactions,
        items,
        users,
        name=config.name or _default_name(path),
        source={
            "format": format,
            "files": describe_files(tables.files),
            **({"fields": tables.fields} if tables.fields else {}),
        },
        command=command,
        config={"format": format, **config.recorded()},
        notes=[*tables.notes, *checked_notes, *item_notes],
        extra_files=tables.labels,
    )


def checked_interactions(tables: SourceTables, on_duplicates: str | None, *, source: str) -> tuple[pa.Table, list[str]]:
    """The raw interactions after the checks every import makes (curator.data.importers.checks), and their notes."""
    raw, rating_notes = non_finite_ratings_as_null(tables.interactions)
    timed = SYNTHETIC_TIME_NOTE not in tables.notes
    kept, duplicate_notes = handle_duplicates(raw, on_duplicates, timed=timed, source=source)
    if len(kept) < len(raw) and tables.labels:
        raise OptionError(f"--on-duplicates drop: {source} has labels by position, which dropping rows would shift")
    return kept, [*rating_notes, *duplicate_notes]


def _default_name(path: Path) -> str:
    return path.stem if path.is_file() else path.name
