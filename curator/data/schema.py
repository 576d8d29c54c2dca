"""Column names and Arrow types of the three tables of a dataset folder.

Only the columns listed here are required; items and users may carry any number of extra text
columns (genres, description, age, ...), always stored as strings.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from curator.errors import InputError

SCHEMA_VERSION = 1

INTERACTIONS_FILE = "interactions.parquet"
ITEMS_FILE = "items.parquet"
USERS_FILE = "users.parquet"
MANIFEST_FILE = "manifest.json"
REQUIRED_FILES = (INTERACTIONS_FILE, ITEMS_FILE, USERS_FILE, MANIFEST_FILE)
# The dataset card (curator.data.card): what Hugging Face `datasets` reads the folder's tables by.
DATASET_CARD = "README.md"
# The record of the stage that wrote a folder (curator.run.stage): its fingerprint, identity and summary.
STAGE_FILE = "stage.json"

INTERACTIONS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("timestamp", pa.int64(), nullable=False),
        pa.field("position", pa.int32(), nullable=False),
        pa.field("rating", pa.float32()),
    ]
)
ITEMS_REQUIRED = {"item_id": pa.string(), "title": pa.string()}
USERS_REQUIRED = {"user_id": pa.string(), "weight": pa.float32()}

# Attribute columns (everything that is not required) are free text.
ATTRIBUTE_TYPE = pa.string()


def check_columns(table: pa.Table, required: Mapping[str, pa.DataType], file: str) -> None:
    """Raise InputError unless `table` has every required column with exactly the required type."""
    for name, expected in required.items():
        if name not in table.column_names:
            raise InputError(f"{file}: missing column '{name}' (columns: {', '.join(table.column_names)})")
        actual = table.schema.field(name).type
        if actual != expected:
            raise InputError(f"{file}: column '{name}' has type {actual}, expected {expected}")


def check_attribute_columns(table: pa.Table, required: Mapping[str, pa.DataType], file: str) -> None:
    """Raise InputError if a non-required column is not a string column."""
    for field in table.schema:
        if field.name not in required and field.type != ATTRIBUTE_TYPE:
            raise InputError(f"{file}: attribute column '{field.name}' has type {field.type}, expected string")


def check_no_null(table: pa.Table, column: str, file: str) -> None:
    nulls = table[column].null_count
    if nulls:
        raise InputError(f"{file}: column '{column}' has {nulls} null value(s)")


def check_unique(table: pa.Table, column: str, file: str) -> None:
    if len(table) and len(table[column].unique()) != len(table):
        counts = pc.value_counts(table[column])
        duplicate = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"].as_py()
        raise InputError(f"{file}: {column} '{duplicate}' appears more than once")
