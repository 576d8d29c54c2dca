"""Replay a curated dataset's ledger, proven by hashes: undo it to get the stage's input back (`curator data
revert`), or apply it to that input to get the curated tables again (`curator data apply`).

The manifest of a curated dataset records the content hash of its input (`parent`), of its own tables and of its
ledger (`ledger_hash`). Each replay checks the ledger against its hash, the input it starts from and the tables
it ends with against theirs: a damaged ledger or a wrong input is refused, never turned into other data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from curator.data.dataset import Dataset, Tables, write_dataset
from curator.data.ledger import read_ledger, revert_ledger, write_curated
from curator.data.ledger_format import LEDGER_FILE
from curator.errors import InputError, LedgerError


def parent_hash(curated: Dataset) -> str:
    """The content hash of the input `curated` was made from (InputError when it is not a curated dataset)."""
    parent = curated.manifest.get("parent")
    if not isinstance(parent, dict) or not parent.get("content_hash"):
        raise InputError(f"{curated.path}: not a curated dataset (its manifest names no parent)")
    return parent["content_hash"]


def reverted(curated: Dataset) -> Tables:
    """The input `curated` was made from: its tables with its ledger undone, checked against the parent hash."""
    tables = revert_ledger(curated.tables, read_ledger(curated))
    ledger = curated.path / LEDGER_FILE
    check_hash(tables.content_hash(), parent_hash(curated), f"undoing {ledger} does not give back the input it undoes")
    return tables


def write_reverted(folder: Path, curated: Dataset, *, name: str, command: Sequence[str]) -> Dataset:
    """Write the input `curated` was made from into `folder`, as the dataset `name` derived from `curated`."""
    stage = curated.manifest.get("config", {}).get("stage", "curation")
    return write_dataset(
        folder,
        *reverted(curated),
        name=name,
        source=curated.manifest.get("source"),
        command=command,
        config={"stage": "revert"},
        parent=curated,
        notes=[
            f"the input of the {stage} stage that wrote {curated.path}, rebuilt by undoing its {LEDGER_FILE} "
            f"(content hash {parent_hash(curated)[:12]}, as its manifest records); the input's extra files "
            "(profiles, labels) are not in a curated dataset, so not here either"
        ],
    )


def write_applied(folder: Path, data: Dataset, curated: Dataset, *, name: str, command: Sequence[str]) -> Dataset:
    """Apply `curated`'s ledger to `data`, which must be the input it was made from, and write the result into
    `folder` as the dataset `name`: the curated tables again (checked), with the ledger."""
    check_hash(data.content_hash, parent_hash(curated), f"{data.path} is not the input {curated.path} was made from")
    stage = curated.manifest.get("config", {}).get("stage", "curation")
    applied = write_curated(
        folder,
        data,
        read_ledger(curated),
        "apply",
        {"ledger": str(curated.path.resolve()), "ledger_stage": stage},
        command,
        name=name,
    )
    ledger = curated.path / LEDGER_FILE
    check_hash(applied.content_hash, curated.content_hash, f"applying {ledger} does not give {curated.path}'s tables")
    return applied


def check_hash(actual: str, expected: str, problem: str) -> None:
    """LedgerError saying `problem` unless the content hash `actual` is the `expected` one the manifest records."""
    if actual != expected:
        raise LedgerError(f"{problem} (content hash {actual[:12]}, the manifest records {expected[:12]})")
