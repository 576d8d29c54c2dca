"""What state each step of a run folder is really in, read from the disk rather than trusted from plan.json.

`plan.json` records a step's status as the runner last wrote it; a run killed inside a step leaves it "running"
for ever, and the steps after it "waiting". So the run holds a lock on its folder while it lives (`run_lock`), and
a reader (the report) tells a live run's running step from a killed one's: a step is finished only where its
output folder holds its `stage.json`, running only while the run's process lives, and otherwise interrupted
(its work folder, when it has one, is where the next `curator run` continues) or not run.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from curator.errors import OutputError

FINISHED = ("done", "reused", "given")  # statuses whose output is there to read
STAGE_FILE = "stage.json"  # curator.data.schema.STAGE_FILE: a finished stage's record
WORK_SUFFIX = ".partial"  # curator.run.workfolder: a resumable stage's work folder, beside its output


@contextmanager
def run_lock(run: Path) -> Iterator[None]:
    """Hold the lock of run folder `run` (made if need be) while a `curator run` writes it; the system drops it
    when the process ends, however it ends. A second live run of the same folder is refused. A run that fails
    before writing anything leaves no folder behind."""
    made = not run.exists()
    run.mkdir(parents=True, exist_ok=True)
    lock = os.open(run, os.O_RDONLY)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"{run}: another `curator run` is writing this run folder; wait for it") from None
        yield
    except BaseException:
        if made and not any(run.iterdir()):
            run.rmdir()
        raise
    finally:
        os.close(lock)


def run_is_live(run: Path) -> bool:
    """Whether a `curator run` process is writing run folder `run` now."""
    try:
        lock = os.open(run, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(lock)
    return False


def step_state(run: Path, step: dict[str, Any], live: bool) -> str:
    """The real state of `step` (a plan.json entry) of run folder `run`, whose run is `live` or not:
    done | reused | given | running | waiting (a live run's) | interrupted | not run (a stopped run's) |
    missing (recorded as done, its output gone) | skipped."""
    status = step["status"]
    if status == "given":  # a dataset folder the run reads as it is: its step runs nothing, its data is there
        return status
    if not step["runs"] or status == "skipped":
        return "skipped"
    if status in FINISHED:
        out = step.get("out")
        if out is None or step["stage"] == "report":
            return status
        return status if (run / out / STAGE_FILE).is_file() else "missing"
    if live:
        return status
    return "interrupted" if status == "running" else "not run"


def resumable_work(run: Path, step: dict[str, Any]) -> bool:
    """Whether an interrupted `step` left a work folder that the next run continues."""
    return bool(step.get("out")) and (run / f"{step['out']}{WORK_SUFFIX}").is_dir()
