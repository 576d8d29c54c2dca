"""What the LLM reads of an item: its text fields, cleaned and bounded.

Item titles and descriptions are untrusted text: HTML entities are decoded, whitespace collapsed and each
field cut at FIELD_LIMIT characters, so that whatever a catalog holds, a prompt stays bounded.
"""

from __future__ import annotations

import html
import re

from curator.data.dataset import Dataset

FIELD_LIMIT = 500  # characters kept of one item field: bounds the prompt whatever the catalog holds
WHITESPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """HTML entities decoded (&amp; -> &), whitespace and newlines collapsed, at most FIELD_LIMIT characters."""
    return WHITESPACE.sub(" ", html.unescape(text)).strip()[:FIELD_LIMIT]


def item_fields(dataset: Dataset) -> dict[str, dict[str, str]]:
    """item_id -> {column: cleaned text} for every non-empty text column (title first)."""
    columns = [name for name in dataset.items.column_names if name != "item_id"]
    fields: dict[str, dict[str, str]] = {}
    for row in dataset.items.select(["item_id", *columns]).to_pylist():
        cleaned = {name: clean_text(row[name]) for name in columns if row[name] is not None}
        fields[row["item_id"]] = {name: text for name, text in cleaned.items() if text}
    return fields


def item_texts(dataset: Dataset) -> list[str]:
    """One line per item, in items-table order: its text fields (title first), joined by ' | ' ("" for an
    item without text)."""
    fields = item_fields(dataset)
    return [" | ".join(fields[item].values()) for item in dataset.items["item_id"].to_pylist()]
