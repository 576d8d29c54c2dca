"""Read delimited text files fast (pyarrow.csv), with errors that name the file and line.

The fast path parses the whole file in C++. When it fails, the file is scanned again in Python only to
find the first offending line, so valid files pay nothing for the precise message.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from curator.errors import InputError

# pyarrow.csv takes a one-character delimiter; multi-character ones ('::' in MovieLens-1M) are rewritten
# to this control character, which does not occur in text data.
_UNIT_SEPARATOR = "\x1f"
SNIFFED_DELIMITERS = (",", "\t", ";", "|")
# Python's csv module refuses a field over 128 KiB; here a field may be as long as its file (read whole anyway).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def read_delimited(
    path: Path,
    *,
    delimiter: str,
    column_names: Sequence[str],
    column_types: Mapping[str, pa.DataType] | None = None,
    encoding: str = "utf-8",
    quoted: bool = False,
    has_header: bool = False,
) -> pa.Table:
    """Parse `path` into a table with the given columns; untyped columns are strings (never null).

    `has_header` skips the first line (the caller read the names from it, see `read_header`). Typed
    columns treat an empty field (quoted or not) as null. Raises InputError naming file and line for a wrong
    number of fields, a value that does not parse, or (for UTF-8 files) bytes that are not UTF-8.
    """
    data = _read_bytes(path)
    if len(delimiter) > 1:
        data = data.replace(delimiter.encode(encoding), _UNIT_SEPARATOR.encode())
        delimiter = _UNIT_SEPARATOR
    column_types = dict(column_types or {})
    types = {name: column_types.get(name, pa.string()) for name in column_names}
    schema = pa.schema([(name, types[name]) for name in column_names])
    body = data.partition(b"\n")[2] if has_header else data
    if not body.strip():
        return schema.empty_table()

    def parse(block_size: int | None = None) -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(
                column_names=list(column_names), skip_rows=int(has_header), encoding=encoding, block_size=block_size
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char='"' if quoted else False, newlines_in_values=quoted
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=False, quoted_strings_can_be_null=True
            ),
        )

    try:
        try:
            return parse()
        except pa.ArrowInvalid as error:
            if "straddl" not in str(error):
                raise
            # A line longer than pyarrow's block (1 MiB): parse the file as one block, in one thread.
            return parse(block_size=len(data) + 1)
    except pa.ArrowInvalid as error:
        _raise_first_bad_line(path, data, delimiter, column_names, column_types, encoding, quoted, has_header)
        raise InputError(f"{path}: {str(error).splitlines()[0]}") from None


def read_header(path: Path, *, delimiter: str | None, encoding: str = "utf-8", quoted: bool = False) -> list[str]:
    """The fields of the first line. With `delimiter=None`, detect it (see `sniff_delimiter`)."""
    data = _read_bytes(path)
    text = _decode(path, data, encoding)
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if not first_line.strip():
        raise InputError(f"{path}: empty file (expected a header line)")
    delimiter = delimiter or sniff_delimiter(path, text)
    reader = csv.reader([first_line], **_dialect(delimiter, quoted))
    return next(_checked_rows(path, reader))


def sniff_delimiter(path: Path, text: str | None = None) -> str:
    """The delimiter of a CSV/TSV file: the candidate (, TAB ; |) that splits its header line most.

    The header is the one line that defines the columns, so it decides; a malformed data row then gets
    its own error with its line number instead of making detection fail.
    """
    text = text if text is not None else _decode(path, _read_bytes(path), "utf-8")
    header = text.split("\n", 1)[0]
    if not header.strip():
        raise InputError(f"{path}: empty file (expected a header line)")
    counts = {candidate: header.count(candidate) for candidate in SNIFFED_DELIMITERS}
    best = max(counts, key=counts.get)
    if not counts[best]:
        raise InputError(f"{path}: cannot detect the delimiter from the header line (pass --delimiter)")
    return best


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return path.read_bytes()


def _decode(path: Path, data: bytes, encoding: str) -> str:
    """`data` as text; a UTF-8 file's byte-order mark (Excel writes one) is not part of its first field, as in
    the fast parser."""
    if encoding.lower().replace("-", "") == "utf8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputError(
            f"{path}, line {line} (byte offset {error.start}): not valid {encoding.upper()} text"
        ) from None


def _dialect(delimiter: str, quoted: bool) -> dict:
    if quoted:
        return {"delimiter": delimiter, "quotechar": '"'}
    return {"delimiter": delimiter, "quoting": csv.QUOTE_NONE}


def _raise_first_bad_line(
    path: Path,
    data: bytes,
    delimiter: str,
    column_names: Sequence[str],
    column_types: Mapping[str, pa.DataType],
    encoding: str,
    quoted: bool,
    has_header: bool,
) -> None:
    """Scan the file the slow way and raise InputError for the first line the fast parser rejected."""
    text = _decode(path, data, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), **_dialect(delimiter, quoted))
    for fields in _checked_rows(path, reader):
        if (has_header and reader.line_num == 1) or not fields or fields == [""]:
            continue
        where = f"{path}, line {reader.line_num}"
        if len(fields) != len(column_names):
            raise InputError(f"{where}: expected {len(column_names)} fields, found {len(fields)}")
        for name, value in zip(column_names, fields):
            kind = column_types.get(name)
            if kind is not None and value != "" and not _parses_as(value, kind):
                raise InputError(f"{where}, column {name}: {quote_value(value)} is not a valid {_type_word(kind)}")


def _checked_rows(path: Path, reader) -> Iterator[list[str]]:
    """The rows of a csv reader; what the csv module cannot split is an InputError naming the line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            problem = "a line break inside an unquoted field" if "new-line character" in str(error) else str(error)
            raise InputError(f"{path}, line {max(reader.line_num, 1)}: {problem}") from None


def quote_value(value: str, most: int = 60) -> str:
    """`value` in quotes for a message, cut short when long (a field can be megabytes)."""
    return f"'{value}'" if len(value) <= most else f"'{value[:most]}...' ({len(value):,} characters)"


def _parses_as(value: str, kind: pa.DataType) -> bool:
    try:
        int(value) if pa.types.is_integer(kind) else float(value)
    except ValueError:
        return False
    return True


def _type_word(kind: pa.DataType) -> str:
    return "integer" if pa.types.is_integer(kind) else "number"
