"""The work folder of a long stage (`OUT.partial/`, next to its output): what a killed run resumes from.

It holds the run's identity (input hash + options: a run resumes only the same work), small JSON
records (e.g. the plan of chunks, fixed once at the start) and the finished chunks as Parquet files.
Every file is written to a temporary name and renamed, so a kill leaves finished chunks or none, never
half of one. The folder is deleted once the output is complete, and also when the run that made it fails
before recording any progress (`discard_unused`): an option found bad only after start-up (an unknown
model, no GPU) must not leave a folder that refuses the corrected command.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curator.data.atomic import atomic_write_file, make_folder, remove_made
from curator.errors import OptionError

IDENTITY_FILE = "run.json"


def work_folder_for(out_dir: Path) -> Path:
    return out_dir.parent / f"{out_dir.name}.partial"


class WorkFolder:
    def __init__(self, path: Path, made: list[Path] | None = None):
        self.path = path
        self.made = made  # the folders this run made for it (`make_folder`); None when it resumes one

    @classmethod
    def open(cls, path: Path, identity: dict[str, Any], *, resume: bool, overwrite: bool) -> WorkFolder:
        """The work folder for `identity`: a new one, or the one a killed run left (only with `resume`)."""
        marker = path / IDENTITY_FILE
        if path.exists() and overwrite:
            shutil.rmtree(path)
        elif marker.is_file():
            if json.loads(marker.read_text(encoding="utf-8")) != identity:
                raise OptionError(
                    f"{path} holds an unfinished run with other data or options: "
                    "pass --overwrite to start again, or choose another --out"
                )
            if not resume:
                raise OptionError(
                    f"{path} holds an unfinished run of this command: pass --resume to continue "
                    "it, or --overwrite to start again"
                )
            return cls(path)
        elif path.exists():
            raise OptionError(f"{path} exists and is not a curator work folder; move it away")
        folder = cls(path, make_folder(path))
        try:
            folder.write_json(IDENTITY_FILE, identity)
        except BaseException:  # e.g. a full disk: a folder without its identity would refuse every later run
            folder.discard_unused()
            raise
        return folder

    def read_json(self, name: str) -> Any | None:
        file = self.path / name
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None

    def write_json(self, name: str, content: Any) -> None:
        self.write_file(
            name,
            lambda target: target.write_text(
                json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            ),
        )

    def chunk_file(self, stage: str, index: int) -> Path:
        return self.path / stage / f"chunk-{index:05d}.parquet"

    def has_chunk(self, stage: str, index: int) -> bool:
        return self.chunk_file(stage, index).is_file()

    def write_chunk(self, stage: str, index: int, table: pa.Table) -> None:
        target = self.chunk_file(stage, index)
        target.parent.mkdir(exist_ok=True)
        atomic_write_file(target, lambda staging: pq.write_table(table, staging))

    def read_chunk(self, stage: str, index: int) -> pa.Table:
        return pq.read_table(self.chunk_file(stage, index))

    def write_file(self, name: str, write: Callable[[Path], None]) -> None:
        """Have `write(path)` write the folder's file `name`, atomically (a kill leaves the old file or
        none, never half of the new one)."""
        atomic_write_file(self.path / name, write)

    def remove(self) -> None:
        shutil.rmtree(self.path)

    def has_progress(self) -> bool:
        """Whether a run recorded anything here beyond the identity it was opened with (a file: a folder made
        for files that never came holds nothing to resume)."""
        return any(file.is_file() and file != self.path / IDENTITY_FILE for file in self.path.rglob("*"))

    def discard_unused(self) -> None:
        """After a failed run: remove the folder if this run made it and recorded no progress in it (with the
        empty folders made above it), so that the corrected command starts afresh; else keep it for --resume."""
        if self.made is not None and self.path.exists() and not self.has_progress():
            shutil.rmtree(self.path)
            remove_made(self.made[1:])
