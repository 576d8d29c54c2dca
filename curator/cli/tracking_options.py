"""The experiment-tracking options of the commands that train (`curator train`, `curator adapt`)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from curator.run.tracking import TrackingConfig

LogDir = Annotated[
    Optional[Path],
    typer.Option(
        help="Write the curves as TensorBoard event files here [default: OUT/tensorboard, when tensorboard is "
        "installed].",
    ),
]
Mlflow = Annotated[
    bool,
    typer.Option("--mlflow", help="Also log the run to MLflow (needs mlflow; MLFLOW_TRACKING_URI says where)."),
]


def curves_line(tracking: TrackingConfig, out: Path) -> str | None:
    """The line that tells where the curves went, None when nowhere."""
    log_dir = tracking.tensorboard_dir(out)
    where = [f"tensorboard --logdir {log_dir}"] if log_dir is not None else []
    where += ["MLflow"] if tracking.mlflow else []
    return f"curves: {', '.join(where)}" if where else None
