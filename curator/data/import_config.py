"""What `curator data import` can be asked for, without loading any importer: the formats, the bundled datasets,
the choices of the options that have a fixed set of values, and the import's typed config.

The command line builds its choices from these names at start-up, so this module imports nothing heavy
(no numpy, no pyarrow); curator.data.importers holds the readers and checks that the registry has one per format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from curator.errors import OptionError

FORMATS = ("recbole", "movielens", "sequence", "csv", "llm4dsr")
# Source names that need no path, and their format (curator.data.importers.SHORTCUTS locates their files).
SHORTCUT_FORMATS = {"movielens-100k": "recbole", "ml-100k": "recbole"}
DUPLICATE_ACTIONS = ("keep", "drop", "error")
LLM4DSR_VARIANTS = ("clean", "noisy")


def check_on_duplicates(action: str | None) -> None:
    if action is not None and action not in DUPLICATE_ACTIONS:
        raise OptionError(f"--on-duplicates: '{action}' is not one of {', '.join(DUPLICATE_ACTIONS)}")


@dataclass(frozen=True)
class ImportConfig:
    format: str | None = None  # None: a shortcut's own format
    name: str | None = None  # None: the file or folder name
    options: Mapping[str, Any] = field(default_factory=dict)  # the reader's keyword options
    on_duplicates: str | None = None  # keep | drop | error rows that repeat an earlier one; None: keep, with a note

    def validate(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise OptionError(f"--format: unknown format '{self.format}' (one of {', '.join(FORMATS)})")
        check_on_duplicates(self.on_duplicates)

    def recorded(self) -> dict[str, str]:
        """The options as the manifest's config records them: those given, as text."""
        given = {**self.options, **({"on_duplicates": self.on_duplicates} if self.on_duplicates else {})}
        return {key: str(value) for key, value in given.items()}
