"""What `curator train --align` aligns the recommender with (recsys.align), read from a dataset folder.

- profiles: the embeddings of the folder's LLM profiles (`profiles/items.parquet`, and `profiles/users.parquet`
  when it exists and users are aligned). Profiles are written from training interactions only
  (curator.profile.selection), so aligning with them leaks no validation or test item.
- text: each item's raw text (its text fields joined, title first: "title | year | genres"), embedded with
  the default sentence encoder (MiniLM). No user text.

Rows are in the split's order (item index i is row i, row 0 padding; users in sequence order); an item or user
without a valid profile has no row (mask 0). `alignment_record` is what the run's metrics.json says it aligned to.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator.data.dataset import Dataset
from curator.data.item_text import item_texts
from curator.data.sequences import UserSequences
from curator.errors import InputError
from curator.profile.config import ID_COLUMN, PROFILE_FILE

ALIGN_CHOICES = ("none", "text", "profiles")


def check_alignment_input(dataset: Dataset, align: str) -> None:
    """A clear error before anything trains when `--align profiles` has no item profiles to read."""
    if align == "profiles" and not (dataset.path / PROFILE_FILE["items"]).is_file():
        raise InputError(
            f"--align profiles: {dataset.path} has no {PROFILE_FILE['items']}; write profiles with "
            f"`curator profile {dataset.path} --out FOLDER` and train on FOLDER, or use --align text"
        )


def stages_aligned(dataset: Dataset, align: str, users: bool) -> tuple[str, ...]:
    """The profile stages a run aligns with: items, and users when asked for and the folder has them."""
    if align != "profiles":
        return ()
    with_users = users and (dataset.path / PROFILE_FILE["users"]).is_file()
    return ("items", "users") if with_users else ("items",)


def profile_rows(dataset: Dataset, stage: str, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(len(ids), E) float32 embeddings of `stage`'s valid profiles, in the order of `ids`, and which rows have one."""
    table = pq.read_table(dataset.path / PROFILE_FILE[stage], columns=[ID_COLUMN[stage], "status", "embedding"])
    table = table.filter(pc.and_(pc.not_equal(table["status"], "failed"), pc.is_valid(table["embedding"])))
    if len(table) == 0:
        raise InputError(f"--align profiles: {dataset.path / PROFILE_FILE[stage]} holds no valid profile")
    vectors = dict(zip(table[ID_COLUMN[stage]].to_pylist(), np.array(table["embedding"].to_pylist(), np.float32)))
    dimension = len(next(iter(vectors.values())))
    rows = np.zeros((len(ids), dimension), dtype=np.float32)
    present = np.zeros(len(ids), dtype=bool)
    for row, identifier in enumerate(ids):
        if identifier in vectors:
            rows[row], present[row] = vectors[identifier], True
    return rows, present


def text_rows(dataset: Dataset, ids: list[str], embed) -> tuple[np.ndarray, np.ndarray]:
    """(len(ids), E) embeddings of each item's raw text (`embed`: texts -> unit rows), and which rows have text."""
    texts = dict(zip(dataset.items["item_id"].to_pylist(), item_texts(dataset)))
    shown = [texts.get(identifier, "") for identifier in ids]
    present = np.array([bool(text) for text in shown])
    rows = embed([text for text in shown if text])
    out = np.zeros((len(ids), rows.shape[1]), dtype=np.float32)
    out[present] = rows
    return out, present


def alignment_tables(
    dataset: Dataset, data: UserSequences, align: str, users: bool, embed
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """stage -> (rows, present) in the split's order: items (row 0 padding), and users where aligned.
    `embed`: the sentence encoder's texts -> rows, used by `text` only."""
    if align == "text":
        rows, present = text_rows(dataset, data.item_ids, embed)
    else:
        rows, present = profile_rows(dataset, "items", data.item_ids)
    tables = {"items": (np.vstack([np.zeros_like(rows[:1]), rows]), np.concatenate([[False], present]))}
    if "users" in stages_aligned(dataset, align, users):
        tables["users"] = profile_rows(dataset, "users", data.user_ids)
    return tables


def file_digest(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def alignment_record(dataset: Dataset, align: str, users: bool, embedding_model: str) -> dict[str, Any] | None:
    """What a run aligned to, for its metrics.json: per stage the profiles' file hash, models, prompt
    versions and how many are valid; for raw text the encoder and a hash of the texts. None without alignment."""
    if align == "none":
        return None
    if align == "text":
        texts = "\n".join(item_texts(dataset))
        return {
            "source": "text",
            "items": {
                "text": "item text fields joined by ' | ', title first",
                "embedding_model": embedding_model,
                "hash": hashlib.sha256(texts.encode()).hexdigest(),
            },
        }
    record: dict[str, Any] = {"source": "profiles"}
    for stage in stages_aligned(dataset, align, users):
        file = dataset.path / PROFILE_FILE[stage]
        table = pq.read_table(file, columns=["status", "model", "quant", "prompt_version", "embedding_model"])
        valid = pc.sum(pc.not_equal(table["status"], "failed")).as_py() or 0
        record[stage] = {
            "file": PROFILE_FILE[stage],
            "hash": file_digest(file),
            "profiles": len(table),
            "valid": valid,
            **{
                column: sorted(set(table[column].to_pylist()))
                for column in ("model", "quant", "prompt_version", "embedding_model")
            },
        }
    return record
