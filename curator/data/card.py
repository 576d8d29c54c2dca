"""The dataset card: a README.md in every dataset folder, so that Hugging Face `datasets` (and the Hub) read the
folder as it is meant to be read.

Its YAML `configs:` name each Parquet table as a config of its own (interactions, items, users, and the optional
ones: ledger, scores, labels_noise, profiles_items, ...): `datasets.load_dataset(FOLDER, "items", split="train")`
gives the items table. Without it, `datasets` would take every Parquet file in the folder for rows of one table.
The text says what the folder is and where it came from; the manifest stays the record that stages check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curator.data.schema import DATASET_CARD, INTERACTIONS_FILE, ITEMS_FILE, USERS_FILE

TABLES = {"interactions": INTERACTIONS_FILE, "items": ITEMS_FILE, "users": USERS_FILE}
CARD_TAGS = ("curator", "recommendation", "sequential-recommendation")

# What the optional tables hold, for the card's table list (others are listed by name only).
OPTIONAL_TABLES = {
    "ledger.parquet": "every applied change: user, position, action, old and new item, `score` (p), threshold",
    "scores.parquet": "the denoiser's `score` of every training interaction (p, the calibrated probability of "
    "noise; rank scores for baselines)",
    "user_scores.parquet": "the fake-user detector's `p_fake` of every user, the action taken and the new weight",
}


def config_name(relative: str) -> str:
    """'labels/noise.parquet' -> 'labels_noise': the table's path inside the folder, as a config name."""
    return relative.removesuffix(".parquet").replace("/", "_")


def write_dataset_card(folder: Path, manifest: dict[str, Any]) -> str:
    """Write the card of the dataset folder `folder` (its tables already written); return its text."""
    extra = sorted(
        str(path.relative_to(folder).as_posix())
        for path in folder.rglob("*.parquet")
        if path.relative_to(folder).as_posix() not in TABLES.values()
    )
    files = {**TABLES, **{config_name(relative): relative for relative in extra}}
    counts = manifest["counts"]
    parent = manifest.get("parent")
    lines = [
        "---",
        "configs:",
        *(
            line
            for name, relative in files.items()
            for line in (
                f"- config_name: {name}",
                f"  data_files: {json.dumps(relative)}",
                *(("  default: true",) if name == "interactions" else ()),
            )
        ),
        "tags:",
        *(f"- {tag}" for tag in CARD_TAGS),
        "---",
        "",
        f"# {manifest['name']}",
        "",
        f"A curator dataset folder: {counts['users']} users, {counts['items']} items, {counts['interactions']} "
        f"interactions (content hash `{manifest['content_hash'][:12]}`)"
        + (f", made from `{parent['path']}` by `{' '.join(manifest['command'])}`." if parent else "."),
        "",
        "| config | file | what it holds |",
        "|---|---|---|",
        "| interactions | interactions.parquet | user_id, item_id, timestamp, position (in the sequence), rating |",
        "| items | items.parquet | item_id, title, text attributes |",
        "| users | users.parquet | user_id, weight (loss weight, 1.0 unless a fraud stage lowered it), attributes |",
        *(f"| {config_name(relative)} | {relative} | {OPTIONAL_TABLES.get(relative, '')} |" for relative in extra),
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'items = load_dataset("FOLDER", "items", split="train")',
        "```",
        "",
        "`manifest.json` records the counts, the hashes, the parent, the source and the command and config that made "
        "the folder; `curator data info FOLDER` prints its statistics.",
        "",
    ]
    text = "\n".join(lines)
    (folder / DATASET_CARD).write_text(text, encoding="utf-8")
    return text
