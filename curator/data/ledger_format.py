"""The ledger's format: every change a curation stage applied to a dataset, with what it replaced, so
that input + ledger gives the output and output + ledger gives the input back, exactly.

`ledger.parquet` in a curated dataset folder has one row per changed interaction or user:

    user_id, action         remove | replace | drop-user | reweight
    position                the interaction's position in the INPUT sequence (null for reweight)
    old_item, new_item      the item there in the input; replace: the item put in its place
    timestamp, rating       the input row's values (a removed row lives on here)
    old_weight, new_weight  users.weight before and after (reweight); the dropped user's weight (drop-user)
    score, threshold        the decision: the probability and the threshold it passed (null without one)
    stage, model, adapter   who decided
    user_index              drop-user: the user's row in the input users table (where it goes back)
    user_attributes         drop-user: the other columns of that users row, as a JSON object

A drop-user is one row per interaction of the user (its whole sequence lives on in the ledger). A
replaced interaction keeps its timestamp and loses its rating (that rating was given to the old item).
Removals shift the later positions of a sequence down; replacements keep them. Rows are in dataset
order: user, then position.
"""

from enum import Enum

import pyarrow as pa

LEDGER_FILE = "ledger.parquet"


class Action(str, Enum):
    REMOVE = "remove"
    REPLACE = "replace"
    DROP_USER = "drop-user"
    REWEIGHT = "reweight"


ACTIONS = tuple(action.value for action in Action)
# Actions that name one interaction of the input (position, old item, timestamp, rating).
INTERACTION_ACTIONS = (Action.REMOVE.value, Action.REPLACE.value, Action.DROP_USER.value)
# Actions that take an interaction out of the sequence.
REMOVING_ACTIONS = (Action.REMOVE.value, Action.DROP_USER.value)

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("position", pa.int32()),
        pa.field("action", pa.string()),
        pa.field("old_item", pa.string()),
        pa.field("new_item", pa.string()),
        pa.field("timestamp", pa.int64()),
        pa.field("rating", pa.float32()),
        pa.field("old_weight", pa.float32()),
        pa.field("new_weight", pa.float32()),
        pa.field("score", pa.float64()),
        pa.field("threshold", pa.float64()),
        pa.field("stage", pa.string()),
        pa.field("model", pa.string()),
        pa.field("adapter", pa.string()),
        pa.field("user_index", pa.int64()),
        pa.field("user_attributes", pa.string()),
    ]
)
