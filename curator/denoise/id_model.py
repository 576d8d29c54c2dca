"""The ID model: an item discriminator with a cloze head (recsys.models.item_electra) trained on a dataset's
own training sequences, and what it says about them.

Training (`train_id_model`): each step draws users, swaps items of their training sequences with the same
self-made swaps `curator adapt` learns from (curator.denoise.corruption), cuts a window of at most max_len
items out of each and masks a share of its positions, swapped or not. The discriminator's binary
cross-entropy counts at every position (at a masked one it learns how likely a swap is from the context
alone: what it says of an item it does not know), the cloze head's cross-entropy at the masked ones, whose
target is the user's own item: at a swapped position that is the item the swap replaced, which is what a
replacement has to find. No label is read: the swaps are the only noise the model is told about.

Everything is cross-fitted. Users are split into `folds` folds (by a hash of their id, so a dataset's user
falls in the same fold in `curator adapt` and in `curator denoise`) and each fold is read by a model
trained on the others: a model trained on a user's sequence as it is learns that the user's real noise
belongs there (a swap it never saw is called real), and would then vouch for it.

- `id_model_scores`: the "id-model" baseline of `curator evaluate`, the discriminator's p(swapped) alone.
- `IdModels` / `SequenceEvidence`: the fold models an adapter carries, and their reading of one dataset
  (its items mapped to the models' by item id; an item the models never saw enters as MASK): the
  discriminator's logit of every position as two features of the denoiser head (ID_FEATURES), and the cloze
  head's log-probability of every catalog item at a masked position for the replacement ranker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from curator.data.atomic import atomic_write_file
from curator.data.collaborative import TrainingInteractions
from curator.denoise.config import IdModelConfig
from curator.denoise.corruption import Corrupter
from curator.errors import InputError
from curator.seeds import derive_seed
from recsys.models.item_electra import ItemElectra, ItemElectraConfig

MIN_ITEMS = 2  # a user with fewer training items has no context to learn from
INFERENCE_WINDOWS = 256
ID_FEATURES = ("id_logit", "id_logit_z")  # the discriminator's logit, and the same standardised within the user
WEIGHTS_FILE = "id_model.safetensors"
META_FILE = "id_model.json"


def windows(length: int, max_len: int) -> list[slice]:
    """Consecutive windows of at most `max_len` positions covering a sequence of `length`."""
    return [slice(start, min(start + max_len, length)) for start in range(0, length, max_len)]


def padded(rows: list[np.ndarray], width: int, offset: int = 1) -> torch.Tensor:
    """(len(rows), width) the rows + `offset` (item indices + 1 are the model's tokens), right-padded with 0."""
    batch = torch.zeros(len(rows), width, dtype=torch.long)
    for k, row in enumerate(rows):
        batch[k, : len(row)] = torch.from_numpy(row.astype(np.int64) + offset)
    return batch


def user_folds(user_ids: Sequence[object], folds: int) -> np.ndarray:
    """(users,) the fold of each user, from its id alone: the same in every dataset that holds the user."""
    return np.array([derive_seed(0, "id-model", "fold", user_id) % folds for user_id in user_ids], dtype=np.int64)


def train_id_model(
    train: TrainingInteractions,
    users: np.ndarray,
    config: IdModelConfig,
    label: str,
    advance: Callable[[], None] = lambda: None,
    stop: Callable[[], bool] = lambda: False,
) -> ItemElectra:
    """An ItemElectra trained on the training sequences of `users` (seeded by config.seed and `label`) for
    config.steps steps, or fewer when `stop()` says so (it is asked after each); `advance` is called after
    every step."""
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
        masked = real & (torch.rand(batch.shape) < config.mask_rate)
        hidden = model(batch.masked_fill(masked, model.config.mask_token))  # (B, L, D)
        loss = F.binary_cross_entropy_with_logits(model.noise_logits(hidden)[real], swapped[real].float())
        if masked.any():
            loss = loss + F.cross_entropy(model.cloze_logits(hidden[masked]), targets[masked] - 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        advance()
        if stop():
            break
    return model.eval()


@torch.no_grad()
def noise_logits(model: ItemElectra, tokens: list[np.ndarray]) -> list[np.ndarray]:
    """Per sequence of tokens (item index + 1, or MASK), the discriminator's logit that each position was
    swapped in, read window by window (INFERENCE_WINDOWS windows a pass)."""
    parts = [(k, part) for k, sequence in enumerate(tokens) for part in windows(len(sequence), model.config.max_len)]
    logits = [np.zeros(len(sequence)) for sequence in tokens]
    for start in range(0, len(parts), INFERENCE_WINDOWS):
        chunk = parts[start : start + INFERENCE_WINDOWS]
        batch = padded([tokens[k][part] for k, part in chunk], model.config.max_len, offset=0)
        read = model.noise_logits(model(batch)).numpy()  # (windows, L)
        for row, (k, part) in zip(read, chunk):
            logits[k][part] = row[: part.stop - part.start]
    return logits


def cross_fitted(
    train: TrainingInteractions,
    fold_of_user: np.ndarray,
    config: IdModelConfig,
    advance: Callable[[], None] = lambda: None,
    stop: Callable[[int], bool] = lambda fold: False,
) -> list[ItemElectra]:
    """One model per fold (`fold_of_user`: (users,) in 0..config.folds - 1), each trained on the users of the
    other folds (fold k's steps end early when `stop(k)` says so)."""
    return [
        train_id_model(
            train, np.flatnonzero(fold_of_user != fold), config, f"fold-{fold}", advance, partial(stop, fold)
        )
        for fold in range(config.folds)
    ]


def id_model_scores(train: TrainingInteractions, config: IdModelConfig) -> np.ndarray:
    """(training interactions,) cross-fitted p(swapped) of each, in `train` order (users folded by index)."""
    fold_of_user = user_folds(range(train.num_users), config.folds)
    models = cross_fitted(train, fold_of_user, config)
    evidence = SequenceEvidence(models, np.arange(train.num_items) + 1, fold_of_user)
    sequences = train.sequences()
    users = [user for user in range(train.num_users) if len(sequences[user])]
    scores = np.zeros(len(train.rows))
    slices = train.user_slices()
    for user, logits in zip(users, evidence.logits(users, [sequences[user] for user in users])):
        scores[slices[user]] = 1 / (1 + np.exp(-logits))
    return scores


@dataclass
class IdModels:
    """The fold models an adapter carries, and the item ids of the catalog they were trained on (in their
    token order: token k + 1 is item_ids[k])."""

    models: list[ItemElectra]
    item_ids: list[str]

    def save(self, folder: Path) -> None:
        """Write WEIGHTS_FILE, then META_FILE (each whole or not at all: META_FILE says both are there)."""
        state = {f"fold{k}.{name}": v for k, m in enumerate(self.models) for name, v in m.state_dict().items()}
        tensors = {k: v.contiguous() for k, v in state.items()}
        atomic_write_file(folder / WEIGHTS_FILE, lambda target: save_file(tensors, str(target)))
        meta = {"config": asdict(self.models[0].config), "folds": len(self.models), "item_ids": self.item_ids}
        atomic_write_file(folder / META_FILE, lambda target: target.write_text(json.dumps(meta) + "\n"))

    @staticmethod
    def saved_in(folder: Path) -> bool:
        return (folder / META_FILE).is_file()

    @classmethod
    def load(cls, folder: Path) -> IdModels:
        meta = json.loads((folder / META_FILE).read_text())
        state = load_file(str(folder / WEIGHTS_FILE))
        models = []
        for k in range(meta["folds"]):
            model = ItemElectra(ItemElectraConfig(**meta["config"]))
            prefix = f"fold{k}."
            model.load_state_dict({n.removeprefix(prefix): v for n, v in state.items() if n.startswith(prefix)})
            models.append(model.eval())
        return cls(models, meta["item_ids"])

    def reading(self, item_ids: list[str], user_ids: list[str]) -> SequenceEvidence:
        """The models bound to a dataset of these items and users (in its items' and users' order)."""
        token_of = {item_id: k + 1 for k, item_id in enumerate(self.item_ids)}
        mask = self.models[0].config.mask_token
        tokens = np.array([token_of.get(item_id, mask) for item_id in item_ids], dtype=np.int64)
        return SequenceEvidence(self.models, tokens, user_folds(user_ids, len(self.models)))


@dataclass
class SequenceEvidence:
    """What the fold models say about one dataset's sequences; each user read by the model of its fold."""

    models: list[ItemElectra]
    tokens: np.ndarray  # (dataset items,) each item's token in the models (MASK: an item they never saw)
    fold_of_user: np.ndarray  # (dataset users,)

    def logits(self, users: list[int], sequences: list[np.ndarray]) -> list[np.ndarray]:
        """Per user, the discriminator's logit of each item of its sequence (dataset item indices)."""
        out: list[np.ndarray] = [np.zeros(0)] * len(users)
        folds = self.fold_of_user[np.asarray(users, dtype=np.int64)]
        for fold, model in enumerate(self.models):
            chosen = np.flatnonzero(folds == fold)
            read = noise_logits(model, [self.tokens[sequences[k]] for k in chosen])
            for k, logits in zip(chosen, read):
                out[k] = logits
        return out

    def features(self, users: list[int], sequences: list[np.ndarray]) -> list[np.ndarray]:
        """Per user, (P, len(ID_FEATURES)) float32: the logit of each position and the logit standardised
        within the user (how much of an outlier the item is for this user)."""
        features = []
        for logits in self.logits(users, sequences):
            spread = logits.std()
            z = (logits - logits.mean()) / spread if spread > 0 else np.zeros(len(logits))
            features.append(np.stack([logits, z], axis=1).astype(np.float32))
        return features

    @torch.no_grad()
    def cloze_log_probs(self, user: int, items: np.ndarray, position: int) -> np.ndarray:
        """(dataset items,) the cloze head's log-probability of each item at `position` of `user`'s sequence
        with that position masked (the window of max_len positions around it); an item the models never saw
        gets the lowest log-probability of any."""
        model = self.models[self.fold_of_user[user]]
        max_len = model.config.max_len
        start = int(np.clip(position - max_len // 2, 0, max(len(items) - max_len, 0)))
        window = self.tokens[items[start : start + max_len]].copy()
        window[position - start] = model.config.mask_token
        hidden = model(torch.from_numpy(window)[None])[0, position - start]  # (D,)
        log_probs = torch.log_softmax(model.cloze_logits(hidden[None])[0], dim=0).numpy()  # (model items,)
        known = self.tokens <= model.config.num_items
        out = np.full(len(self.tokens), log_probs.min(), dtype=np.float32)
        out[known] = log_probs[self.tokens[known] - 1]
        return out
