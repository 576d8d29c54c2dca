"""How long stages report progress: named tasks with a total, advanced in steps. The CLI shows them as
rich progress bars (curator.cli.progress); library callers can pass nothing."""

from __future__ import annotations

from typing import Protocol


class StageProgress(Protocol):
    def start(self, task: str, total: int, done: int = 0) -> None: ...

    def advance(self, task: str, amount: int = 1, note: str = "") -> None: ...


class Silent:
    def start(self, task: str, total: int, done: int = 0) -> None:
        pass

    def advance(self, task: str, amount: int = 1, note: str = "") -> None:
        pass
