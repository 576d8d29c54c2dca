"""What each profile's prompt shows, by id (the data its template renders): an item's text fields; a user's
most recent training interactions, each with the item's title, the rating and the item's profile."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator.data.dataset import Dataset
from curator.data.item_text import clean_text, item_fields
from curator.errors import OptionError
from curator.profile.config import PROFILE_FILE
from curator.profile.selection import Interaction


def item_tasks(dataset: Dataset, items: list[str]) -> dict[str, dict[str, Any]]:
    """item id -> the item prompt's data."""
    fields = item_fields(dataset)
    return {item: {"item": fields[item]} for item in items}


def user_tasks(
    dataset: Dataset, histories: dict[str, list[Interaction]], item_profiles: pa.Table
) -> dict[str, dict[str, Any]]:
    """user id -> the user prompt's data: the user's history, showing the valid ones of `item_profiles`."""
    summaries = valid_summaries(item_profiles)
    titles = dict(zip(dataset.items["item_id"].to_pylist(), dataset.items["title"].to_pylist()))
    return {
        user: {"history": [_history_entry(entry, titles, summaries) for entry in history]}
        for user, history in histories.items()
    }


def input_item_profiles(dataset: Dataset) -> pa.Table:
    """The item profiles `dataset` already holds (`--stage users` shows them)."""
    file = dataset.path / PROFILE_FILE["items"]
    if not file.is_file():
        raise OptionError(
            f"--stage users: {dataset.path} has no {PROFILE_FILE['items']}; profile the items first (--stage items)"
        )
    return pq.read_table(file)


def valid_summaries(item_profiles: pa.Table) -> dict[str, str]:
    """item id -> the summary of its profile, for the valid ones (not failed) of `item_profiles`."""
    valid = item_profiles.filter(pc.not_equal(item_profiles["status"], "failed"))
    return dict(zip(valid["item_id"].to_pylist(), valid["summary"].to_pylist()))


def _history_entry(entry: Interaction, titles: dict[str, str | None], summaries: dict[str, str]) -> dict[str, Any]:
    title = titles[entry.item_id]
    shown: dict[str, Any] = {"title": clean_text(title)} if title else {}  # titles may be null
    if entry.rating is not None:
        shown["rating"] = entry.rating
    if entry.item_id in summaries:
        shown["profile"] = summaries[entry.item_id]
    return shown
