"""Training with full cross-entropy over all items, validation-only early stopping, checkpoints and resume.

A checkpoint is written after every epoch and holds everything the next epoch depends on (weights,
optimizer, the shuffling generator, torch's RNGs, the early-stopping state), so a killed run continued
with `resume=True` on the same device ends exactly where an uninterrupted one would. A run may also be
continued on another device (the checkpoint is moved there); it then follows another random stream.

Data-parallel (DDP) when torch.distributed is initialised (e.g. under `torchrun --nproc-per-node N`): every
process draws the same global batch (same seed, same shuffling generator), takes rows rank, rank + N, ...
of it, and weighs its loss by its share of the global batch's weight, so that DDP's averaged gradient is
the one-process gradient of the whole batch: the same training up to float rounding (without dropout,
whose masks each process draws for its own rows). Every process evaluates (the weights are the same
everywhere, so are the early-stopping decisions); only rank 0 writes the checkpoint, and every process
resumes from it.
"""

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from recsys.align import AlignConfig, Alignment, AlignText
from recsys.data import LeaveOneOut, num_train_batches, train_batches
from recsys.loss import projected_cross_entropy
from recsys.metrics import DEFAULT_KS, ranking_metrics, target_ranks
from recsys.scoring import history_scores

CHECKPOINT = "checkpoint.pt"


class CheckpointMismatch(Exception):
    """The checkpoint to resume was written by a run with another configuration."""


@dataclass
class TrainConfig:
    max_epochs: int = 200
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_len: int = 50
    eval_batch_size: int = 512
    seed: int = 0
    ks: tuple[int, ...] = DEFAULT_KS
    monitor: str = "NDCG@10"
    align: AlignConfig | None = None  # an alignment term with fixed text embeddings (recsys.align), or none
    device: str = "cpu"  # where the model trains and scores; not part of a checkpoint's identity

    def identity(self) -> dict:
        """What a checkpoint must match to be resumed."""
        identity = asdict(self)
        del identity["device"]
        if self.align is None:  # as checkpoints written before alignment existed recorded it
            del identity["align"]
        return identity


@dataclass
class EpochLog:
    epoch: int
    loss: float
    seconds: float
    valid: dict[str, float]


@dataclass
class FitResult:
    best_epoch: int
    valid: dict[str, float]
    test: dict[str, float]
    history: list[EpochLog] = field(default_factory=list)

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean([e.seconds for e in self.history])) if self.history else 0.0


ProgressCallback = Callable[[str, int, int], None]  # (phase, done, total)


def full_ce_loss(model: nn.Module, hidden: torch.Tensor, targets, weights) -> torch.Tensor:
    """Cross-entropy over all items at every non-padding position of `hidden` (B, L, D), weighted per user.

    Only real positions are projected onto the catalog: with short sequences most of a padded batch is
    padding. Under DDP the loss is this process's rows' part of the global batch's loss, times the number
    of processes (DDP averages).
    """
    real = targets > 0  # (B, L)
    position_weights = weights[:, None].expand_as(targets)[real]  # (P,)
    loss = projected_cross_entropy(hidden[real], model.item_embedding.weight, targets[real], position_weights)
    if not dist.is_initialized():
        return loss
    local_weight = position_weights.sum().detach()
    global_weight = local_weight.clone()
    dist.all_reduce(global_weight)
    return loss * local_weight / global_weight * dist.get_world_size()


def global_mean(value: torch.Tensor) -> float:
    """`value` averaged over the processes (itself on one): under DDP, the global batch's loss."""
    if dist.is_initialized():
        value = value.clone()
        dist.all_reduce(value)
        value /= dist.get_world_size()
    return value.item()


def rank_and_size() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 without torch.distributed)."""
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def evaluate(
    model: nn.Module, split: LeaveOneOut, stage: str, config: TrainConfig, progress: ProgressCallback | None = None
) -> dict[str, float]:
    """Full-ranking HR/NDCG/MRR@K of the `stage` ('valid' or 'test') targets, seen items filtered."""
    return ranking_metrics(stage_ranks(model, split, stage, config, progress), config.ks)


@torch.no_grad()
def stage_ranks(
    model: nn.Module, split: LeaveOneOut, stage: str, config: TrainConfig, progress: ProgressCallback | None = None
) -> np.ndarray:
    """(len(split.evaluated),) 0-based full-ranking rank of each evaluated user's `stage` target, seen items
    filtered."""
    model.eval()
    histories, targets = split.histories_and_targets(stage)
    ranks = []
    total = len(histories)
    for start in range(0, total, config.eval_batch_size):
        batch = histories[start : start + config.eval_batch_size]
        scores = history_scores(model, batch, config.max_len)  # (B, N+1)
        batch_targets = torch.from_numpy(targets[start : start + len(batch)]).to(scores.device)
        ranks.append(target_ranks(scores, batch_targets).cpu().numpy())
        if progress:
            progress(stage, min(start + len(batch), total), total)
    return np.concatenate(ranks)


def _save(path: Path, state: dict):
    # Write-then-rename: a run killed while saving keeps its previous checkpoint. Through a Python file, so that
    # a full or read-only disk is an OSError with its errno (the cause of torch's own error), not a bare one.
    tmp = path.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as file:
            torch.save(state, file)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_best(model: nn.Module, run_dir: Path) -> nn.Module:
    """`model` (built as for the run) with the best validation weights that `fit` kept in `run_dir`."""
    saved = torch.load(run_dir / CHECKPOINT, map_location=model.item_embedding.weight.device, weights_only=False)
    model.load_state_dict(saved["state"]["best_model"])
    return model


def fit(
    model: nn.Module,
    split: LeaveOneOut,
    config: TrainConfig,
    run_dir: Path,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    text: AlignText | None = None,
) -> FitResult:
    """Trains until validation `config.monitor` stops improving, then tests the best weights once.

    With `config.align`, an alignment term with `text` (recsys.align) is added to the loss; its heads are
    trained and checkpointed next to the model."""
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / CHECKPOINT
    device = torch.device(config.device)
    rank, size = rank_and_size()
    alignment = None
    if config.align is not None:
        if text is None:
            raise ValueError("config.align needs the text to align to")
        if size > 1:
            raise ValueError("alignment is not data-parallel: its heads are outside the DDP-wrapped model")
        alignment = Alignment(config.align, model.item_embedding.weight.shape[1], text.items.embeddings.shape[1])
        alignment.to(device)
        text = text.to(device)
    model.to(device)  # before the optimizer exists, so its state lives on the same device
    forward = DistributedDataParallel(model) if size > 1 else model
    parameters = [*model.parameters(), *(alignment.parameters() if alignment is not None else [])]
    optimizer = torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    state = {"epoch": 0, "best_epoch": 0, "best_score": -1.0, "best_valid": {}, "best_model": None, "history": []}

    if resume and checkpoint_path.exists():
        saved = torch.load(checkpoint_path, map_location=device, weights_only=False)
        if saved["config"] != config.identity():
            raise CheckpointMismatch(f"{checkpoint_path} was written with another config; start a new run")
        model.load_state_dict(saved["model"])
        if alignment is not None:
            alignment.load_state_dict(saved["alignment"])
        optimizer.load_state_dict(saved["optimizer"])
        rng.bit_generator.state = saved["rng"]
        torch.set_rng_state(saved["torch_rng"].cpu())
        if device.type == "cuda" and saved.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(saved["cuda_rng"].cpu())  # dropout draws from the CUDA generator
        state = saved["state"]

    train = split.train_sequences()
    total_batches = num_train_batches(train, config.batch_size)
    while state["epoch"] < config.max_epochs and state["epoch"] - state["best_epoch"] < config.patience:
        epoch = state["epoch"] + 1
        model.train()
        started = time.perf_counter()
        losses = []
        for i, batch in enumerate(train_batches(train, split.user_weights, config.batch_size, config.max_len, rng)):
            rows = slice(rank, None, size)  # this process's rows of the global batch (all of them on one)
            inputs, targets, weights, users = (
                part[rows].to(device) for part in (batch.inputs, batch.targets, batch.weights, batch.users)
            )
            hidden = forward(inputs)  # (B, L, D)
            loss = full_ce_loss(model, hidden, targets, weights)
            if alignment is not None:
                loss = loss + alignment.loss(model.item_embedding.weight, hidden, inputs, targets, users, text)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(global_mean(loss.detach()))
            if progress:
                progress(f"epoch {epoch}", i + 1, total_batches)
        seconds = time.perf_counter() - started
        valid = evaluate(model, split, "valid", config, progress)
        log = EpochLog(epoch, float(np.mean(losses)), seconds, valid)
        state["history"].append(asdict(log))
        state["epoch"] = epoch
        if valid[config.monitor] > state["best_score"]:
            state.update(
                best_epoch=epoch,
                best_score=valid[config.monitor],
                best_valid=valid,
                best_model={k: v.clone() for k, v in model.state_dict().items()},
            )
        if rank == 0:
            _save(
                checkpoint_path,
                {
                    "config": config.identity(),
                    "model": model.state_dict(),
                    "alignment": alignment.state_dict() if alignment is not None else None,
                    "optimizer": optimizer.state_dict(),
                    "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None,
                    "state": state,
                },
            )
        if on_epoch:
            on_epoch(log)

    model.load_state_dict(state["best_model"])
    test = evaluate(model, split, "test", config, progress)
    history = [EpochLog(**e) for e in state["history"]]
    return FitResult(state["best_epoch"], state["best_valid"], test, history)
