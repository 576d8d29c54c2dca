"""`--shard K/N`: run part K of N of a stage's work, so that N processes or machines share it.

A stage plans all of its work in numbered chunks first, the same plan in every shard; shard K takes
the chunks whose number is K-1 modulo N. Each chunk is then computed exactly as in a run without
shards, so merging the shards' outputs gives the unsharded result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from curator.errors import OptionError

SHARD = re.compile(r"^(\d+)/(\d+)$")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        if text is None:
            return cls(1, 1)
        match = SHARD.match(text.strip())
        if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
            raise OptionError(f"--shard takes K/N with 1 <= K <= N (e.g. 2/4), got '{text}'")
        return cls(int(match.group(1)), int(match.group(2)))

    def owns(self, chunk: int) -> bool:
        return chunk % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
