"""Write an output folder, or a file, so that it appears complete or not at all, and leave nothing behind
when writing fails.

An output folder OUT is filled in a hidden staging folder beside it (`.OUT.tmp-XXXXXXXX`, same file system:
the final rename is atomic). The process filling it holds a lock on it for as long as it lives, so a later
run of the same OUT tells a staging folder a killed run left (no lock: deleted) from one another live run
is filling (locked: left alone). File-system errors the user can act on (read-only, full, not allowed) become
one OutputError naming OUT.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from curator.errors import OptionError, OutputError

# Errors of the file system an output goes to, which the user can act on (another --out, free space, rights).
OUTPUT_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM})


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
def output_errors(out_dir: Path) -> Iterator[None]:
    """Turn a file-system error the user can act on, met while writing `out_dir`, into one OutputError.

    Read-only, full and over-quota file systems are only ever met writing. A permission error names its file:
    when that file is not one of the output's own, it is reported as it is (it may be an input)."""
    try:
        yield
    except Exception as error:
        cause = file_system_cause(error)
        if cause is None:
            raise
        reason = os.strerror(cause.errno)
        if (
            cause.errno in (errno.EACCES, errno.EPERM)
            and cause.filename
            and not is_output_path(cause.filename, out_dir)
        ):
            raise OutputError(f"{cause.filename}: {reason}") from None
        raise OutputError(f"cannot write {out_dir}: {reason}") from None


def file_system_cause(error: BaseException | None) -> OSError | None:
    """The OSError of OUTPUT_ERRNOS that `error` is, or was raised while handling (torch, for one, reports a
    failed write as a RuntimeError raised in the handling of the OSError of its file)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in OUTPUT_ERRNOS:
            return error
        error = error.__cause__ or error.__context__
    return None


def is_output_path(path: str | os.PathLike, out_dir: Path) -> bool:
    """Whether `path` is `out_dir`, a folder above it, or inside it, its staging folders or its work folder."""
    path, out_dir = Path(os.path.abspath(path)), Path(os.path.abspath(out_dir))
    if path == out_dir or path in out_dir.parents:
        return True
    if out_dir.parent not in path.parents:
        return False
    top = path.relative_to(out_dir.parent).parts[0]
    own_prefixes = (f".{out_dir.name}.tmp-", f".{out_dir.name}.old-")
    return top in (out_dir.name, f"{out_dir.name}.partial") or top.startswith(own_prefixes)


def make_folder(path: Path) -> list[Path]:
    """Make `path` and the missing folders above it; the folders made, the deepest first (`remove_made`)."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    path.mkdir(parents=True)
    return missing


def remove_made(folders: list[Path]) -> None:
    """Remove the folders `make_folder` made, the deepest first, as far as they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (something else lives there now) or already gone
            return


class Staging:
    """The hidden folder beside `out_dir` that this process fills; locked while this process lives."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.path, self.made, self._lock = self._locked_folder()

    def _locked_folder(self) -> tuple[Path, list[Path], int]:
        while True:
            path = self.out_dir.parent / f".{self.out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
            made = make_folder(path)
            lock = os.open(path, os.O_RDONLY)
            fcntl.flock(lock, fcntl.LOCK_EX)
            # Between mkdir and flock another run could take the new folder for a killed run's and delete it.
            if path.is_dir() and os.stat(path).st_ino == os.fstat(lock).st_ino:
                return path, made, lock
            os.close(lock)

    def close(self) -> None:
        """Delete the folder (unless it was published), the empty folders made for it, and drop the lock."""
        if self.path.exists():
            shutil.rmtree(self.path)
        if not self.out_dir.exists():
            remove_made(self.made[1:])
        os.close(self._lock)


def remove_stale_staging(out_dir: Path) -> None:
    """Delete the staging folders of `out_dir` that killed runs left (no live process holds their lock), and
    the old output a run killed while replacing it left aside."""
    out_dir = Path(out_dir)
    for staging in out_dir.parent.glob(f".{glob.escape(out_dir.name)}.tmp-*"):
        if staging.is_dir() and not staging.is_symlink():
            _remove_if_unlocked(staging)
    for retired in out_dir.parent.glob(f".{glob.escape(out_dir.name)}.old-*"):
        shutil.rmtree(retired, ignore_errors=True)


def _remove_if_unlocked(folder: Path) -> None:
    try:
        lock = os.open(folder, os.O_RDONLY)
    except FileNotFoundError:  # its run just published or removed it
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # a live run is filling it
        os.close(lock)
        return
    try:
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(lock)


@contextmanager
def atomic_output_dir(out_dir: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder beside `out_dir` to fill; on success rename it to `out_dir`.

    On any error the staging folder is deleted and `out_dir` is untouched; a file-system error the user can
    act on is an OutputError. With `overwrite`, an existing `out_dir` is moved aside only after the new
    folder is complete, then deleted.
    """
    out_dir = Path(out_dir)
    check_output_free(out_dir, overwrite)
    with output_errors(out_dir):
        remove_stale_staging(out_dir)
        staging = Staging(out_dir)
        try:
            yield staging.path
            check_output_free(out_dir, overwrite)  # something may have appeared there meanwhile
            publish(staging.path, out_dir)
        finally:
            staging.close()


def publish(staging: Path, out_dir: Path) -> None:
    """Rename the complete folder `staging` to `out_dir` (same file system). An existing `out_dir` is moved
    aside first and deleted only once the new one is in place."""
    if out_dir.exists():
        retired = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(out_dir, retired)
        os.rename(staging, out_dir)
        shutil.rmtree(retired, ignore_errors=True)  # a concurrent run of OUT may be deleting it too
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
