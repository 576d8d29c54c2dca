"""What the profile prompts see: which users and items, and each user's training history.

A user's history is the training part of the leave-one-out split only (recsys.data.LeaveOneOut: the
last two items of a user with three or more are validation and test targets), so that profiles never
carry the items that evaluation will ask for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from curator.data.dataset import Dataset
from curator.data.sequences import user_sequences
from curator.errors import OptionError
from recsys.data import LeaveOneOut


@dataclass(frozen=True)
class Interaction:
    item_id: str
    rating: float | None


def training_histories(dataset: Dataset, users: Sequence[str], recent: int) -> dict[str, list[Interaction]]:
    """For each of `users`: the last `recent` interactions of the training part, oldest first."""
    sequences = user_sequences(dataset)
    train_lengths = [
        len(s) for s in LeaveOneOut(sequences.sequences, sequences.num_items, sequences.weights).train_sequences()
    ]
    row_of = {user: k for k, user in enumerate(sequences.user_ids)}
    bounds = dataset.sequence_bounds()
    item_ids = dataset.interactions["item_id"].to_pylist()
    ratings = dataset.interactions["rating"].to_pylist()
    histories = {}
    for user in users:
        k = row_of[user]
        end = bounds[k] + train_lengths[k]
        start = max(bounds[k], end - recent)
        histories[user] = [Interaction(item_ids[row], ratings[row]) for row in range(start, end)]
    return histories


def select_users(
    dataset: Dataset, named_users: Sequence[str] | None, named_items: Sequence[str] | None, limit: int | None
) -> list[str]:
    """`--users` if given; none if only `--items` is given; else all users. In dataset order, at most `limit`."""
    all_users = dataset.users["user_id"].to_pylist()
    if named_users is not None:
        users = _in_dataset_order(all_users, named_users, "--users", "user")
    else:
        users = [] if named_items is not None else all_users
    return users[:limit] if limit is not None else users


def select_items(
    dataset: Dataset,
    named_users: Sequence[str] | None,
    named_items: Sequence[str] | None,
    limit: int | None,
    histories: dict[str, list[Interaction]],
) -> list[str]:
    """`--items` (or all items when neither `--items` nor `--users` is given; at most `limit` of them),
    plus every item in the selected users' histories, whose profiles the user prompts show. Dataset order."""
    all_items = dataset.items["item_id"].to_pylist()
    if named_items is not None:
        chosen = _in_dataset_order(all_items, named_items, "--items", "item")
    else:
        chosen = all_items if named_users is None else []
    chosen = set(chosen[:limit] if limit is not None else chosen)
    chosen.update(entry.item_id for history in histories.values() for entry in history)
    return [item for item in all_items if item in chosen]


def _in_dataset_order(all_ids: list[str], named: Sequence[str], option: str, what: str) -> list[str]:
    known = set(all_ids)
    unknown = [name for name in named if name not in known]
    if unknown:
        raise OptionError(
            f"{option}: unknown {what} '{unknown[0]}'" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
        )
    wanted = set(named)
    return [identifier for identifier in all_ids if identifier in wanted]
