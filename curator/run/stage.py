"""The Stage contract, and the one envelope every stage runs in.

A stage is one command (import, inject, profile, adapt, denoise, defend, evaluate, train). It declares:

- `name`, and whether it is `resumable` (keeps a work folder, `OUT.partial/`, that a killed run continues);
- `validate()`: its typed config checked before anything heavy loads;
- `inputs()`: what it reads, by name: dataset folders (known by their content hash) and other files or
  folders (known by the digest of their bytes); the output may never overlap one of them;
- `config`: its typed config, and `options()`: what changes its output, as JSON (the config by default);
- `versions()`: the versions that matter beside the code's (model, adapter, prompt versions);
- `produce(run)`: the work. It fills `run.folder` with the output and returns a summary (plain JSON, what
  the command prints), or `Pending(summary)` when this process did its share and the output is not
  complete yet (a shard of a sharded run).

`run_stage` is the envelope around `produce`, the same for every stage:

1. validate the config; refuse an output that overlaps an input;
2. delete what killed runs of the same OUT left beside it (staging folders no live process holds);
3. a no-op when `OUT/stage.json` records this stage's fingerprint (same inputs, config and versions) and
   `overwrite` is not asked for: the recorded summary is returned and nothing runs;
4. refuse an existing output unless `overwrite`;
5. open the work folder (resumable stages): new, or the one a killed run of the same work left (`resume`);
6. `produce`, then write `stage.json` (stage, fingerprint, identity, summary) beside the output and rename
   the folder into place: the output appears complete or not at all. The work folder goes last.

When anything fails, nothing is left behind but a work folder holding real progress (for `--resume`): the
staging folder goes, and so does a work folder this run made and recorded no progress in. A file-system
error the user can act on (read-only, full, no permission) is one OutputError.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from curator import __version__
from curator.data.atomic import (
    Staging,
    check_not_overlapping,
    check_output_free,
    output_errors,
    publish,
    remove_stale_staging,
)
from curator.data.dataset import Dataset, read_dataset
from curator.data.hashing import path_digest
from curator.data.schema import STAGE_FILE
from curator.run.progress import Progress, Silent
from curator.run.workfolder import WorkFolder, work_folder_for

STAGING = "output"  # a resumable stage's output is staged inside its work folder, never beside it


@dataclass(frozen=True)
class Pending:
    """What `produce` returns when this process did its share but the output is not complete yet."""

    summary: dict[str, Any]


@dataclass(frozen=True)
class StageResult:
    out: Path
    summary: dict[str, Any]
    finished: bool = True  # False: a shard's share is done, other shards' are not
    already_done: bool = False  # the output already held this work: nothing ran

    def dataset(self) -> Dataset:
        """The output, loaded as a dataset folder (for the stages whose output is one)."""
        return read_dataset(self.out)


class Stage(ABC):
    name: ClassVar[str]
    resumable: ClassVar[bool] = False
    config: Any  # a dataclass with validate()
    out: Path

    def validate(self) -> None:
        self.config.validate()

    @abstractmethod
    def inputs(self) -> dict[str, Dataset | Path]: ...

    def options(self) -> dict[str, Any]:
        return asdict(self.config)

    def versions(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    def produce(self, run: StageRun) -> dict[str, Any] | Pending: ...

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same work, as plain JSON."""
        inputs = {
            name: source.content_hash if isinstance(source, Dataset) else path_digest(source)
            for name, source in self.inputs().items()
        }
        identity = {
            "stage": self.name,
            "inputs": inputs,
            "options": self.options(),
            "versions": {"curator": __version__, **self.versions()},
        }
        return json.loads(json.dumps(identity))  # tuples as lists: equal to what a JSON file gives back

    def fingerprint(self) -> str:
        return fingerprint_of(self.identity())


def fingerprint_of(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


@dataclass
class StageRun:
    """What a running stage is handed: its work folder, progress, the command line, and the folder to fill."""

    out: Path
    work: WorkFolder | None
    progress: Progress
    command: list[str]
    _folder: Path | None = field(default=None, repr=False)
    _staging: Staging | None = field(default=None, repr=False)

    @property
    def folder(self) -> Path:
        """The (empty, on first use) folder the output is written into; renamed to `out` when it is done."""
        if self._folder is None:
            if self.work is not None:
                self._folder = self.work.path / STAGING
                if self._folder.exists():  # a kill while the last run wrote its output
                    shutil.rmtree(self._folder)
                self._folder.mkdir()
            else:
                self._staging = Staging(self.out)
                self._folder = self._staging.path
        return self._folder

    def discard(self) -> None:
        """Delete the folder being filled, unless it was published."""
        if self._staging is not None:
            self._staging.close()
        elif self._folder is not None and self._folder.exists():
            shutil.rmtree(self._folder)


def run_stage(
    stage: Stage,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    command: Sequence[str] | None = None,
) -> StageResult:
    """Run `stage` in the envelope described in the module docstring.

    `command` is what the output's manifest records as the command that made it: the command line gives its own
    (`curator ...`); a Python caller need not, and None records the process's own (`sys.argv`)."""
    stage.validate()
    out = Path(stage.out)
    check_not_overlapping(
        [source.path if isinstance(source, Dataset) else Path(source) for source in stage.inputs().values()], out
    )
    identity = stage.identity()
    fingerprint = fingerprint_of(identity)
    with output_errors(out):
        remove_stale_staging(out)
        recorded = finished_record(out)
        if recorded is not None and recorded["fingerprint"] == fingerprint and not overwrite:
            return StageResult(out, recorded["summary"], already_done=True)
        check_output_free(out, overwrite)
        work = (
            WorkFolder.open(work_folder_for(out), identity, resume=resume, overwrite=overwrite)
            if stage.resumable
            else None
        )
        run = StageRun(out, work, progress or Silent(), list(sys.argv if command is None else command))
        try:
            outcome = produce_and_publish(stage, run, fingerprint, identity, overwrite)
        except BaseException:
            run.discard()
            if work is not None:
                work.discard_unused()
            raise
        run.discard()  # after publishing: only the lock goes
        if isinstance(outcome, Pending):
            return StageResult(out, outcome.summary, finished=False)
        if work is not None:
            work.remove()
    return StageResult(out, outcome)


def produce_and_publish(
    stage: Stage, run: StageRun, fingerprint: str, identity: dict[str, Any], overwrite: bool
) -> dict[str, Any] | Pending:
    """`produce`, then the record `stage.json` in the output folder and the rename into place; a Pending
    outcome (a shard's share done) publishes nothing."""
    outcome = stage.produce(run)
    if isinstance(outcome, Pending):
        return outcome
    record = {"stage": stage.name, "fingerprint": fingerprint, "identity": identity, "summary": outcome}
    (run.folder / STAGE_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    check_output_free(run.out, overwrite)  # something may have appeared there meanwhile
    publish(run.folder, run.out)
    return outcome


def finished_record(out: Path) -> dict[str, Any] | None:
    """The record of the stage that wrote `out`, or None when `out` is not a finished stage's output."""
    file = Path(out) / STAGE_FILE
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
