"""Rich progress bars for curator.stages.progress.StageProgress: one bar per task, with a rate and a note."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class RichProgress:
    def __init__(self, bar: Progress):
        self.bar = bar
        self.tasks: dict[str, tuple[int, float, list[int]]] = {}

    def start(self, task: str, total: int, done: int = 0) -> None:
        self.tasks[task] = (self.bar.add_task(task, total=total, completed=done, rate=""), time.monotonic(), [0])

    def advance(self, task: str, amount: int = 1, note: str = "") -> None:
        bar_task, started, made = self.tasks[task]
        made[0] += amount  # only what this process did: resumed work does not inflate the rate
        rate = made[0] / max(time.monotonic() - started, 1e-9)
        self.bar.update(bar_task, advance=amount, rate=f"{rate:.2f}/s{'  ' + note if note else ''}")


@contextmanager
def rich_progress() -> Iterator[RichProgress]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[rate]}"))
    with Progress(*columns, console=Console(stderr=True)) as bar:
        yield RichProgress(bar)
