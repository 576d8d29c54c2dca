"""Experiment tracking: the curves a stage computed (training loss, validation metrics, held-out figures) written
as TensorBoard event files, and as an MLflow run when asked (`--mlflow`).

They are written when the stage has finished, from the curves it records anyway (a seed's epoch history, the
adapter's learning curve): a run that was killed and resumed gets the same, complete curves as one that was not.
TensorBoard's writer comes from `torch.utils.tensorboard`, which needs the `tensorboard` package
(`pip install 'curator[tracking]'`); MLflow is never required, only used when installed and asked for.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curator.errors import OptionError

TENSORBOARD_FOLDER = "tensorboard"  # the default log folder, inside the stage's output

# A curve: tag -> [(step, value), ...]. Tags are TensorBoard's ("valid/NDCG@10"); MLflow gets them with the
# characters it refuses replaced.
Curves = Mapping[str, list[tuple[int, float]]]


@dataclass(frozen=True)
class TrackingConfig:
    log_dir: Path | None = None  # TensorBoard event files; None: OUT/tensorboard when tensorboard is installed
    mlflow: bool = False  # also log an MLflow run (to MLflow's own tracking URI, e.g. $MLFLOW_TRACKING_URI)

    def validate(self) -> None:
        if self.log_dir is not None and not tensorboard_installed():
            raise OptionError(
                "--log-dir: TensorBoard event files need the tensorboard package (pip install tensorboard)"
            )
        if self.mlflow and importlib.util.find_spec("mlflow") is None:
            raise OptionError("--mlflow: mlflow is not installed (pip install mlflow)")

    def tensorboard_dir(self, out: Path) -> Path | None:
        """Where the event files go for a stage that writes `out` (None: nowhere, tensorboard is not installed)."""
        if self.log_dir is not None:
            return self.log_dir
        return out / TENSORBOARD_FOLDER if tensorboard_installed() else None


def tensorboard_installed() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def write_tensorboard(log_dir: Path, curves: Curves) -> None:
    """One event file in `log_dir` holding every point of `curves`."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(log_dir=str(log_dir)) as writer:
        for tag, points in curves.items():
            for step, value in points:
                writer.add_scalar(tag, value, global_step=step)


def log_mlflow(run_name: str, params: Mapping[str, Any], curves: Curves) -> None:
    """One MLflow run named `run_name` with `params` (flattened, as text) and every point of `curves`."""
    import mlflow

    with mlflow.start_run(run_name=run_name):
        mlflow.log_params({key: str(value) for key, value in _flat(params).items()})
        for tag, points in curves.items():
            for step, value in points:
                mlflow.log_metric(_mlflow_name(tag), value, step=step)


def track(
    config: TrackingConfig,
    out: Path,
    folder: Path,
    run_name: str,
    params: Mapping[str, Any],
    runs: Mapping[str, Curves],
) -> Path | None:
    """Write `runs` ({run: curves}; "" for a stage with one run) as TensorBoard event files, one subfolder per run
    under the log folder (where the stage writes `folder`, to be published as `out`), and log them to MLflow when
    asked. Returns where the event files are once published (None: tensorboard is not installed)."""
    published = config.tensorboard_dir(out)
    if published is not None:
        staged = config.tensorboard_dir(folder) if config.log_dir is None else published
        for run, curves in runs.items():
            write_tensorboard(staged / run if run else staged, curves)
    if config.mlflow:
        for run, curves in runs.items():
            log_mlflow(f"{run_name}/{run}" if run else run_name, params, curves)
    return published


def _flat(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _mlflow_name(tag: str) -> str:
    """MLflow metric names take letters, digits, _ - . / and spaces: 'valid/NDCG@10' -> 'valid/NDCG_at_10'."""
    return tag.replace("@", "_at_")
