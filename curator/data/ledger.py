"""The ledger of a curated dataset: build it from a stage's decisions, apply it to the stage's input,
undo it on the output, and write the curated dataset folder with it.

The format is in `ledger_format.py`, the rules (only training interactions are edited, ...) in
`ledger_checks.py`. `apply_ledger` and `revert_ledger` are exact inverses: same content hash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curator.data.dataset import Dataset, Tables, write_dataset
from curator.data.hashing import table_hash
from curator.data.ledger_checks import check_against_input, check_against_output, ledger_error, user_attributes
from curator.data.ledger_format import LEDGER_FILE, LEDGER_SCHEMA, REMOVING_ACTIONS, Action
from curator.data.ordering import positions_from_ranks, sequence_bounds, sort_by_position
from curator.data.schema import MANIFEST_FILE
from curator.data.table_edits import set_values
from curator.errors import InputError, LedgerError


@dataclass(frozen=True)
class Edit:
    """One decision of a stage; `build_ledger` records it with what the input held."""

    user_id: str
    action: Action
    position: int | None = None  # remove, replace: the position in the input sequence
    new_item: str | None = None  # replace
    new_weight: float | None = None  # reweight
    score: float | None = None
    threshold: float | None = None


def build_ledger(
    tables: Tables, edits: Sequence[Edit], *, stage: str, model: str | None = None, adapter: str | None = None
) -> pa.Table:
    """The ledger of `edits` on the input `tables`, in dataset order, checked against them (LedgerError)."""
    user_row = {user: k for k, user in enumerate(tables.users["user_id"].to_pylist())}
    bounds = sequence_bounds(tables.interactions)
    held = list(zip(*(tables.interactions[c].to_pylist() for c in ("item_id", "timestamp", "rating"))))
    weights = tables.users["weight"].to_pylist()
    rows: list[dict[str, Any]] = []
    sort_keys: list[tuple[int, int]] = []
    for edit in edits:
        action = Action(edit.action)
        k = user_row.get(edit.user_id)
        if k is None:
            raise LedgerError(f"{action.value} of user '{edit.user_id}': no such user in the input")
        decided = {
            "user_id": edit.user_id,
            "action": action.value,
            "score": edit.score,
            "threshold": edit.threshold,
            "stage": stage,
            "model": model,
            "adapter": adapter,
        }
        if action is Action.REWEIGHT:
            rows.append({**decided, "old_weight": weights[k], "new_weight": edit.new_weight})
            sort_keys.append((k, -1))
            continue
        if action is Action.DROP_USER:
            attributes = json.dumps(user_attributes(tables.users, k), ensure_ascii=False)
            extra = {"old_weight": weights[k], "user_index": k, "user_attributes": attributes}
            positions = range(int(bounds[k + 1] - bounds[k]))
        else:
            extra = {"new_item": edit.new_item}
            positions = [edit.position]
        for position in positions:
            if position is None or not 0 <= position < bounds[k + 1] - bounds[k]:
                raise LedgerError(f"{action.value} of user '{edit.user_id}': no position {position} in the sequence")
            old_item, timestamp, rating = held[bounds[k] + position]
            rows.append(
                {
                    **decided,
                    **extra,
                    "position": position,
                    "old_item": old_item,
                    "timestamp": timestamp,
                    "rating": rating,
                }
            )
            sort_keys.append((k, position))
    order = sorted(range(len(rows)), key=sort_keys.__getitem__)
    ledger = pa.Table.from_pylist([rows[i] for i in order], schema=LEDGER_SCHEMA)
    check_against_input(ledger, tables)
    return ledger


def apply_ledger(tables: Tables, ledger: pa.Table) -> Tables:
    """The output of a stage: its input `tables` with the ledger's edits applied."""
    input_rows = check_against_input(ledger, tables)
    actions = np.array(ledger["action"].to_pylist())
    replace = actions == Action.REPLACE.value
    interactions = set_values(tables.interactions, "item_id", input_rows[replace], _where(ledger, replace)["new_item"])
    interactions = set_values(interactions, "rating", input_rows[replace], pa.nulls(int(replace.sum()), pa.float32()))

    keep = np.ones(len(interactions), bool)
    keep[input_rows[np.isin(actions, REMOVING_ACTIONS)]] = False
    lengths = np.diff(sequence_bounds(interactions))
    user_of_row = np.repeat(np.arange(len(lengths)), lengths)
    interactions = interactions.filter(pa.array(keep))
    interactions = _set_positions(interactions, positions_from_ranks(user_of_row[keep]))

    user_row = {user: k for k, user in enumerate(tables.users["user_id"].to_pylist())}
    ledger_user = np.array([user_row[user] for user in ledger["user_id"].to_pylist()], dtype=np.int64)
    reweight = actions == Action.REWEIGHT.value
    users = set_values(tables.users, "weight", ledger_user[reweight], _where(ledger, reweight)["new_weight"])
    dropped = np.isin(np.arange(len(users)), ledger_user[actions == Action.DROP_USER.value])
    return Tables(interactions, tables.items, users.filter(pa.array(~dropped)))


def revert_ledger(tables: Tables, ledger: pa.Table) -> Tables:
    """The input of a stage: its output `tables` with the ledger's edits undone."""
    rows = check_against_output(ledger, tables)
    actions = np.array(ledger["action"].to_pylist())
    users = _restore_users(tables.users, ledger, actions)

    # Lay out the input sequences of the users still there: each user's output rows plus the rows it
    # lost, in user order; the output rows fill the slots that were not removed, in order.
    user_row = {user: k for k, user in enumerate(tables.users["user_id"].to_pylist())}
    edited = np.isin(actions, [Action.REMOVE.value, Action.REPLACE.value])
    ledger_user = np.array([user_row[row["user_id"]] if edited[i] else 0 for i, row in enumerate(rows)], np.int64)
    lengths = np.diff(sequence_bounds(tables.interactions))
    input_lengths = lengths + np.bincount(ledger_user[actions == Action.REMOVE.value], minlength=len(lengths))
    input_bounds = np.r_[0, np.cumsum(input_lengths)]
    slots = input_bounds[ledger_user] + ledger["position"].fill_null(0).to_numpy()
    removed = np.zeros(input_bounds[-1], bool)
    removed[slots[actions == Action.REMOVE.value]] = True
    kept_slots = np.flatnonzero(~removed)
    output_row_of_slot = np.full(input_bounds[-1], -1, dtype=np.int64)
    output_row_of_slot[kept_slots] = np.arange(len(kept_slots))

    interactions = tables.interactions
    user_of_row = np.repeat(np.arange(len(lengths)), lengths)
    interactions = _set_positions(interactions, kept_slots - input_bounds[user_of_row])
    replace = actions == Action.REPLACE.value
    replaced_rows = output_row_of_slot[slots[replace]]
    output_items = interactions["item_id"].take(pa.array(replaced_rows, pa.int64())).to_pylist()
    for number, output_item in zip(np.flatnonzero(replace) + 1, output_items):
        if output_item != rows[number - 1]["new_item"]:
            raise ledger_error(int(number), rows[number - 1], f"the output holds '{output_item}' here, not new_item")
    replaced = _where(ledger, replace)
    interactions = set_values(interactions, "item_id", replaced_rows, replaced["old_item"])
    interactions = set_values(interactions, "rating", replaced_rows, replaced["rating"])

    gone = _where(ledger, np.isin(actions, REMOVING_ACTIONS))
    gone = pa.table(
        {
            "user_id": gone["user_id"],
            "item_id": gone["old_item"],
            "timestamp": gone["timestamp"],
            "position": gone["position"],
            "rating": gone["rating"],
        }
    ).cast(interactions.schema)
    interactions = sort_by_position(pa.concat_tables([interactions, gone]), users["user_id"])
    return Tables(interactions, tables.items, users)


def _restore_users(users: pa.Table, ledger: pa.Table, actions: np.ndarray) -> pa.Table:
    """The input users table: old weights back, dropped users back in their rows."""
    user_row = {user: k for k, user in enumerate(users["user_id"].to_pylist())}
    reweight = actions == Action.REWEIGHT.value
    reweighted = _where(ledger, reweight)
    rows = np.array([user_row[user] for user in reweighted["user_id"].to_pylist()], dtype=np.int64)
    users = set_values(users, "weight", rows, reweighted["old_weight"])

    dropped = _where(ledger, actions == Action.DROP_USER.value).to_pylist()
    first_of_user: dict[str, dict[str, Any]] = {}
    for row in dropped:
        first_of_user.setdefault(row["user_id"], row)
    first_rows = list(first_of_user.values())
    back = pa.Table.from_pylist(
        [
            {"user_id": row["user_id"], "weight": row["old_weight"], **json.loads(row["user_attributes"])}
            for row in first_rows
        ],
        schema=users.schema,
    )
    source_of_row = np.full(len(users) + len(back), -1, dtype=np.int64)
    source_of_row[[row["user_index"] for row in first_rows]] = len(users) + np.arange(len(back))
    source_of_row[source_of_row < 0] = np.arange(len(users))
    return pa.concat_tables([users, back]).take(pa.array(source_of_row))


def _set_positions(interactions: pa.Table, positions: np.ndarray) -> pa.Table:
    field = interactions.schema.field("position")
    return interactions.set_column(interactions.column_names.index("position"), field, pa.array(positions, field.type))


def _where(table: pa.Table, mask: np.ndarray) -> pa.Table:
    return table.filter(pa.array(mask, pa.bool_()))


def ledger_counts(ledger: pa.Table) -> dict[str, int]:
    """Edits per action; a drop-user counts once per user, not per interaction."""
    counts = {action.value: 0 for action in Action}
    seen_dropped: set[str] = set()
    for user, action in zip(ledger["user_id"].to_pylist(), ledger["action"].to_pylist()):
        if action != Action.DROP_USER or user not in seen_dropped:
            counts[action] += 1
        if action == Action.DROP_USER:
            seen_dropped.add(user)
    return counts


def read_ledger(dataset: Dataset) -> pa.Table:
    """The ledger of a curated dataset folder, checked against the `ledger_hash` of its manifest (InputError
    when it has none or it cannot be read, LedgerError when it is not the ledger the manifest records).
    Folders written before manifests recorded the hash are read unchecked."""
    file = dataset.path / LEDGER_FILE
    if not file.is_file():
        raise InputError(f"{dataset.path}: no {LEDGER_FILE} (not a curated dataset?)")
    try:
        ledger = pq.read_table(file)
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{file}: cannot read Parquet ({error})") from None
    recorded = dataset.manifest.get("ledger_hash")
    if recorded is not None and table_hash(ledger) != recorded:
        raise LedgerError(
            f"{file}: does not match the ledger_hash of {MANIFEST_FILE} (was it damaged or edited after writing?)"
        )
    return ledger


def write_curated(
    folder: str | Path,
    input_dataset: Dataset,
    ledger: pa.Table,
    stage: str,
    config: Mapping[str, Any],
    command: Sequence[str],
    *,
    name: str,
    extra_files: Mapping[str, pa.Table] | None = None,
) -> Dataset:
    """Apply `ledger` to `input_dataset` and write the result into `folder` as the dataset `name`, with the
    ledger as `ledger.parquet` (plus the stage's `extra_files`, e.g. its score table) and the input as its
    parent. The input's other extras (profiles, labels) are not carried over: positions have moved."""
    output = apply_ledger(input_dataset.tables, ledger)
    counts = ", ".join(f"{count} {action}" for action, count in ledger_counts(ledger).items() if count)
    return write_dataset(
        folder,
        *output,
        name=name,
        source=input_dataset.manifest.get("source"),
        command=command,
        config={"stage": stage, **config},
        parent=input_dataset,
        notes=[f"{stage}: {counts or 'no edits'} (every change is in {LEDGER_FILE})"],
        extra_files={LEDGER_FILE: ledger, **(extra_files or {})},
    )
