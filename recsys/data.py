"""Item sequences, the leave-one-out split, and padded batches.

Item indices are 1-based; 0 is padding everywhere.
"""

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

MIN_EVALUATED_LENGTH = 3  # one train item, one validation target, one test target


@dataclass
class LeaveOneOut:
    """Per-user leave-one-out by time: last item = test, second-to-last = validation, the rest = train.

    Users with fewer than three interactions are kept for training (all their items) but not evaluated.
    """

    sequences: list[np.ndarray]  # per user, item indices in time order
    num_items: int
    user_weights: np.ndarray  # (num_users,) loss weight per user

    def __post_init__(self):
        lengths = np.array([len(s) for s in self.sequences])
        self.evaluated = np.flatnonzero(lengths >= MIN_EVALUATED_LENGTH)

    def train_sequences(self) -> list[np.ndarray]:
        return [s[:-2] if len(s) >= MIN_EVALUATED_LENGTH else s for s in self.sequences]

    def histories_and_targets(self, stage: str) -> tuple[list[np.ndarray], np.ndarray]:
        """Validation sees the train part; test sees train + validation (the protocol of EVALUATION.md)."""
        cut = {"valid": 2, "test": 1}[stage]
        histories = [self.sequences[u][:-cut] for u in self.evaluated]
        targets = np.array([self.sequences[u][-cut] for u in self.evaluated], dtype=np.int64)
        return histories, targets


def left_pad(sequences: list[np.ndarray], length: int) -> torch.Tensor:
    """(B, length) int64: the last `length` items of each sequence, left-padded with 0."""
    out = np.zeros((len(sequences), length), dtype=np.int64)
    for row, seq in enumerate(sequences):
        tail = seq[-length:]
        if len(tail):
            out[row, length - len(tail) :] = tail
    return torch.from_numpy(out)


@dataclass
class TrainBatch:
    inputs: torch.Tensor  # (B, L) items 0..N, left-padded
    targets: torch.Tensor  # (B, L) next item at each position, 0 where there is none
    weights: torch.Tensor  # (B,) per-user loss weight
    users: torch.Tensor  # (B,) int64 index of each row's user in the sequences


def train_batches(
    sequences: list[np.ndarray],
    user_weights: np.ndarray,
    batch_size: int,
    max_len: int,
    rng: np.random.Generator,
) -> Iterator[TrainBatch]:
    """Shuffled batches of whole user sequences: every position predicts the next item."""
    usable = np.array([u for u, s in enumerate(sequences) if len(s) >= 2], dtype=np.int64)
    order = rng.permutation(usable)
    for start in range(0, len(order), batch_size):
        users = order[start : start + batch_size]
        # Pad only to the longest sequence in the batch: most users are far shorter than max_len.
        length = min(max_len, max(len(sequences[u]) for u in users) - 1)
        yield TrainBatch(
            inputs=left_pad([sequences[u][:-1] for u in users], length),
            targets=left_pad([sequences[u][1:] for u in users], length),
            weights=torch.from_numpy(user_weights[users].astype(np.float32)),
            users=torch.from_numpy(users),
        )


def num_train_batches(sequences: list[np.ndarray], batch_size: int) -> int:
    usable = sum(1 for s in sequences if len(s) >= 2)
    return -(-usable // batch_size)
