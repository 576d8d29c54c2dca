"""Stitching LLM4DSR-style windows back into sequences."""

import random

from curator.data.importers.windows import Window, stitch

SEQUENCE = [f"i{k}" for k in range(40)]


def window(target: int, *, noise_at: int | None = None, time: int | None = None) -> Window:
    """The window whose target is SEQUENCE[target]: up to 10 history items + the target."""
    start = max(0, target - 10)
    items = list(SEQUENCE[start : target + 1])
    noise = [False] * len(items)
    if noise_at is not None:
        items[noise_at - start] = "noise"
        noise[noise_at - start] = True
    return Window(tuple(items), tuple(noise), timestamp=target if time is None else time, starts_sequence=start == 0)


def stitched_items(segment):
    return [segment.keys[p] for p in range(len(segment))]


def test_every_target_in_shuffled_order_gives_the_whole_sequence():
    windows = [window(t) for t in range(4, 40)]
    random.Random(0).shuffle(windows)
    (segment,) = stitch(windows)
    assert stitched_items(segment) == SEQUENCE
    assert segment.times() == [4, 4, 4, 4, *range(4, 40)]  # history before the first target: next target's time


def test_sparse_targets_still_stitch_when_windows_overlap():
    (segment,) = stitch([window(t) for t in (12, 20, 30, 39)])  # gaps of 8-10 targets: overlaps of 1-3 items
    assert stitched_items(segment) == SEQUENCE[2:40]
    assert segment.times()[:11] == [12] * 11


def test_windows_without_overlap_stay_separate_segments():
    segments = stitch([window(30), window(10)])  # 10 covers 0..10, 30 covers 20..30
    assert [stitched_items(s) for s in segments] == [SEQUENCE[0:11], SEQUENCE[20:31]]  # ordered by time


def test_noise_neither_matches_nor_blocks():
    # Window 15 shows noise at position 12, window 14 shows the real item there.
    segments = stitch([window(14), window(15, noise_at=12), window(16, noise_at=16)])
    (segment,) = segments
    assert stitched_items(segment)[:-1] == SEQUENCE[4:16]
    assert segment.keys[-1] is None  # only ever seen as noise: unknown
    covering = segment.cover[12 - 4]
    assert covering == [(0, 8), (1, 7), (2, 6)]  # three windows show position 12, in window order


def test_time_order_rules_out_a_wrong_placement():
    # A repeated item would allow a 1-item overlap; the later target's earlier time forbids it.
    a = Window(("x", "y", "z"), (False,) * 3, timestamp=100, starts_sequence=True)
    b = Window(("z", "w"), (False,) * 2, timestamp=50, starts_sequence=False)
    assert len(stitch([a, b])) == 2


def test_a_window_that_starts_the_sequence_cannot_be_placed_later():
    a = Window(("p", "q", "r", "s"), (False,) * 4, timestamp=1, starts_sequence=False)
    b = Window(("r", "s", "t"), (False,) * 3, timestamp=2, starts_sequence=True)
    assert len(stitch([a, b])) == 2
    b_free = Window(("r", "s", "t"), (False,) * 3, timestamp=2, starts_sequence=False)
    (segment,) = stitch([a, b_free])
    assert stitched_items(segment) == ["p", "q", "r", "s", "t"]
