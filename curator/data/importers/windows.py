"""Rebuild a user's sequence from fixed-length windows cut out of it (LLM4DSR's data format).

Each window is the user's last items up to a target: a full window is 10 history items + the target;
a shorter one starts at the user's first interaction. Windows of a user overlap where their targets are
less than a window apart, so the sequence can be stitched back: place every window at the offset where
it agrees with what is already known, merging stretches that a window bridges. Where windows do not
overlap, the gap length is unknown and the stretches stay separate segments.

Positions marked `noise` (injected items) are unknown for matching: they neither agree nor disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Window:
    """One window; its last item is the target, seen at `timestamp`."""

    items: tuple[str, ...]
    noise: tuple[bool, ...]
    timestamp: int
    starts_sequence: bool

    def key(self, offset: int) -> str | None:
        return None if self.noise[offset] else self.items[offset]


@dataclass
class Segment:
    """A stretch of the sequence known without gaps. `cover[p]` = (window index, offset in window) of
    every window covering position p, in order of window index."""

    keys: list[str | None]
    cover: list[list[tuple[int, int]]]
    target_times: dict[int, int]
    anchored: bool
    windows: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, index: int, window: Window) -> Segment:
        n = len(window.items)
        return cls(
            keys=[window.key(j) for j in range(n)],
            cover=[[(index, j)] for j in range(n)],
            target_times={n - 1: window.timestamp},
            anchored=window.starts_sequence,
            windows={index},
        )

    def __len__(self) -> int:
        return len(self.keys)

    def times(self) -> list[int]:
        """A time for every position: the time of the next target at or after it. Exact for targets,
        an upper bound (and monotone) for items seen only as history. Every segment ends at a target."""
        times, upcoming = [0] * len(self), None
        for position in range(len(self) - 1, -1, -1):
            upcoming = self.target_times.get(position, upcoming)
            times[position] = upcoming
        return times


def stitch(windows: Sequence[Window]) -> list[Segment]:
    """Segments of one user's sequence, ordered by time. `windows` in input order (split, time, row)."""
    segments: list[Segment] = []
    for index, window in enumerate(windows):
        merged = Segment.of(index, window)
        while (best := _best_placement(segments, merged)) is not None:
            _, which, offset = best
            merged = _merge(segments.pop(which), merged, offset)
        segments.append(merged)
    return sorted(segments, key=lambda s: (min(s.target_times.values()), min(s.windows)))


def _best_placement(segments: list[Segment], incoming: Segment) -> tuple[int, int, int] | None:
    """(agreeing positions, segment index, offset) of the placement of `incoming` with most agreement."""
    best = None
    for which, segment in enumerate(segments):
        for offset in range(-len(incoming) + 1, len(segment)):
            agreement = _agreement(segment, incoming, offset)
            if agreement and (best is None or agreement > best[0]):
                best = (agreement, which, offset)
    return best


def _agreement(a: Segment, b: Segment, offset: int) -> int:
    """Number of known positions on which `b` placed at `a`'s position `offset` agrees with `a`;
    0 if any known position disagrees or the placement breaks a rule (start, targets, time order)."""
    if (offset < 0 and a.anchored) or (offset > 0 and b.anchored):
        return 0
    agreement = 0
    for position in range(max(0, offset), min(len(a), offset + len(b))):
        key_a, key_b = a.keys[position], b.keys[position - offset]
        if key_a is not None and key_b is not None:
            if key_a != key_b:
                return 0
            agreement += 1
    if not agreement:
        return 0
    targets = dict(a.target_times)
    for position, time in b.target_times.items():
        if position + offset in targets:  # two windows cannot have the same target
            return 0
        targets[position + offset] = time
    times = [targets[p] for p in sorted(targets)]
    if any(later < earlier for earlier, later in zip(times, times[1:])):
        return 0
    return agreement


def _merge(a: Segment, b: Segment, offset: int) -> Segment:
    shift_a, shift_b = max(0, -offset), max(0, offset)
    length = max(shift_a + len(a), shift_b + len(b))
    keys: list[str | None] = [None] * length
    cover: list[list[tuple[int, int]]] = [[] for _ in range(length)]
    for segment, shift in ((a, shift_a), (b, shift_b)):
        for position, key in enumerate(segment.keys):
            keys[position + shift] = key if key is not None else keys[position + shift]
            cover[position + shift].extend(segment.cover[position])
    return Segment(
        keys=keys,
        cover=[sorted(c) for c in cover],
        target_times={p + shift_a: t for p, t in a.target_times.items()}
        | {p + shift_b: t for p, t in b.target_times.items()},
        anchored=a.anchored or b.anchored,
        windows=a.windows | b.windows,
    )
