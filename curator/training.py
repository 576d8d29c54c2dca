"""`curator train`: leave-one-out split of a dataset folder, one recsys run per seed, mean ± std.

Run folder layout:
    RUN/seed-S/checkpoint.pt   latest state of seed S (resumable)
    RUN/seed-S/metrics.json    that seed's result, written when it finishes
    RUN/metrics.json           all seeds, mean ± std, config, data hash, timing
"""

import json
import resource
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from curator import __version__
from curator.data.atomic import atomic_write_file
from curator.data.dataset import Dataset
from curator.data.sequences import user_sequences
from curator.devices import resolve_device
from curator.errors import OptionError
from recsys.data import LeaveOneOut
from recsys.models import MODELS
from recsys.train import CHECKPOINT, EpochLog, ProgressCallback, TrainConfig, fit

METRICS_FILE = "metrics.json"


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

    def validate(self) -> None:
        if self.model not in MODELS:
            raise OptionError(f"unknown model '{self.model}' (choose from {', '.join(MODELS)})")
        if not self.seeds:
            raise OptionError("give at least one seed")
        for name in ("max_epochs", "patience", "batch_size", "max_len", "hidden", "layers", "heads"):
            if getattr(self, name) < 1:
                raise OptionError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.lr < 1:
            raise OptionError(f"--lr must be in (0, 1), got {self.lr}")
        if not 0 <= self.dropout < 1:
            raise OptionError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.model == "sasrec" and self.hidden % self.heads:
            raise OptionError(f"--hidden {self.hidden} is not divisible by --heads {self.heads}")
        resolve_device(self.device)

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(max_epochs=self.max_epochs, patience=self.patience, batch_size=self.batch_size,
                           lr=self.lr, max_len=self.max_len, seed=seed, device=resolve_device(self.device))

    def build_model(self, num_items: int, seed: int) -> torch.nn.Module:
        model_class, config_class = MODELS[self.model]
        fields = {"num_items": num_items, "max_len": self.max_len, "hidden": self.hidden,
                  "layers": self.layers, "dropout": self.dropout}
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
    """{metric: {"mean": ..., "std": ...}} over seeds (population std; 0 for one seed)."""
    return {name: {"mean": float(np.mean([r.test[name] for r in results])),
                   "std": float(np.std([r.test[name] for r in results]))}
            for name in results[0].test}


def peak_memory_mib() -> float:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_gpu_memory_mib(device: str) -> float | None:
    """Peak memory torch allocated on the CUDA device since the last reset, None when not on CUDA."""
    return torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None


def largest(values) -> float | None:
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _run_identity(dataset: Dataset, options: TrainOptions) -> dict:
    """What a run folder is bound to. Seeds are not part of it: each seed has its own sub-folder, so seeds
    can be added later, or trained by separate processes, and collected with --resume. Nor is the device."""
    run_options = asdict(options)
    del run_options["seeds"], run_options["device"]
    return {"data_hash": dataset.content_hash, "options": run_options}


def prepare_run_dir(run_dir: Path, identity: dict, resume: bool, overwrite: bool) -> None:
    """A run folder belongs to one (data, options) pair; continuing it needs --resume."""
    marker = run_dir / "run.json"
    if marker.exists() and not overwrite:
        previous = json.loads(marker.read_text())
        if not resume:
            raise OptionError(f"{run_dir} already holds a run: pass --resume to continue it, "
                              "--overwrite to start again, or choose another --out")
        if previous != identity:
            raise OptionError(f"{run_dir} holds a run with other data or options; use --overwrite or another --out")
        return
    if run_dir.exists() and overwrite:
        shutil.rmtree(run_dir)
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise OptionError(f"{run_dir} exists and is not a curator run folder; choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_json(marker, identity)


def _write_json(path: Path, payload: dict) -> None:
    atomic_write_file(path, lambda staging: staging.write_text(json.dumps(payload, indent=2)))


def train_dataset(dataset: Dataset, options: TrainOptions, run_dir: Path, *, resume: bool = False,
                  overwrite: bool = False, progress: ProgressCallback | None = None,
                  on_epoch: Callable[[int, EpochLog], None] | None = None) -> dict:
    """Trains one model per seed on the leave-one-out split of `dataset`; returns the summary dict."""
    options.validate()
    identity = _run_identity(dataset, options)
    prepare_run_dir(run_dir, identity, resume, overwrite)

    device = resolve_device(options.device)
    data = user_sequences(dataset)
    weights = data.weights if options.use_weights else np.ones_like(data.weights)
    split = LeaveOneOut(data.sequences, data.num_items, weights)

    results = []
    for seed in options.seeds:
        seed_dir = run_dir / f"seed-{seed}"
        done = seed_dir / METRICS_FILE
        if done.exists():  # finished earlier: resuming skips it
            results.append(SeedResult(**json.loads(done.read_text())["result"]))
            continue
        model = options.build_model(data.num_items, seed)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        fit_result = fit(model, split, options.train_config(seed), seed_dir,
                         resume=resume and (seed_dir / CHECKPOINT).exists(), progress=progress,
                         on_epoch=(lambda log, s=seed: on_epoch(s, log)) if on_epoch else None)
        result = SeedResult(seed, fit_result.best_epoch, len(fit_result.history),
                            fit_result.seconds_per_epoch, fit_result.valid, fit_result.test,
                            peak_memory_mib(), peak_gpu_memory_mib(device), device)
        _write_json(done, {"result": asdict(result), "history": [asdict(e) for e in fit_result.history]})
        results.append(result)

    summary = {
        "data": str(dataset.path),
        **identity,
        "protocol": "leave-one-out by time; full ranking over all items; seen items filtered; "
                    "ties counted against the model; early stopping on validation NDCG@10",
        "users_evaluated": int(len(split.evaluated)),
        "num_items": data.num_items,
        "seeds": [asdict(r) for r in results],
        "test": summarize(results),
        "seconds_per_epoch": float(np.mean([r.seconds_per_epoch for r in results])),
        # of the processes that trained the seeds (a resumed run may only have collected them)
        "peak_memory_mib": largest(r.peak_memory_mib for r in results) or peak_memory_mib(),
        "peak_gpu_memory_mib": largest(r.peak_gpu_memory_mib for r in results),
        "device": ", ".join(sorted({r.device for r in results})),  # where the seeds trained
        "torch_threads": torch.get_num_threads(),
        "curator_version": __version__,
        "command": sys.argv,
    }
    _write_json(run_dir / METRICS_FILE, summary)
    return summary
