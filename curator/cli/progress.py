"""The one progress display of the command line: a rich bar per task of curator.run.progress.Progress,
with its rate (and the rates of what it counted) and a note; log lines are printed above the bars."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


@dataclass
class _Task:
    bar_task: TaskID
    started: float
    made: Counter = field(default_factory=Counter)  # only what this process did: resumed work does not count


class RichProgress:
    def __init__(self, bar: Progress):
        self.bar = bar
        self.tasks: dict[str, _Task] = {}

    def start(self, task: str, total: int, done: int = 0) -> None:
        """A bar for `task`; a task started again (the next epoch's batches) starts its bar afresh."""
        if task in self.tasks:
            bar_task = self.tasks[task].bar_task
            self.bar.reset(bar_task, total=total, completed=done, rate="")
        else:
            bar_task = self.bar.add_task(task, total=total, completed=done, rate="")
        self.tasks[task] = _Task(bar_task, time.monotonic())

    def advance(self, task: str, amount: int = 1, note: str = "", counted: Mapping[str, int] | None = None) -> None:
        state = self.tasks[task]
        state.made.update({"": amount, **(counted or {})})
        seconds = max(time.monotonic() - state.started, 1e-9)
        rates = ", ".join(f"{count / seconds:.2f}{' ' + name if name else ''}/s" for name, count in state.made.items())
        self.bar.update(state.bar_task, advance=amount, rate=rates + (f"  {note}" if note else ""))

    def log(self, line: str) -> None:
        self.bar.console.log(line)


@contextmanager
def rich_progress() -> Iterator[RichProgress]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[rate]}"),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        yield RichProgress(bar)
