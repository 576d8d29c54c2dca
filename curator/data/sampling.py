"""Drawing distinct catalog items in proportion to fixed weights, skipping items a caller excludes."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from curator.errors import InputError


class ItemSampler:
    """Draws by rejection: the items a caller excludes (a user's sequence) are a small part of the
    catalog, so redrawing the few excluded ones is far cheaper than renormalising the weights per user."""

    def __init__(self, weights: np.ndarray):
        weights = np.asarray(weights, dtype=np.float64)
        self.weighted = np.flatnonzero(weights > 0)
        if not len(self.weighted):
            raise InputError("no item can be drawn: every weight is zero")
        self.cdf = np.cumsum(weights) / weights.sum()
        self.last = int(self.weighted[-1])  # rounding can leave cdf[-1] a hair below 1

    def draw(self, rng: np.random.Generator, count: int, exclude: Collection[int] = ()) -> np.ndarray:
        """`count` distinct items, none in `exclude`, in the order drawn."""
        left = self.drawable(exclude)
        if count > left:
            raise InputError(f"cannot draw {count} distinct items: only {left} drawable items are left")
        taken = set(exclude)
        chosen: list[int] = []
        while len(chosen) < count:
            batch = np.searchsorted(self.cdf, rng.random(2 * (count - len(chosen)) + 8), side="right")
            for item in np.minimum(batch, self.last).tolist():
                if item not in taken:
                    taken.add(item)
                    chosen.append(item)
                    if len(chosen) == count:
                        break
        return np.array(chosen, dtype=np.int64)

    def drawable(self, exclude: Collection[int] = ()) -> int:
        """How many distinct items `draw` could still give, `exclude` aside."""
        return len(self.weighted) - int(np.isin(self.weighted, np.fromiter(exclude, np.int64, len(exclude))).sum())
