"""Content hashes of tables, independent of how (or by which pyarrow version) they were stored.

Parquet bytes vary with writer version, compression and row-group layout, so the hash is taken over
a canonical serialisation of the values instead: per column its name, type, validity mask and values
(fixed-width little-endian numbers; strings as lengths + UTF-8 bytes), in row order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa


def table_hash(table: pa.Table) -> str:
    """sha256 hex digest of a table's schema and values in row order."""
    digest = hashlib.sha256()
    _update_with_table(digest, table)
    return digest.hexdigest()


def content_hash(tables: Mapping[str, pa.Table]) -> str:
    """sha256 hex digest of several named tables; the names take part, their order does not."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        _update_with_bytes(digest, name.encode())
        _update_with_table(digest, tables[name])
    return digest.hexdigest()


def path_digest(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative names and bytes, in name order): the
    identity of an input that is not a dataset folder (a source to import, an adapter)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path) if file != path else file.name).encode() + b"\0")
        with file.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _update_with_bytes(digest, data: bytes) -> None:
    # Length-prefixed so that two different splits of the same bytes never hash alike.
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)


def _update_with_table(digest, table: pa.Table) -> None:
    _update_with_bytes(digest, str(len(table)).encode())
    for field, column in zip(table.schema, table.columns):
        _update_with_bytes(digest, f"{field.name}:{field.type}".encode())
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        _update_with_bytes(digest, np.packbits(array.is_valid().to_numpy(zero_copy_only=False)).tobytes())
        for part in _canonical_values(array):
            _update_with_bytes(digest, part)


def _canonical_values(array: pa.Array) -> list[bytes]:
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        filled = array.fill_null("")
        _, offsets_buffer, data_buffer = filled.buffers()
        offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
        offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[filled.offset : filled.offset + len(filled) + 1]
        data = b"" if data_buffer is None else data_buffer.to_pybytes()[offsets[0] : offsets[-1]]
        return [np.diff(offsets).astype("<i8").tobytes(), data]
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        values = array.fill_null(0).to_numpy(zero_copy_only=False)
        return [values.astype(values.dtype.newbyteorder("<")).tobytes()]
    raise TypeError(f"no canonical form for column type {array.type}")
