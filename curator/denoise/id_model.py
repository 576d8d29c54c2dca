"""The ID model: an item discriminator with a cloze head (recsys.models.item_electra) trained on a dataset's
own training sequences, and what it says about them.

Training (`train_id_model`): each step draws users, swaps items of their training sequences with the same
self-made swaps `curator adapt` learns from (curator.denoise.corruption), cuts a window of at most max_len
items out of each, masks a share of the untouched positions, and minimises the discriminator's binary
cross-entropy at every unmasked position plus the cloze head's cross-entropy at the masked ones. No label
is read: the swaps are the only noise the model is told about.

Scoring (`id_model_scores`, the "id-model" baseline of `curator evaluate`): the discriminator's p(swapped) of
every training interaction, cross-fitted. Users are split into `folds` folds and each fold is read by a
model trained on the others: a model trained on a user's sequence as it is learns that the user's real
noise belongs there (a swap it never saw is called real), and would then vouch for it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from curator.data.collaborative import TrainingInteractions
from curator.denoise.config import IdModelConfig
from curator.denoise.corruption import Corrupter
from curator.errors import InputError
from curator.seeds import derive_seed
from recsys.models.item_electra import ItemElectra, ItemElectraConfig

MIN_ITEMS = 2  # a user with fewer training items has no context to learn from
INFERENCE_WINDOWS = 256


def windows(length: int, max_len: int) -> list[slice]:
    """Consecutive windows of at most `max_len` positions covering a sequence of `length`."""
    return [slice(start, min(start + max_len, length)) for start in range(0, length, max_len)]


def padded(rows: list[np.ndarray], width: int, offset: int = 1) -> torch.Tensor:
    """(len(rows), width) the rows + `offset` (item indices + 1 are the model's), right-padded with 0."""
    batch = torch.zeros(len(rows), width, dtype=torch.long)
    for k, row in enumerate(rows):
        batch[k, : len(row)] = torch.from_numpy(row.astype(np.int64) + offset)
    return batch


def train_id_model(train: TrainingInteractions, users: np.ndarray, config: IdModelConfig, label: str) -> ItemElectra:
    """An ItemElectra trained on the training sequences of `users` (seeded by config.seed and `label`)."""
    torch.manual_seed(derive_seed(config.seed, "id-model", label) % 2**31)
    rng = np.random.default_rng(derive_seed(config.seed, "id-model", label))
    model = ItemElectra(
        ItemElectraConfig(train.num_items, config.max_len, config.hidden, config.layers, config.heads)
    ).train()
    corrupter = Corrupter(train, config.uniform_share)
    lengths = np.array([len(s) for s in corrupter.sequences])
    users = users[lengths[users] >= MIN_ITEMS]
    if not len(users):
        raise InputError(f"the ID model needs users with at least {MIN_ITEMS} training items to learn from")
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    for _ in range(config.steps):
        items, noisy, original = [], [], []
        for user in rng.choice(users, size=config.batch_windows):
            corrupted = corrupter(int(user), rng)
            start = int(rng.integers(0, max(len(corrupted.items) - config.max_len, 0) + 1))
            part = slice(start, start + config.max_len)
            items.append(corrupted.items[part])
            noisy.append(corrupted.noisy[part])
            original.append(corrupted.original[part])
        width = max(len(row) for row in items)
        batch, targets = padded(items, width), padded(original, width)  # (B, L)
        swapped = padded(noisy, width, offset=0).bool()  # (B, L)
        real = batch > 0
        masked = real & ~swapped & (torch.rand(batch.shape) < config.mask_rate)
        hidden = model(batch.masked_fill(masked, model.config.mask_token))  # (B, L, D)
        scored = real & ~masked
        loss = F.binary_cross_entropy_with_logits(model.noise_logits(hidden)[scored], swapped[scored].float())
        if masked.any():
            loss = loss + F.cross_entropy(model.cloze_logits(hidden[masked]), targets[masked] - 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@torch.no_grad()
def noise_probabilities(model: ItemElectra, sequences: list[np.ndarray]) -> list[np.ndarray]:
    """Per sequence, the discriminator's p(swapped) of each of its items, read window by window
    (INFERENCE_WINDOWS windows a pass)."""
    parts = [(k, part) for k, sequence in enumerate(sequences) for part in windows(len(sequence), model.config.max_len)]
    p = [np.zeros(len(sequence)) for sequence in sequences]
    for start in range(0, len(parts), INFERENCE_WINDOWS):
        chunk = parts[start : start + INFERENCE_WINDOWS]
        batch = padded([sequences[k][part] for k, part in chunk], model.config.max_len)
        read = torch.sigmoid(model.noise_logits(model(batch))).numpy()  # (windows, L)
        for row, (k, part) in zip(read, chunk):
            p[k][part] = row[: part.stop - part.start]
    return p


def id_model_scores(train: TrainingInteractions, config: IdModelConfig) -> np.ndarray:
    """(training interactions,) cross-fitted p(swapped) of each, in `train` order."""
    rng = np.random.default_rng(derive_seed(config.seed, "id-model", "folds"))
    fold_of_user = rng.permutation(train.num_users) % config.folds
    scores = np.zeros(len(train.rows))
    slices = train.user_slices()
    for fold in range(config.folds):
        model = train_id_model(train, np.flatnonzero(fold_of_user != fold), config, f"fold-{fold}")
        users = np.flatnonzero(fold_of_user == fold)
        for user, p in zip(users, noise_probabilities(model, [train.item[slices[user]] for user in users])):
            scores[slices[user]] = p
    return scores
