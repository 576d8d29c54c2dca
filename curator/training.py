"""Training on a dataset folder: its leave-one-out split, one recsys run per seed, mean ± std over seeds.

Under `torchrun --nproc-per-node N` the seeds train data-parallel (recsys.train: DDP, the same result as one
process for the same global batch). Rank 0 runs the stage (work folder, output) and tells the other ranks,
when it starts training, to train in step with it (curator.run.distributed); they read rank 0's checkpoints to resume
and write nothing.

`train_seeds` trains every seed in a folder of its own, `seeds_dir/seed-S/`: `checkpoint.pt` (the latest
state, written every epoch: what a killed run resumes from) and `metrics.json` (the seed's result and its
history, written when it finishes; a seed that has one is not trained again). `run_summary` is the
run's metrics.json: every seed, mean ± std, options, data hash, timing. (`curator train` runs this as a
stage: curator.stages.train.)
"""

import json
import resource
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from curator import __version__
from curator.data.atomic import atomic_write_file
from curator.data.dataset import Dataset
from curator.data.sequences import user_sequences
from curator.devices import resolve_device
from curator.errors import OptionError
from curator.llm.embeddings import DEFAULT_EMBEDDING_MODEL
from curator.profile.alignment import ALIGN_CHOICES, alignment_record, alignment_tables
from curator.run.distributed import torchrun_size
from curator.run.progress import Progress, Silent
from curator.seeds import check_seed
from recsys.align import KINDS, AlignConfig, AlignText, TextTable
from recsys.data import LeaveOneOut
from recsys.models import MODELS
from recsys.train import CHECKPOINT, EpochLog, TrainConfig, fit

METRICS_FILE = "metrics.json"
# `curator train`'s names of the options whose field is named otherwise (a field's name is part of a run's
# recorded options, so it stays as it is).
OPTION_NAMES = {"max_epochs": "--epochs"}


def option_name(field_name: str) -> str:
    """The command-line option that sets the TrainOptions field `field_name`."""
    return OPTION_NAMES.get(field_name, f"--{field_name.replace('_', '-')}")


@dataclass
class TrainOptions:
    model: str = "sasrec"
    seeds: list[int] = field(default_factory=lambda: [0])
    max_epochs: int = 200
    patience: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    max_len: int = 50
    hidden: int = 64
    layers: int = 2
    heads: int = 1
    dropout: float = 0.1
    use_weights: bool = True  # apply users.weight to the loss
    device: str = "auto"  # cpu, cuda, or auto (CUDA when present); a run can resume on another device
    # Alignment with fixed text embeddings (recsys.align): none, text (raw item text) or profiles (the folder's
    # LLM profiles; user profiles too when the folder has them and align_users).
    align: str = "none"
    align_kind: str = "con"  # con (RLMRec-Con, contrastive) or gen (RLMRec-Gen, reconstruction)
    align_weight: float = 0.1
    align_users: bool = True

    ALIGN_FIELDS = ("align", "align_kind", "align_weight", "align_users")

    def validate(self) -> None:
        if self.model not in MODELS:
            raise OptionError(f"unknown model '{self.model}' (choose from {', '.join(MODELS)})")
        if not self.seeds:
            raise OptionError("give at least one seed")
        for seed in self.seeds:  # all of them before any trains: a bad last seed costs nothing
            check_seed(seed, "--seeds" if len(self.seeds) > 1 else "--seed")
        for name in ("max_epochs", "patience", "batch_size", "max_len", "hidden", "layers", "heads"):
            if getattr(self, name) < 1:
                raise OptionError(f"{option_name(name)} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.lr < 1:
            raise OptionError(f"--lr must be in (0, 1), got {self.lr}")
        if not 0 <= self.dropout < 1:
            raise OptionError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.model == "sasrec" and self.hidden % self.heads:
            raise OptionError(f"--hidden {self.hidden} is not divisible by --heads {self.heads}")
        resolve_device(self.device)
        if self.align not in ALIGN_CHOICES:
            raise OptionError(f"--align: '{self.align}' is not one of {', '.join(ALIGN_CHOICES)}")
        if self.align_kind not in KINDS:
            raise OptionError(f"--align-kind: '{self.align_kind}' is not one of {', '.join(KINDS)}")
        if not self.align_weight > 0:
            raise OptionError(f"--align-weight must be above 0, got {self.align_weight}")
        if self.align != "none" and torchrun_size() > 1:
            raise OptionError("--align does not run under torchrun yet: train aligned runs in one process")

    def train_config(self, seed: int, align_users: bool = False) -> TrainConfig:
        """recsys' config for `seed`; `align_users`: user text exists to align with."""
        align = None
        if self.align != "none":
            align = AlignConfig(kind=self.align_kind, weight=self.align_weight, users=align_users)
        return TrainConfig(
            max_epochs=self.max_epochs,
            patience=self.patience,
            batch_size=self.batch_size,
            lr=self.lr,
            max_len=self.max_len,
            seed=seed,
            align=align,
            device=resolve_device(self.device),
        )

    def build_model(self, num_items: int, seed: int) -> torch.nn.Module:
        model_class, config_class = MODELS[self.model]
        fields = {
            "num_items": num_items,
            "max_len": self.max_len,
            "hidden": self.hidden,
            "layers": self.layers,
            "dropout": self.dropout,
        }
        if self.model == "sasrec":
            fields["heads"] = self.heads
        torch.manual_seed(seed)  # initial weights follow the seed
        return model_class(config_class(**fields))


@dataclass
class SeedResult:
    seed: int
    best_epoch: int
    epochs: int
    seconds_per_epoch: float
    valid: dict[str, float]
    test: dict[str, float]
    # Peaks of the process that trained this seed (None in results written before they were recorded).
    peak_memory_mib: float | None = None
    peak_gpu_memory_mib: float | None = None
    device: str = "cpu"  # where it trained (results from before the field existed were all CPU runs)


def summarize(results: list[SeedResult]) -> dict[str, dict[str, float]]:
    """{metric: {"mean": ..., "std": ...}} over seeds; the sample std (ddof=1: a few seeds drawn from many), 0 for
    one seed. The report's mean ± std are the same definition."""
    return {
        name: {
            "mean": float(np.mean([r.test[name] for r in results])),
            "std": float(np.std([r.test[name] for r in results], ddof=1)) if len(results) > 1 else 0.0,
        }
        for name in results[0].test
    }


def peak_memory_mib() -> float:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_gpu_memory_mib(device: str) -> float | None:
    """Peak memory torch allocated on the CUDA device since the last reset, None when not on CUDA."""
    return torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None


def largest(values) -> float | None:
    values = [v for v in values if v is not None]
    return max(values) if values else None


def seed_folder(seeds_dir: Path, seed: int) -> Path:
    return seeds_dir / f"seed-{seed}"


class SeedProgress:
    """recsys' (phase, done, total) callback and epoch log for one seed, on a Progress: one task for the
    seed's training batches (started afresh each epoch), one per evaluation, a log line per epoch."""

    def __init__(self, progress: Progress, seed: int):
        self.progress, self.seed = progress, seed
        self.done: dict[str, int] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        task = f"seed {self.seed} {'train' if phase.startswith('epoch') else phase}"
        if done <= self.done.get(task, 0) or task not in self.done:
            self.progress.start(task, total)
            self.done[task] = 0
        self.progress.advance(task, done - self.done[task], note=phase)
        self.done[task] = done

    def epoch(self, log: EpochLog) -> None:
        self.progress.log(
            f"seed {self.seed} epoch {log.epoch}: loss {log.loss:.4f}, valid NDCG@10 "
            f"{log.valid['NDCG@10']:.4f} ({log.seconds:.0f}s)"
        )


def train_seeds(
    dataset: Dataset,
    options: TrainOptions,
    seeds_dir: Path,
    progress: Progress | None = None,
    writes: bool = True,
) -> tuple[list[SeedResult], LeaveOneOut]:
    """Train one model per seed of `options` on the leave-one-out split of `dataset`, each in its folder
    under `seeds_dir`: a seed with a result there is read back, one with a checkpoint resumes from it.
    `writes`: False on the ranks other than 0 of a torchrun run (they only train in step with it)."""
    progress = progress or Silent()
    device = resolve_device(options.device)
    data = user_sequences(dataset)
    weights = data.weights if options.use_weights else np.ones_like(data.weights)
    split = LeaveOneOut(data.sequences, data.num_items, weights)
    text = align_text(dataset, data, options, progress)
    return [
        _train_seed(options, split, text, seed, seed_folder(seeds_dir, seed), device, progress, writes)
        for seed in options.seeds
    ], split


def align_text(dataset: Dataset, data, options: TrainOptions, progress: Progress) -> AlignText | None:
    """The fixed text embeddings `options.align` names, in the split's order (None without alignment)."""
    if options.align == "none":
        return None
    embed = None
    if options.align == "text":
        from curator.llm.embeddings import TextEmbedder

        progress.log(f"embedding the items' text with {DEFAULT_EMBEDDING_MODEL}")
        embed = TextEmbedder().embed
    tables = alignment_tables(dataset, data, options.align, options.align_users, embed)
    text = {
        stage: TextTable(torch.from_numpy(rows), torch.from_numpy(present)) for stage, (rows, present) in tables.items()
    }
    return AlignText(text["items"], text.get("users"))


def _train_seed(
    options: TrainOptions,
    split: LeaveOneOut,
    text: AlignText | None,
    seed: int,
    seed_dir: Path,
    device: str,
    progress: Progress,
    writes: bool,
) -> SeedResult:
    done = seed_dir / METRICS_FILE
    if done.exists():  # finished before a kill: not trained again
        return SeedResult(**json.loads(done.read_text())["result"])
    model = options.build_model(split.num_items, seed)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    callbacks = SeedProgress(progress, seed)
    fit_result = fit(
        model,
        split,
        options.train_config(seed, align_users=text is not None and text.users is not None),
        seed_dir,
        resume=(seed_dir / CHECKPOINT).exists(),
        progress=callbacks,
        on_epoch=callbacks.epoch,
        text=text,
    )
    result = SeedResult(
        seed,
        fit_result.best_epoch,
        len(fit_result.history),
        fit_result.seconds_per_epoch,
        fit_result.valid,
        fit_result.test,
        peak_memory_mib(),
        peak_gpu_memory_mib(device),
        device,
    )
    if writes:
        write_json(done, {"result": asdict(result), "history": [asdict(e) for e in fit_result.history]})
    return result


def run_summary(
    dataset: Dataset, options: TrainOptions, results: list[SeedResult], split: LeaveOneOut, command: list[str]
) -> dict:
    """The run's metrics.json: per-seed results, mean ± std, the options and data it was trained on."""
    run_options = asdict(options)
    del run_options["seeds"], run_options["device"]
    return {
        "data": str(dataset.path),
        "data_hash": dataset.content_hash,
        "options": run_options,
        "aligned_to": alignment_record(dataset, options.align, options.align_users, DEFAULT_EMBEDDING_MODEL),
        "protocol": "leave-one-out by time; full ranking over all items; seen items filtered; "
        "ties counted against the model; early stopping on validation NDCG@10",
        "users_evaluated": int(len(split.evaluated)),
        "num_items": split.num_items,
        "seeds": [asdict(r) for r in results],
        "test": summarize(results),
        "seconds_per_epoch": float(np.mean([r.seconds_per_epoch for r in results])),
        # of the processes that trained the seeds (a resumed run may only have collected them)
        "peak_memory_mib": largest(r.peak_memory_mib for r in results) or peak_memory_mib(),
        "peak_gpu_memory_mib": largest(r.peak_gpu_memory_mib for r in results),
        "device": ", ".join(sorted({r.device for r in results})),  # where the seeds trained
        "torch_threads": torch.get_num_threads(),
        "curator_version": __version__,
        "command": command,
    }


def write_json(path: Path, payload: dict) -> None:
    atomic_write_file(path, lambda staging: staging.write_text(json.dumps(payload, indent=2)))


def seed_curves(seed_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """A finished seed's curves by epoch, as its metrics.json records them: training loss and seconds, every
    validation metric, and the test metrics at the best epoch."""
    recorded = json.loads((seed_dir / METRICS_FILE).read_text())
    history, result = recorded["history"], recorded["result"]
    curves = {
        "train/loss": [(e["epoch"], e["loss"]) for e in history],
        "train/epoch_seconds": [(e["epoch"], e["seconds"]) for e in history],
    }
    for metric in history[0]["valid"] if history else ():
        curves[f"valid/{metric}"] = [(e["epoch"], e["valid"][metric]) for e in history]
    for metric, value in result["test"].items():
        curves[f"test/{metric}"] = [(result["best_epoch"], value)]
    return curves
