"""LLM4DSR's window CSVs (`{clean,noisy}_{train_5000,valid,test}.csv` + an item title map, `id2name.json`).

Each row is one window of a user's sequence: `item_ids` (a Python list literal) = up to 10 history items
+ the target, `timestamp` = the target's time, `mask` marks injected noise (noisy files) and
`replaced_item_titles` holds the original titles of the masked items. Users' sequences are rebuilt by
stitching their windows (see `windows.py`); the noise mask goes to `labels/noise.parquet`, never into the
dataset tables, so no stage can read the ground truth by accident.
"""

from __future__ import annotations

import ast
import html
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from curator.data.import_config import LLM4DSR_VARIANTS
from curator.data.importers.common import SourceTables
from curator.data.importers.text import read_delimited, read_header
from curator.data.importers.windows import Window, stitch
from curator.data.ordering import raw_interactions
from curator.errors import InputError, OptionError

SPLITS = ("train", "valid", "test")
COLUMNS = ("user_id", "item_ids", "mask", "item_titles", "replaced_item_titles", "timestamp")
# The item id -> title map, by the names it goes by, first found first: the LLM4DSR repository writes id2name.json
# (titles shown to the LLM, one item per title) and id2name4Rec.json (every item), a folder per variant; a folder
# holding both variants prefixes them. `titles=` names any other file.
TITLES_FILES = ("{variant}_id2name.json", "id2name.json", "{variant}_id2name4Rec.json", "id2name4Rec.json")
NOISE_LABELS = "labels/noise.parquet"
WINDOW_LENGTH = 11  # 10 history items + the target


@dataclass(frozen=True)
class WindowRow:
    """A parsed row: where it came from, the window, and what only the importer sees (original titles)."""

    split: int
    row: int
    user_id: str
    window: Window
    titles: tuple[str, ...]
    original_titles: tuple[str | None, ...]


@dataclass
class Rebuilt:
    """Stitched sequences as columns (users in order of first appearance), with what the notes report."""

    columns: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    shown_titles: dict[str, str] = field(default_factory=dict)
    users_with_gaps: int = 0
    dropped_windows: int = 0
    dropped_interactions: int = 0
    disagreements: int = 0


def read_llm4dsr(
    source: Path, *, variant: str = "clean", splits: str = ",".join(SPLITS), titles: str | None = None
) -> SourceTables:
    if variant not in LLM4DSR_VARIANTS:
        raise OptionError(f"--variant: '{variant}' is not one of {', '.join(LLM4DSR_VARIANTS)}")
    if not source.is_dir():
        raise InputError(f"{source}: expected the LLM4DSR data folder")
    files = [_split_file(source, variant, split) for split in _parse_splits(splits)]
    titles_file = Path(titles) if titles else _titles_file(source, variant)
    catalog = _read_titles(titles_file)
    rows = [row for split, file in enumerate(files) for row in _read_windows(file, split)]
    rebuilt = _rebuild(rows)
    columns = rebuilt.columns

    missing = {item: title for item, title in rebuilt.shown_titles.items() if item not in catalog}
    items = pa.table({"item_id": [*catalog, *missing], "title": [*catalog.values(), *missing.values()]})
    interactions = raw_interactions(
        pa.array(columns["user_id"]),
        pa.array(columns["item_id"]),
        source=str(files[0]),
        timestamp=pa.array(columns["timestamp"], pa.int64()),
    )
    users = len(set(columns["user_id"]))
    notes = [
        f"rebuilt from LLM4DSR windows ({', '.join(f.name for f in files)}): {len(rows)} windows of "
        f"{len({r.user_id for r in rows})} users stitched where they overlap; {users - rebuilt.users_with_gaps} users' "
        "windows all fit one sequence",
        f"{rebuilt.users_with_gaps} users have windows that do not all overlap (gaps of unknown length): kept each "
        f"one's longest stitched stretch, dropping {rebuilt.dropped_windows} windows ({rebuilt.dropped_interactions} "
        "interactions)",
        "timestamps: a target has its window's timestamp (day precision); items seen only as history get the time "
        "of the next target after them (an upper bound): the order is exact, those times are not",
        f"titles from {titles_file.name} with HTML entities decoded; {len(missing)} items missing there take the title "
        "shown in the windows",
    ]
    labels = {}
    if variant == "noisy":
        notes.append(
            f"noise ground truth kept apart in {NOISE_LABELS}; {rebuilt.disagreements} positions are shown differently "
            "by overlapping windows (noise was injected per window): the earliest window's version is kept"
        )
        labels[NOISE_LABELS] = pa.table(
            {
                "user_id": pa.array(columns["user_id"], pa.string()),
                "position": pa.array(columns["position"], pa.int32()),
                "item_id": pa.array(columns["item_id"], pa.string()),
                "is_noise": pa.array(columns["is_noise"], pa.bool_()),
                "original_title": pa.array(columns["original_title"], pa.string()),
            }
        )
    return SourceTables(
        interactions=interactions,
        files=[*files, titles_file],
        items=items,
        items_file=str(titles_file),
        notes=notes,
        labels=labels,
    )


def _rebuild(rows: list[WindowRow]) -> Rebuilt:
    by_user: dict[str, list[WindowRow]] = defaultdict(list)
    for row in rows:
        by_user[row.user_id].append(row)
    rebuilt = Rebuilt()
    for user, user_rows in by_user.items():
        # Split, then time (day precision), then row; the stitcher copes with rows out of order among ties.
        ordered = sorted(user_rows, key=lambda r: (r.split, r.window.timestamp, r.row))
        segments = stitch([r.window for r in ordered])
        kept = max(reversed(segments), key=len)  # the longest; the latest among equals
        rebuilt.users_with_gaps += len(segments) > 1
        rebuilt.dropped_windows += sum(len(s.windows) for s in segments if s is not kept)
        rebuilt.dropped_interactions += sum(len(s) for s in segments if s is not kept)
        for position, (cover, time) in enumerate(zip(kept.cover, kept.times())):
            index, offset = cover[0]  # the earliest window showing this position decides its item
            row = ordered[index]
            item = row.window.items[offset]
            rebuilt.disagreements += len({ordered[i].window.items[j] for i, j in cover}) > 1
            rebuilt.shown_titles.setdefault(item, row.titles[offset])
            for name, value in (
                ("user_id", user),
                ("position", position),
                ("item_id", item),
                ("timestamp", time),
                ("is_noise", row.window.noise[offset]),
                ("original_title", row.original_titles[offset]),
            ):
                rebuilt.columns[name].append(value)
    return rebuilt


def _parse_splits(text: str) -> list[str]:
    splits = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in splits if s not in SPLITS]
    if not splits or unknown:
        raise OptionError(f"--splits: expected a comma-separated subset of {', '.join(SPLITS)}, got '{text}'")
    return sorted(set(splits), key=SPLITS.index)  # time order: the splits are cut globally by time


def _split_file(folder: Path, variant: str, split: str) -> Path:
    # The train file carries its sample size in the name (clean_train_5000.csv).
    matches = sorted(folder.glob(f"{variant}_{split}*.csv"))
    if len(matches) != 1:
        found = ", ".join(m.name for m in matches) or "none"
        raise InputError(f"{folder}: expected one {variant}_{split}*.csv file (found: {found})")
    return matches[0]


def _titles_file(folder: Path, variant: str) -> Path:
    """The first of TITLES_FILES in `folder`; InputError, saying what was looked for, when there is none."""
    names = [name.format(variant=variant) for name in TITLES_FILES]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise InputError(f"{folder}: no item title map (looked for {', '.join(names)}; --titles names another file)")


def _read_titles(file: Path) -> dict[str, str]:
    if not file.is_file():
        raise InputError(f"{file}: file not found (item id -> title map)")
    try:
        titles = json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InputError(f"{file} (byte offset {error.start}): not valid UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{file}, line {error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(titles, dict) or not all(isinstance(t, str) for t in titles.values()):
        raise InputError(f"{file}: expected a JSON object mapping item id to title")
    return {str(item): html.unescape(title) for item, title in titles.items()}


def _read_windows(file: Path, split: int) -> list[WindowRow]:
    header = read_header(file, delimiter=",", quoted=True)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(f"{file}: missing column(s) {', '.join(missing)} (columns: {', '.join(header)})")
    table = read_delimited(
        file, delimiter=",", column_names=header, column_types={"timestamp": pa.int64()}, quoted=True, has_header=True
    )
    columns = [table[name].to_pylist() for name in COLUMNS]
    return [_parse_row(file, split, row, *values) for row, values in enumerate(zip(*columns))]


def _parse_row(
    file: Path, split: int, row: int, user: str, ids: str, mask: str, titles: str, originals: str, time: int | None
) -> WindowRow:
    where = f"{file}, data row {row + 1}"
    items = _literal_list(ids, where, "item_ids", int)
    noise = _literal_list(mask, where, "mask", int)
    shown = _literal_list(titles, where, "item_titles", str)
    replaced = _literal_list(originals, where, "replaced_item_titles", str)
    if not items or len(noise) != len(items) or len(shown) != len(items):
        raise InputError(f"{where}: item_ids, mask and item_titles must be non-empty lists of the same length")
    if any(flag not in (0, 1) for flag in noise) or len(replaced) != sum(noise):
        raise InputError(f"{where}: mask must be 0/1 with one replaced_item_titles entry per 1")
    if time is None:
        raise InputError(f"{where}: empty timestamp")
    unused = iter(html.unescape(t) for t in replaced)
    return WindowRow(
        split=split,
        row=row,
        user_id=user,
        window=Window(
            items=tuple(str(i) for i in items),
            noise=tuple(bool(flag) for flag in noise),
            timestamp=time,
            # A window shorter than the longest (10 history + target) starts at the user's first item.
            starts_sequence=len(items) < WINDOW_LENGTH,
        ),
        titles=tuple(html.unescape(t) for t in shown),
        original_titles=tuple(next(unused) if flag else None for flag in noise),
    )


def _literal_list(text: str, where: str, column: str, kind: type) -> list:
    """A Python list literal of `kind` values, read with ast.literal_eval (never eval)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise InputError(f"{where}, column {column}: not a Python list literal") from None
    if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
        raise InputError(f"{where}, column {column}: expected a list of {kind.__name__} values")
    return value
