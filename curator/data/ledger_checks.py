"""Checks of a ledger: on its own, against the input it edits, and against the output it undoes.

Each violation is a LedgerError naming the ledger row. The rules: only training interactions are removed
or replaced, never a validation or test target (curator.data.splits); one edit per interaction, one
reweight per user, nothing else for a dropped user; a user evaluated by leave-one-out keeps at least one
training interaction (else it would quietly leave the evaluation: drop it instead); a replacement is a
catalog item; weights are finite and >= 0; scores and thresholds are probabilities; and the ledger holds
exactly what its input held, so that undoing it is exact.

Ledgers are small (edits, not data), so the checks go row by row, in plain Python, for readable rules.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from curator.data.dataset import Tables
from curator.data.ledger_format import ACTIONS, INTERACTION_ACTIONS, LEDGER_FILE, LEDGER_SCHEMA, Action
from curator.data.ordering import sequence_bounds
from curator.data.splits import HELD_OUT, training_mask
from curator.errors import LedgerError
from recsys.data import MIN_EVALUATED_LENGTH


def ledger_error(number: int, row: dict[str, Any], problem: str) -> LedgerError:
    """The error for ledger row `number` (1-based)."""
    where = f"user '{row['user_id']}'" + ("" if row["position"] is None else f", position {row['position']}")
    return LedgerError(f"ledger row {number} ({row['action']}, {where}): {problem}")


def user_attributes(users: pa.Table, k: int) -> dict[str, Any]:
    """The k-th users row without user_id and weight: what a drop-user keeps in `user_attributes`."""
    return {name: users[name][k].as_py() for name in users.column_names if name not in ("user_id", "weight")}


def check_structure(ledger: pa.Table) -> list[dict[str, Any]]:
    """What a ledger must hold whatever its dataset. Returns its rows."""
    for field in LEDGER_SCHEMA:
        if field.name not in ledger.column_names or ledger.schema.field(field.name).type != field.type:
            raise LedgerError(f"{LEDGER_FILE}: column '{field.name}' is missing or not of type {field.type}")
    rows = ledger.to_pylist()
    edited: set[tuple[str, int]] = set()
    reweighted: set[str] = set()
    index_of_dropped: dict[str, int] = {}
    dropped_at_index: dict[int, str] = {}
    for number, row in enumerate(rows, 1):
        action, user = row["action"], row["user_id"]
        if action not in ACTIONS:
            raise ledger_error(number, row, f"unknown action (one of {', '.join(ACTIONS)})")
        if user is None or row["stage"] is None:
            raise ledger_error(number, row, "user_id and stage are required")
        for column in ("score", "threshold"):
            if row[column] is not None and not 0 <= row[column] <= 1:
                raise ledger_error(number, row, f"{column} {row[column]} is not a probability in [0, 1]")
        if action in INTERACTION_ACTIONS:
            if any(row[column] is None for column in ("position", "old_item", "timestamp")):
                raise ledger_error(number, row, "position, old_item and timestamp are required")
            if (user, row["position"]) in edited:
                raise ledger_error(number, row, "a second edit of the same interaction")
            edited.add((user, row["position"]))
        if action == Action.REPLACE and row["new_item"] in (None, row["old_item"]):
            raise ledger_error(number, row, "a replacement needs a new_item other than the old item")
        if action == Action.REWEIGHT:
            if user in reweighted:
                raise ledger_error(number, row, "a second reweight of the user")
            reweighted.add(user)
            weight = row["new_weight"]
            if row["old_weight"] is None or weight is None or not (math.isfinite(weight) and weight >= 0):
                raise ledger_error(number, row, "a reweight needs old_weight and a finite new_weight >= 0")
        if action == Action.DROP_USER:
            if row["old_weight"] is None or row["user_index"] is None or not _is_json_object(row["user_attributes"]):
                raise ledger_error(number, row, "a drop-user needs old_weight, user_index and user_attributes")
            index = row["user_index"]
            if index_of_dropped.setdefault(user, index) != index or dropped_at_index.setdefault(index, user) != user:
                raise ledger_error(number, row, "user_index differs between rows of the user or is shared by two")
    for number, row in enumerate(rows, 1):
        if row["action"] != Action.DROP_USER and row["user_id"] in index_of_dropped:
            raise ledger_error(number, row, "another edit of a dropped user")
    return rows


def _is_json_object(text: str | None) -> bool:
    try:
        return text is not None and isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False


def check_against_input(ledger: pa.Table, tables: Tables) -> np.ndarray:
    """Check that `ledger` may be applied to `tables`; return the input interaction row that each ledger
    row names (-1 for a reweight)."""
    rows = check_structure(ledger)
    interactions = tables.interactions
    user_row = {user: k for k, user in enumerate(tables.users["user_id"].to_pylist())}
    bounds = sequence_bounds(interactions)
    lengths = np.diff(bounds)
    training = training_mask(interactions)
    held = list(zip(*(interactions[column].to_pylist() for column in ("item_id", "timestamp", "rating"))))
    weights = tables.users["weight"].to_pylist()
    catalog = set(tables.items["item_id"].to_pylist())
    attributes: dict[int, dict[str, Any]] = {}
    input_rows = np.full(len(rows), -1, dtype=np.int64)
    per_user = Counter()  # (action, user row) -> ledger rows
    for number, row in enumerate(rows, 1):
        action = row["action"]
        k = user_row.get(row["user_id"])
        if k is None:
            raise ledger_error(number, row, "no such user in the input")
        per_user[action, k] += 1
        if action in INTERACTION_ACTIONS:
            if not 0 <= row["position"] < lengths[k]:
                raise ledger_error(number, row, f"no such position (the user has {lengths[k]} interactions)")
            input_row = int(bounds[k]) + row["position"]
            if (row["old_item"], row["timestamp"], row["rating"]) != held[input_row]:
                raise ledger_error(number, row, "old_item, timestamp and rating are not what the input holds there")
            if action != Action.DROP_USER and not training[input_row]:
                raise ledger_error(number, row, "a validation or test target; only training interactions are edited")
            input_rows[number - 1] = input_row
        if action == Action.REPLACE and row["new_item"] not in catalog:
            raise ledger_error(number, row, f"new_item '{row['new_item']}' is not in the catalog")
        if action in (Action.REWEIGHT, Action.DROP_USER) and row["old_weight"] != weights[k]:
            raise ledger_error(number, row, "old_weight is not the user's weight in the input")
        if action == Action.DROP_USER:
            if row["user_index"] != k:
                raise ledger_error(number, row, "user_index is not the user's row in the input")
            if k not in attributes:
                attributes[k] = user_attributes(tables.users, k)
            if json.loads(row["user_attributes"]) != attributes[k]:
                raise ledger_error(number, row, "user_attributes are not the input's users row")
    for number, row in enumerate(rows, 1):
        k = user_row[row["user_id"]]
        if row["action"] == Action.DROP_USER and per_user[Action.DROP_USER.value, k] != lengths[k]:
            raise ledger_error(number, row, "a drop-user must list every interaction of the user")
        emptied = per_user[Action.REMOVE.value, k] >= lengths[k] - HELD_OUT
        if row["action"] == Action.REMOVE and lengths[k] >= MIN_EVALUATED_LENGTH and emptied:
            raise ledger_error(number, row, "removes every training interaction of an evaluated user (drop it instead)")
    return input_rows


def check_against_output(ledger: pa.Table, tables: Tables) -> list[dict[str, Any]]:
    """Check what can be checked before undoing `ledger` on the output `tables` (who is there, weights,
    positions within reach; that each replaced position holds the new item is checked while undoing).
    Returns the ledger's rows."""
    rows = check_structure(ledger)
    user_row = {user: k for k, user in enumerate(tables.users["user_id"].to_pylist())}
    lengths = np.diff(sequence_bounds(tables.interactions))
    weights = tables.users["weight"].to_pylist()
    removed = Counter(row["user_id"] for row in rows if row["action"] == Action.REMOVE)
    input_users = len(user_row) + len({row["user_id"] for row in rows if row["action"] == Action.DROP_USER})
    for number, row in enumerate(rows, 1):
        action, k = row["action"], user_row.get(row["user_id"])
        if (action == Action.DROP_USER) != (k is None):
            raise ledger_error(number, row, "a dropped user is in the output, or an edited one is not")
        if action == Action.REWEIGHT and row["new_weight"] != weights[k]:
            raise ledger_error(number, row, "the output weight is not new_weight")
        if (
            action in (Action.REMOVE, Action.REPLACE)
            and not 0 <= row["position"] < lengths[k] + removed[row["user_id"]]
        ):
            raise ledger_error(number, row, "the position is beyond the user's input sequence")
        if action == Action.DROP_USER and not 0 <= row["user_index"] < input_users:
            raise ledger_error(number, row, "user_index is beyond the input users table")
    return rows
