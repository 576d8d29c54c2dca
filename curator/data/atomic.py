"""Write an output folder, or a file, so that it appears complete or not at all."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from curator.errors import OptionError


def check_output_free(out_dir: Path, overwrite: bool) -> None:
    """Raise OptionError if `out_dir` exists and may not be replaced (call early, before slow work)."""
    if out_dir.exists() and not overwrite:
        raise OptionError(f"output folder {out_dir} already exists (pass --overwrite to replace it)")
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError(f"output path {out_dir} exists and is not a folder")


def check_not_overlapping(inputs: list[Path], out_dir: Path) -> None:
    """Raise OptionError if writing (or replacing) `out_dir` could touch one of `inputs`."""
    out_dir = out_dir.resolve()
    for source in (path.resolve() for path in inputs):
        if out_dir == source or out_dir in source.parents or source in out_dir.parents:
            raise OptionError(f"output {out_dir} overlaps the input {source}; inputs are never modified")


@contextmanager
def atomic_output_dir(out_dir: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; on success rename it to `out_dir`.

    The temporary folder sits next to `out_dir` (same file system, so the rename is atomic). On any
    error it is deleted and `out_dir` is untouched. With `overwrite`, an existing `out_dir` is moved
    aside only after the new folder is complete, then deleted.
    """
    out_dir = Path(out_dir)
    check_output_free(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    staging = out_dir.parent / f".{out_dir.name}.tmp-{token}"
    staging.mkdir()
    try:
        yield staging
        check_output_free(out_dir, overwrite)  # something may have appeared there meanwhile
        publish(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def publish(staging: Path, out_dir: Path) -> None:
    """Rename the complete folder `staging` to `out_dir` (same file system). An existing `out_dir` is moved
    aside first and deleted only once the new one is in place."""
    if out_dir.exists():
        retired = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(out_dir, retired)
        os.rename(staging, out_dir)
        shutil.rmtree(retired)
    else:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, out_dir)


def atomic_write_file(target: Path, write: Callable[[Path], None]) -> None:
    """Have `write(path)` write `target` through a staging sibling renamed into place: a kill leaves the
    old file or none, never half of the new one."""
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        write(staging)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
