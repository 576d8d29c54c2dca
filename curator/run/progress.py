"""How stages report progress: named tasks with a total, advanced in steps, and log lines. The command
line shows them (curator.cli.progress); library callers can pass nothing (`Silent`)."""

from __future__ import annotations

from collections.abc import Mapping
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
