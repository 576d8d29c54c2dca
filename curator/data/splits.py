"""Which interactions are training data under the leave-one-out split, computed from the interactions.

The split is recsys's (recsys.data.LeaveOneOut): a user with at least MIN_EVALUATED_LENGTH interactions
has the last two as validation and test targets; everything before is training, and so are all the
interactions of shorter users. Curation may only ever touch training interactions.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curator.data.ordering import sequence_bounds
from recsys.data import MIN_EVALUATED_LENGTH

HELD_OUT = 2  # validation + test target at the end of an evaluated user's sequence


def training_mask(interactions: pa.Table) -> np.ndarray:
    """(rows,) bool: True where a row of `interactions` (grouped by user, positions 0..n-1) is training."""
    lengths = np.diff(sequence_bounds(interactions)) if len(interactions) else np.zeros(0, np.int64)
    length_of_row = np.repeat(lengths, lengths)
    positions = interactions["position"].to_numpy()
    return (length_of_row < MIN_EVALUATED_LENGTH) | (positions < length_of_row - HELD_OUT)
