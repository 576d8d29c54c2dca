"""The one progress display of the command line, on stderr, for curator.run.progress.Progress.

On a terminal: a live rich bar per task, with its rate (and the rates of what it counted) and a note; log lines
are printed above the bars. Elsewhere (a file, a pipe, a CI log), where a live bar would show nothing until the
command ends: a plain line per task now and then (`PlainSchedule`) and when it ends, and the log lines as they
come.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from curator.cli.output import console as output_console


@dataclass(frozen=True)
class PlainSchedule:
    """When a task prints a plain line: each time it has moved on by `step` of its total, but at most every
    `min_seconds` (short epochs would flood a log) and at least every `max_seconds` while it moves (slow tasks
    would look stuck); always when it ends."""

    step: float = 0.1
    min_seconds: float = 5.0
    max_seconds: float = 30.0


@dataclass
class _Task:
    total: int
    done: int
    started: float
    made: Counter = field(default_factory=Counter)  # only what this process did: resumed work does not count
    bar_task: TaskID | None = None  # its bar, on a terminal
    printed: float = 0.0  # when its last plain line was printed
    printed_done: int = 0  # how far it was then

    def rates(self, now: float) -> str:
        seconds = max(now - self.started, 1e-9)
        return ", ".join(f"{count / seconds:.2f}{' ' + name if name else ''}/s" for name, count in self.made.items())

    def due(self, now: float, schedule: PlainSchedule) -> bool:
        if self.done >= self.total:
            return True
        waited = now - self.printed
        moved = (self.done - self.printed_done) / max(self.total, 1)
        return waited >= schedule.max_seconds or (waited >= schedule.min_seconds and moved >= schedule.step)

    def line(self, name: str, now: float, note: str) -> str:
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        line = f"{name}: {self.done:,}/{self.total:,}{share}, {self.rates(now)}, {self._when(now)}"
        return line + (f"  {note}" if note else "")

    def _when(self, now: float) -> str:
        if self.done >= self.total:
            return f"done in {_clock(now - self.started)}"
        speed = self.made[""] / max(now - self.started, 1e-9)
        return f"ETA {_clock((self.total - self.done) / speed)}" if speed > 0 else "ETA -:--:--"


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class CliProgress:
    """Live bars on `bar` (a terminal), or plain lines on `console` on `schedule` when `bar` is None."""

    def __init__(self, console: Console, bar: Progress | None, schedule: PlainSchedule = PlainSchedule()):
        self.console, self.bar, self.schedule = console, bar, schedule
        self.tasks: dict[str, _Task] = {}

    def start(self, task: str, total: int, done: int = 0) -> None:
        """A task; one started again (the next epoch's batches) starts afresh."""
        now = time.monotonic()
        state = _Task(total, done, now, printed=now, printed_done=done)
        if self.bar is not None:
            if task in self.tasks:
                state.bar_task = self.tasks[task].bar_task
                self.bar.reset(state.bar_task, total=total, completed=done, rate="")
            else:
                state.bar_task = self.bar.add_task(task, total=total, completed=done, rate="")
        self.tasks[task] = state

    def advance(self, task: str, amount: int = 1, note: str = "", counted: Mapping[str, int] | None = None) -> None:
        state = self.tasks[task]
        state.done += amount
        state.made.update({"": amount, **(counted or {})})
        now = time.monotonic()
        if self.bar is not None:
            self.bar.update(state.bar_task, advance=amount, rate=state.rates(now) + (f"  {note}" if note else ""))
        elif state.due(now, self.schedule):
            self.console.print(state.line(task, now, note), markup=False, soft_wrap=True)
            state.printed, state.printed_done = now, state.done

    def log(self, line: str) -> None:
        if self.bar is not None:
            self.bar.console.log(line)
        else:
            self.console.print(line, markup=False, soft_wrap=True)


@contextmanager
def cli_progress() -> Iterator[CliProgress]:
    """The progress display for one command's run."""
    console = output_console(stderr=True)
    if not console.is_terminal:
        yield CliProgress(console, None)
        return
    with cli_bar(console) as bar:
        yield CliProgress(console, bar)


def cli_bar(console: Console) -> Progress:
    """The bars of a terminal (not started: `with` starts them, or a Live that shows them among other things)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[rate]}"),
    )
    return Progress(*columns, console=console)
