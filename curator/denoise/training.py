"""`curator adapt`'s work: train a denoiser on self-made corruptions of the data's own training sequences,
and save it as an adapter folder (curator.denoise.denoiser).

1. Set-up (`TrainingSet`, `Trainee`): users with at least MIN_TRAIN_ITEMS training items are split (by
   seed): most train the head and the LoRA adapter; a held-out share is never trained on. Half of the
   held-out users fit the calibration, the other half measure it (AUROC, ECE, precision at the thresholds)
   for the card.
2. The steps (`train_steps`): each draws a batch of training users and corrupts their sequences afresh
   (curator.denoise.corruption), from a random stream of (seed, step): a resumed run sees exactly the steps
   it would have. A batch holds about `positions_per_step` labelled positions (8 users of MovieLens-100K's
   ~106 training items, ~105 of Amazon Toys' ~8-item windows), so what a step learns from, and what it
   costs through the LLM, does not depend on how long the data's sequences are; `users_per_step` fixes the
   count instead. Loss: binary cross-entropy at every position (every position of every sequence is a
   label). The first `warmup_steps` train the head alone on the base model's item vectors (computed once):
   they cost milliseconds. The LoRA steps after them run the top layers for every item of the batch, which
   costs seconds on a CPU; starting them from a trained head (linear probing, then fine-tuning) spends
   them on what text adds, not on learning what co-occurrence already says.
   Before the steps, the ID model (curator.denoise.id_model) is trained on every user's training sequence
   with the same swaps, cross-fitted over folds of users (`train_id_models`): its discriminator's logit is
   an input of the head, and every user, trained on or held out, is read by a fold model that never saw it.
3. Calibration (`calibrate`) on the held-out users, with the adapter fixed.
4. The replacement ranker (`fit_ranker`) is fitted last, on swapped positions of training users.
5. The report and the adapter folder (`save_adapter`): LoRA weights, head, ranker, meta and card.

The work folder keeps the ID models, the item texts' pass through the frozen layers and a checkpoint every
CHECKPOINT_EVERY steps, so a killed run resumes. Only the top `top_layers` decoder layers carry LoRA (see
item_states.py); on CPU bitsandbytes' 4-bit kernels have no backward pass, so the base is trained
unquantized there (QLoRA needs CUDA: `trainable`).

Under `torchrun --nproc-per-node N` the steps run data-parallel (curator.run.distributed): rank 0 runs the
stage and, once the frozen layers' pass is in its work folder, tells the other ranks to train in step with it
(`follow`). Every rank draws the whole batch (the stream stays the one of one process), takes users rank,
rank + N, ... of it, and its share of the batch's mean loss; the gradients are summed over the ranks (DDP's
all-reduce), so each step is the one-process step up to float rounding. Only rank 0 writes checkpoints; every
rank resumes from them. Calibration, ranker and the adapter folder are rank 0's alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from curator.data.collaborative import training_interactions
from curator.data.dataset import Dataset
from curator.denoise.budget import AFTER_TRAINING_SHARE, ID_MODEL_SHARE, MIN_POSITIONS, Budget
from curator.denoise.calibration import Calibration
from curator.denoise.card import write_card
from curator.denoise.catalog import write_catalog
from curator.denoise.config import ITEM_TEXT_TOKENS, NOISE_MIXES, AdaptConfig, DenoiserConfig
from curator.denoise.context import CollaborativeStats, sequence_features
from curator.denoise.corruption import Corrupted, Corrupter
from curator.denoise.denoiser import Denoiser, candidate_inputs
from curator.denoise.id_model import IdModels, SequenceEvidence, cross_fitted, user_folds
from curator.denoise.item_states import ItemEncoder, Trunk, item_texts
from curator.denoise.model import NoiseHead, ReplacementRanker
from curator.devices import resolve_device
from curator.errors import OptionError
from curator.evaluation.detection import auroc, detection_report, replacement_accuracy
from curator.llm.adapters import peft_quietly
from curator.llm.config import EngineConfig
from curator.llm.engine import Engine, load_engine
from curator.run.distributed import ProcessGroup
from curator.run.progress import Progress, Silent
from curator.run.workfolder import WorkFolder
from curator.seeds import derive_seed

MIN_TRAIN_ITEMS = 3
CHECKPOINT_EVERY = 20  # steps: what a kill can lose
CURVE_EVERY = 10  # steps per point of the learning curve on the card
CHECKPOINT_FILE = "checkpoint.pt"
TRUNK_FILE = "trunk.pt"
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
RANKER_STEPS = 200


def trainable(engine_config: EngineConfig) -> EngineConfig:
    """The engine config to train with: 4-bit/8-bit bases need CUDA (see the module docstring)."""
    if engine_config.quant != "none" and resolve_device(engine_config.device) == "cpu":
        return replace(engine_config, quant="none")
    return engine_config


def train_adapter(
    dataset: Dataset,
    config: AdaptConfig,
    engine_config: EngineConfig,
    work: WorkFolder,
    folder: Path,
    *,
    command: list[str],
    progress: Progress,
    group: ProcessGroup | None = None,
) -> dict[str, Any]:
    """Train the denoiser (resuming what `work` holds), calibrate it, fit its ranker and save the adapter
    into `folder`; return the card's figures. `engine_config` is used as given (see `trainable`). `group`:
    under torchrun, the other ranks, told to train in step once the trainee is built."""
    group = group or ProcessGroup()
    budget = Budget.resumed(config.time_budget, work)
    id_models = train_id_models(dataset, config, work, progress, budget) if config.denoiser.use_id_model else None
    data = TrainingSet.of(dataset, config, _id_evidence(dataset, id_models))
    trainee = Trainee.build(dataset, config, engine_config, work, progress)
    group.tell(trains=True)  # the ID models and the frozen layers' pass are in `work` now: the others read them
    state = train_steps(trainee, data, config, work, progress, budget, group)

    vectors = trainee.vectors(data.stats.num_items)
    denoiser = Denoiser(trainee.head, ReplacementRanker(config.denoiser), None, {}, id_models)
    report, report_sequences = calibrate(denoiser, data, config, vectors)
    fit_ranker(denoiser, data, config, vectors, budget)
    report["replacement"] = replacement_report(denoiser, data, vectors, report_sequences, budget)

    figures = {
        "steps": state["step"],
        "users_per_step": data.batch_users,
        "seconds": round(state["seconds"], 1),
        "command_seconds": round(budget.spent(), 1),
        "curve": state["curve"],
        "users": {
            "train": len(data.fit_users),
            "calibrate": len(data.calibrate_users),
            "report": len(data.report_users),
        },
        "heldout": report,
    }
    save_adapter(folder, trainee.model, denoiser, adapter_meta(trainee.engine, dataset, config, command, figures))
    write_catalog(folder, dataset)  # what `curator denoise` checks its input against
    return figures


def follow(dataset: Dataset, config: AdaptConfig, engine_config: EngineConfig, work: WorkFolder, group: ProcessGroup):
    """A rank other than 0 of a torchrun run: the steps, in step with rank 0 and from its work folder (the
    ID models, the frozen layers' pass, the last checkpoint); writes nothing."""
    budget = Budget.resumed(config.time_budget, work)  # only rank 0's decides (see train_steps)
    id_models = IdModels.load(work.path) if config.denoiser.use_id_model else None  # rank 0 saved them
    data = TrainingSet.of(dataset, config, _id_evidence(dataset, id_models))
    trainee = Trainee.build(dataset, config, engine_config, work, Silent())
    train_steps(trainee, data, config, work, Silent(), budget, group)


def _id_evidence(dataset: Dataset, id_models: IdModels | None) -> SequenceEvidence | None:
    """What the ID models read of every user's sequence (None without the ID model part)."""
    if id_models is None:
        return None
    return id_models.reading(dataset.items["item_id"].to_pylist(), dataset.users["user_id"].to_pylist())


def adapt_curves(figures: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    """The learning curve of `figures` (train_adapter's) by step, and the held-out figures at the last step."""
    last = figures["steps"]
    curves = {
        "train/loss": [(p["step"], p["loss"]) for p in figures["curve"]],
        "train/seconds": [(p["step"], p["seconds"]) for p in figures["curve"]],
    }
    heldout = figures["heldout"]
    for name in ("auroc", "ece"):
        if heldout.get(name) is not None:
            curves[f"heldout/{name}"] = [(last, heldout[name])]
    for name, value in (heldout.get("replacement") or {}).items():
        curves[f"heldout/replacement_{name}"] = [(last, value)]
    return curves


def train_id_models(
    dataset: Dataset, config: AdaptConfig, work: WorkFolder, progress: Progress, budget: Budget
) -> IdModels:
    """The ID model's fold models, trained on every user's training sequence with the adapter's training
    swaps and seed, each until its share of the time budget (or loaded from `work`, where a finished
    training keeps them)."""
    if IdModels.saved_in(work.path):
        return IdModels.load(work.path)
    id_config = replace(config.id_model, seed=config.seed, uniform_share=NOISE_MIXES[config.noise_dist][0])
    folds = user_folds(dataset.users["user_id"].to_pylist(), id_config.folds)
    progress.start("ID model steps", total=id_config.steps * id_config.folds)
    fold_share = [ID_MODEL_SHARE * (k + 1) / id_config.folds for k in range(id_config.folds)]
    models = cross_fitted(
        training_interactions(dataset),
        folds,
        id_config,
        advance=lambda: progress.advance("ID model steps"),
        stop=lambda fold: budget.over(fold_share[fold]),
    )
    id_models = IdModels(models, dataset.items["item_id"].to_pylist())
    id_models.save(work.path)
    budget.save(work)
    return id_models


@dataclass
class Examples:
    """Corrupted sequences with their collaborative features and the ID model's (numpy; None without its
    part) for a set of users."""

    sequences: list[Corrupted]
    features: list[np.ndarray]
    evidence: list[np.ndarray | None]

    @classmethod
    def make(cls, data: TrainingSet, sequences: list[Corrupted]) -> Examples:
        features = [sequence_features(data.stats, s.user, s.items, s.own) for s in sequences]
        if data.evidence is None:
            return cls(sequences, features, [None] * len(sequences))
        return cls(
            sequences, features, data.evidence.features([s.user for s in sequences], [s.items for s in sequences])
        )


@dataclass
class TrainingSet:
    """The data side of a run: the collaborative statistics, the users of each role, the batch size and
    the corrupters of the training and the held-out swaps."""

    stats: CollaborativeStats
    fit_users: np.ndarray
    calibrate_users: np.ndarray
    report_users: np.ndarray
    batch_users: int
    corrupter: Corrupter
    calibration_corrupter: Corrupter
    evidence: SequenceEvidence | None = None  # the ID model's reading (None without its part)

    @classmethod
    def of(cls, dataset: Dataset, config: AdaptConfig, evidence: SequenceEvidence | None) -> TrainingSet:
        train = training_interactions(dataset)
        stats = CollaborativeStats.of(train, config.denoiser.factor_rank)
        sequences = train.sequences()
        fit_users, calibrate_users, report_users = split_users(sequences, config)
        training_share, calibration_share = NOISE_MIXES[config.noise_dist]
        return cls(
            stats,
            fit_users,
            calibrate_users,
            report_users,
            users_per_step(config, sequences, fit_users),
            Corrupter(train, training_share),
            Corrupter(train, calibration_share, min_swaps=0),
            evidence,
        )


def split_users(sequences: list[np.ndarray], config: AdaptConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The users who train, those who fit the calibration and those who measure it (sorted)."""
    eligible = np.array([k for k, s in enumerate(sequences) if len(s) >= MIN_TRAIN_ITEMS])
    if len(eligible) < 10:
        raise OptionError(
            f"adapt needs at least 10 users with {MIN_TRAIN_ITEMS}+ training items ({len(eligible)} here)"
        )
    order = np.random.default_rng(derive_seed(config.seed, "adapt", "split")).permutation(eligible)
    held = max(4, round(config.heldout_share * len(order)))
    return np.sort(order[held:]), np.sort(order[:held:2]), np.sort(order[1:held:2])


def users_per_step(config: AdaptConfig, sequences: list[np.ndarray], fit_users: np.ndarray) -> int:
    """The training batch's size in users: the configured count, or as many as hold positions_per_step
    training positions at the fit users' mean sequence length."""
    if config.users_per_step is not None:
        return min(config.users_per_step, len(fit_users))
    mean_length = np.mean([len(sequences[u]) for u in fit_users])
    return int(np.clip(round(config.positions_per_step / mean_length), 1, len(fit_users)))


@dataclass
class Trainee:
    """The model side of a run: the engine, its model with LoRA on the top layers, the item encoder, the
    frozen layers' output for every item text (None without the LLM part, which never reads it), the noise
    head and the one optimizer of head and LoRA."""

    engine: Engine
    model: Any  # the peft model
    encoder: ItemEncoder
    trunk: Trunk | None
    head: NoiseHead
    optimizer: torch.optim.Optimizer

    @classmethod
    def build(
        cls, dataset: Dataset, config: AdaptConfig, engine_config: EngineConfig, work: WorkFolder, progress: Progress
    ) -> Trainee:
        torch.manual_seed(derive_seed(config.seed, "adapt", "init"))  # LoRA's and the head's initial weights
        engine = load_engine(engine_config)
        model = _with_lora(engine.model, config.denoiser)
        source = config.denoiser.item_text
        encoder = ItemEncoder(model, engine.tokenizer, config.denoiser.top_layers, ITEM_TEXT_TOKENS[source])
        trunk = (
            _cached_trunk(work, encoder, item_texts(dataset, source), progress) if config.denoiser.use_text else None
        )
        head = NoiseHead(config.denoiser, encoder.decoder.config.hidden_size)
        lora = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            [
                {"params": head.parameters(), "lr": config.learning_rate},
                {"params": lora, "lr": config.lora_learning_rate},
            ]
        )
        return cls(engine, model, encoder, trunk, head, optimizer)

    @torch.no_grad()
    def vectors(self, num_items: int) -> torch.Tensor:
        """(items, D) every item's vector as the adapter now makes it; zeros without the LLM part."""
        if self.trunk is None:
            return torch.zeros(num_items, self.encoder.decoder.config.hidden_size)
        return self.encoder.top(self.trunk, torch.arange(num_items))

    def loss(self, examples: Examples, through_llm: bool, fixed_vectors: torch.Tensor, positions: int) -> torch.Tensor:
        """The BCE summed over every position of `examples`, over the batch's `positions` (`examples` are
        the whole batch in one process: the batch's mean); item vectors through the LoRA layers when
        `through_llm`, else `fixed_vectors` (warm-up, or no LLM part)."""
        if not examples.sequences:  # a rank with no user of a batch smaller than the ranks
            return torch.zeros(())
        items = np.concatenate([s.items for s in examples.sequences])
        if through_llm:
            unique, inverse = np.unique(items, return_inverse=True)
            states = self.encoder.top(self.trunk, torch.from_numpy(unique))[torch.from_numpy(inverse)]
        else:
            states = fixed_vectors[torch.from_numpy(items)]
        logits, offset = [], 0
        for sequence, features, evidence in zip(examples.sequences, examples.features, examples.evidence):
            evidence = None if evidence is None else torch.from_numpy(evidence)
            states_of_sequence = states[offset : offset + len(sequence.items)]
            logits.append(self.head(torch.from_numpy(features), evidence, states_of_sequence))
            offset += len(sequence.items)
        labels = torch.from_numpy(np.concatenate([s.noisy for s in examples.sequences])).float()
        return F.binary_cross_entropy_with_logits(torch.cat(logits), labels, reduction="sum") / positions

    def trained(self) -> list[torch.nn.Parameter]:
        """The parameters the optimizer steps: the head's and LoRA's."""
        return [p for param_group in self.optimizer.param_groups for p in param_group["params"]]

    def sum_gradients(self, group: ProcessGroup) -> None:
        """Each trained parameter's gradient summed over the ranks (as DDP's all-reduce). A parameter no rank
        has a gradient for stays without one (AdamW then leaves it alone, as in one process)."""
        if group.size < 2:
            return
        parameters = self.trained()
        has_gradient = torch.tensor([p.grad is not None for p in parameters], dtype=torch.int32, device=group.device)
        group.sum([has_gradient])
        for parameter, anyone in zip(parameters, has_gradient.tolist()):
            if anyone:
                if parameter.grad is None:
                    parameter.grad = torch.zeros_like(parameter)
                group.sum([parameter.grad])

    def checkpoint(self, work: WorkFolder, state: dict[str, Any]) -> None:
        from peft import get_peft_model_state_dict

        checkpoint = {
            "lora": get_peft_model_state_dict(self.model, save_embedding_layers=False),  # see save_adapter
            "head": self.head.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "state": state,
        }
        work.write_file(CHECKPOINT_FILE, torch_writer(checkpoint))

    def resume(self, work: WorkFolder) -> dict[str, Any]:
        """Load the last checkpoint in `work`, if any; the training state it was taken at (steps done,
        seconds spent, the learning curve so far)."""
        from peft import set_peft_model_state_dict

        file = work.path / CHECKPOINT_FILE
        if not file.is_file():
            return {"step": 0, "seconds": 0.0, "curve": []}
        saved = torch.load(file, weights_only=False)
        set_peft_model_state_dict(self.model, saved["lora"])
        self.head.load_state_dict(saved["head"])
        self.optimizer.load_state_dict(saved["optimizer"])
        return saved["state"]


def torch_writer(content: Any) -> Callable[[Path], None]:
    """A writer of `content` with torch.save through a Python file: a full or read-only disk is then an OSError
    with its errno (which the stage envelope reports in one line), not torch's bare RuntimeError."""

    def write(target: Path) -> None:
        with open(target, "wb") as file:
            torch.save(content, file)

    return write


def _with_lora(model, config: DenoiserConfig):
    from peft import LoraConfig, get_peft_model

    layers = model.config.num_hidden_layers
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=2 * config.lora_rank,
        lora_dropout=0.0,
        target_modules=list(LORA_TARGETS),
        layers_to_transform=list(range(layers - config.top_layers, layers)),
    )
    with peft_quietly():
        model = get_peft_model(model, lora)
    if not config.use_text:  # the ablation without the LLM part trains no adapter
        for parameter in model.parameters():
            parameter.requires_grad_(False)
    return model


def _cached_trunk(work: WorkFolder, encoder: ItemEncoder, texts: list[str], progress: Progress) -> Trunk:
    """The item texts through the frozen layers: computed once per run, kept in the work folder."""
    file = work.path / TRUNK_FILE
    if file.is_file():
        saved = torch.load(file)
        return Trunk(saved["hidden"], saved["mask"])
    progress.start("item texts through the frozen layers", total=len(texts))
    trunk = encoder.trunk(texts, progress=lambda n: progress.advance("item texts through the frozen layers", n))
    work.write_file(TRUNK_FILE, torch_writer({"hidden": trunk.hidden, "mask": trunk.mask}))
    return trunk


def train_steps(
    trainee: Trainee,
    data: TrainingSet,
    config: AdaptConfig,
    work: WorkFolder,
    progress: Progress,
    budget: Budget,
    group: ProcessGroup | None = None,
) -> dict[str, Any]:
    """Run the steps left after the last checkpoint in `work`, until max_steps or the budget's share for
    training, with a checkpoint every CHECKPOINT_EVERY steps and at the end (by rank 0 only); the final state
    (steps done, seconds spent training, the learning curve)."""
    group = group or ProcessGroup()
    state = trainee.resume(work)
    group.share([p.detach() for p in trainee.trained()])  # every rank starts from rank 0's weights (as DDP)
    base_vectors = trainee.vectors(data.stats.num_items)
    progress.start("adapt steps", total=config.max_steps, done=state["step"])
    started = time.monotonic() - state["seconds"]
    window: list[float] = []
    # Rank 0's clock decides the time budget: every rank stops at the same step.
    while state["step"] < config.max_steps and not group.decided(budget.over(1 - AFTER_TRAINING_SHARE)):
        window.append(last := _train_step(trainee, data, config, state["step"], base_vectors, group))
        state["step"] += 1
        if state["step"] % CURVE_EVERY == 0 or state["step"] == config.max_steps:
            state["curve"].append(
                {"step": state["step"], "loss": float(np.mean(window)), "seconds": round(time.monotonic() - started, 1)}
            )
            window = []
        if state["step"] % CHECKPOINT_EVERY == 0 and group.rank == 0:
            trainee.checkpoint(work, {**state, "seconds": time.monotonic() - started})
            budget.save(work)
        progress.advance("adapt steps", note=f"loss {last:.3f}")
    state["seconds"] = time.monotonic() - started
    if group.rank == 0:
        trainee.checkpoint(work, state)
        budget.save(work)
    return state


def _train_step(
    trainee: Trainee,
    data: TrainingSet,
    config: AdaptConfig,
    step: int,
    base_vectors: torch.Tensor,
    group: ProcessGroup,
) -> float:
    """One optimizer step on a batch of fit users corrupted afresh from the stream of (seed, step); the
    batch's loss. Under torchrun this rank's share of it (see the module docstring)."""
    rng = np.random.default_rng(derive_seed(config.seed, "adapt", "step", step))
    users = rng.choice(data.fit_users, size=data.batch_users, replace=False)
    batch = [data.corrupter(u, rng) for u in users]  # all of them on every rank: the stream stays the same
    positions = sum(len(sequence.items) for sequence in batch)
    examples = Examples.make(data, batch[group.rank :: group.size])
    through_llm = trainee.trunk is not None and step >= config.warmup_steps
    trainee.optimizer.zero_grad()
    loss = trainee.loss(examples, through_llm, base_vectors, positions)
    if loss.requires_grad:
        loss.backward()
    trainee.sum_gradients(group)
    trainee.optimizer.step()
    total = loss.detach().reshape(1).to(group.device)
    group.sum([total])
    return total.item()


def _user_rng(config: AdaptConfig, purpose: str, user: int) -> np.random.Generator:
    return np.random.default_rng(derive_seed(config.seed, "adapt", purpose, int(user)))


def calibrate(
    denoiser: Denoiser, data: TrainingSet, config: AdaptConfig, vectors: torch.Tensor
) -> tuple[dict[str, Any], list[Corrupted]]:
    """Fit `denoiser`'s calibration on the calibrate users' swapped sequences and measure it on the report
    users'; the held-out report, and the report users' sequences."""
    heldout = {
        name: Examples.make(data, [data.calibration_corrupter(u, _user_rng(config, name, u)) for u in users])
        for name, users in (("calibrate", data.calibrate_users), ("report", data.report_users))
    }
    logits = {
        name: np.concatenate(
            [
                denoiser.logits(data.stats, s.user, s.items, s.own, vectors, evidence)
                for s, evidence in zip(ex.sequences, ex.evidence)
            ]
        )
        for name, ex in heldout.items()
    }
    truth = {name: np.concatenate([s.noisy for s in ex.sequences]) for name, ex in heldout.items()}
    denoiser.calibration = Calibration.fit(logits["calibrate"], truth["calibrate"])
    report = detection_report(truth["report"], denoiser.probabilities(logits["report"]))
    report["auroc_raw"] = auroc(truth["report"], 1 / (1 + np.exp(-logits["report"])))
    return report, heldout["report"].sequences


def _swapped_positions(sequences: list[Corrupted]) -> list[tuple[Corrupted, int]]:
    return [(s, int(p)) for s in sequences for p in np.flatnonzero(s.noisy)]


def fit_ranker(
    denoiser: Denoiser, data: TrainingSet, config: AdaptConfig, vectors: torch.Tensor, budget: Budget
) -> None:
    """Fit the ranker's few weights by softmax cross-entropy over the allowed catalog items, on swapped
    positions of the fit users (the adapter fixed): ranker_positions of them, fewer once the budget is spent."""
    stats = data.stats
    sequences = [data.corrupter(u, _user_rng(config, "ranker", u)) for u in data.fit_users]
    rng = np.random.default_rng(derive_seed(config.seed, "adapt", "ranker"))
    positions = _swapped_positions(sequences)
    chosen = rng.choice(len(positions), size=min(config.ranker_positions, len(positions)), replace=False)
    with torch.no_grad():
        text_space = denoiser.head.text_space(vectors)
    everything = np.arange(stats.num_items)
    known = stats.users_of > 0  # as at inference: only items some training sequence holds are proposed
    examples = []
    for sequence, position in (positions[i] for i in chosen):
        allowed = torch.from_numpy(~np.isin(everything, sequence.items) & known)
        examples.append((sequence, position, allowed, int(sequence.original[position])))
    inputs = []
    for sequence, position, _, _ in examples:
        if len(inputs) >= MIN_POSITIONS and budget.over():
            break
        inputs.append(
            candidate_inputs(
                stats, sequence.user, sequence.items, sequence.own, position, text_space, data.evidence, everything
            )
        )
    examples = examples[: len(inputs)]
    collab = torch.stack([candidates for candidates, _, _ in inputs])  # (N, catalog, 3)
    text_fit = torch.stack([fit for _, fit, _ in inputs])  # (N, catalog)
    cloze = torch.stack([c for _, _, c in inputs]).flatten() if data.evidence else None  # (N * catalog,)
    allowed = torch.stack([a for _, _, a, _ in examples])
    originals = torch.tensor([o for _, _, _, o in examples])
    optimizer = torch.optim.Adam(denoiser.ranker.parameters(), lr=0.05)
    for _ in range(RANKER_STEPS):
        optimizer.zero_grad()
        logits = denoiser.ranker(collab.flatten(0, 1), text_fit.flatten(), cloze).view(allowed.shape)
        F.cross_entropy(logits.masked_fill(~allowed, -torch.inf), originals).backward()
        optimizer.step()


def replacement_report(
    denoiser: Denoiser, data: TrainingSet, vectors: torch.Tensor, sequences: list[Corrupted], budget: Budget
) -> dict[str, float]:
    """Replacement accuracy at the swapped positions of `sequences` (the report users'), in order until the
    budget is spent (at least MIN_POSITIONS of them)."""
    with torch.no_grad():
        text_space = denoiser.head.text_space(vectors)
    ranked, originals = [], []
    for sequence, position in _swapped_positions(sequences):
        if len(ranked) >= MIN_POSITIONS and budget.over():
            break
        found = denoiser.replacements(
            data.stats,
            sequence.user,
            sequence.items,
            sequence.own,
            position,
            text_space,
            data.evidence,
            exclude=sequence.items,
        )
        ranked.append(found.items.tolist())
        originals.append(int(sequence.original[position]))
    return replacement_accuracy(ranked, originals) if originals else {}


def adapter_meta(
    engine: Engine, dataset: Dataset, config: AdaptConfig, command: list[str], figures: dict[str, Any]
) -> dict[str, Any]:
    """What the adapter folder records beside the denoiser's own config and calibration."""
    return {
        "base_model": engine.info.model,
        # Where the base comes from, for other tools (peft's base_model_name_or_path is its name_or_path).
        "base_model_source": engine.info.base or {"name_or_path": engine.info.model_path, "revision": None},
        "quant": engine.info.quant,
        "dtype": engine.info.dtype,
        "data": {
            "name": dataset.name,
            "hash": dataset.content_hash,
            "interactions": len(dataset.interactions),
            "users": len(dataset.users),
        },
        "adapt": config.to_dict(),
        "command": command,
        **figures,
    }


def save_adapter(folder: Path, model, denoiser: Denoiser, meta: dict[str, Any]) -> None:
    """Write the adapter into `folder`: peft's LoRA files, the head and ranker, META_FILE and the card."""
    # What peft's own loaders (AutoPeftModelForCausalLM) load the base from: a Hub id with its revision, or a folder
    # (for a GGUF base, the folder can be rebuilt from the file: meta["base_model_source"]["gguf"]).
    for lora in model.peft_config.values():
        lora.base_model_name_or_path = meta["base_model_source"]["name_or_path"]
        lora.revision = meta["base_model_source"]["revision"]
    # The vocabulary is never resized: without save_embedding_layers=False, peft would look for the base
    # model's config under that name to find out, and warn that it cannot.
    model.save_pretrained(str(folder), save_embedding_layers=False)
    write_card(folder / "README.md", denoiser.save(folder, meta))
