"""How stages report progress: named tasks with a total, advanced in steps, and log lines. The command
line shows them (curator.cli.progress); library callers can pass nothing (`Silent`); `LogFile` also writes
them to a file as plain lines (a long run on a remote machine is followed with `tail -f`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol


class Progress(Protocol):
    def start(self, task: str, total: int, done: int = 0) -> None:
        """A task of `total` steps, `done` of them already (a resumed run)."""

    def advance(self, task: str, amount: int = 1, note: str = "", counted: Mapping[str, int] | None = None) -> None:
        """`amount` more steps of `task`; `counted`: other quantities this step made (e.g. tokens), shown as
        rates."""

    def log(self, line: str) -> None:
        """A line worth keeping in the output (e.g. one per training epoch)."""


class Silent:
    def start(self, task: str, total: int, done: int = 0) -> None:
        pass

    def advance(self, task: str, amount: int = 1, note: str = "", counted: Mapping[str, int] | None = None) -> None:
        pass

    def log(self, line: str) -> None:
        pass


@dataclass
class _Logged:
    """A task as LogFile follows it."""

    done: int
    total: int
    written: int  # the count last written to the file
    when: float = 0.0  # and when (time.monotonic)


class LogFile:
    """Everything passed on to `inner`, and written to `path` as plain timestamped lines too (appended: a
    resumed run continues the file): a task's start, its count at most every `every` seconds, where it ended
    (at its total, or when the next task starts), and every log line."""

    def __init__(self, inner: Progress, path: Path, every: float = 10.0):
        self.inner, self.path, self.every = inner, path, every
        self.tasks: dict[str, _Logged] = {}

    def _write(self, line: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(f"{stamp} {line}\n")

    def _count(self, task: str, note: str = "") -> None:
        state = self.tasks[task]
        self._write(f"{task}: {state.done}/{state.total}" + (f" {note}" if note else ""))
        state.written, state.when = state.done, time.monotonic()

    def start(self, task: str, total: int, done: int = 0) -> None:
        for other, state in self.tasks.items():  # a task that stopped short of its total says where
            if state.done != state.written:
                self._count(other)
        self.tasks[task] = _Logged(done, total, done)
        self._count(task)
        self.inner.start(task, total, done)

    def advance(self, task: str, amount: int = 1, note: str = "", counted: Mapping[str, int] | None = None) -> None:
        state = self.tasks[task]
        state.done += amount
        if time.monotonic() - state.when >= self.every or state.done >= state.total:
            self._count(task, note)
        self.inner.advance(task, amount, note, counted)

    def log(self, line: str) -> None:
        self._write(line)
        self.inner.log(line)
