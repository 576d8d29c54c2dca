"""How stages report progress: named tasks with a total, advanced in steps, and log lines. The command
line shows them (curator.cli.progress); library callers can pass nothing (`Silent`); `LogFile` also writes
them to a file as plain lines (a long run on a remote machine is followed with `tail -f`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
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


class LogFile:
    """Everything passed on to `inner`, and written to `path` as plain timestamped lines too (appended: a
    resumed run continues the file): a task's start, its count at most every `every` seconds, where it ended
    (at its total, or when the next task starts), and every log line."""

    def __init__(self, inner: Progress, path: Path, every: float = 10.0):
        self.inner, self.path, self.every = inner, path, every
        self.tasks: dict[str, list] = {}  # task -> [done, total, count last written, when]

    def _write(self, line: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(f"{stamp} {line}\n")

    def _count(self, task: str, note: str = "") -> None:
        state = self.tasks[task]
        self._write(f"{task}: {state[0]}/{state[1]}" + (f" {note}" if note else ""))
        state[2], state[3] = state[0], time.monotonic()

    def start(self, task: str, total: int, done: int = 0) -> None:
        for other, state in self.tasks.items():  # a task that stopped short of its total says where
            if state[0] != state[2]:
                self._count(other)
        self.tasks[task] = [done, total, done, 0.0]
        self._count(task)
        self.inner.start(task, total, done)

    def advance(self, task: str, amount: int = 1, note: str = "", counted: Mapping[str, int] | None = None) -> None:
        state = self.tasks[task]
        state[0] += amount
        if time.monotonic() - state[3] >= self.every or state[0] >= state[1]:
            self._count(task, note)
        self.inner.advance(task, amount, note, counted)

    def log(self, line: str) -> None:
        self._write(line)
        self.inner.log(line)
