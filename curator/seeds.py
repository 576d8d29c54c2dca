"""Seeds derived from `--seed`: every random choice gets its own, named stream."""

import hashlib


def derive_seed(seed: int, *labels: object) -> int:
    """A 63-bit seed that depends on `seed` and `labels` only (not on order of calls or process state)."""
    text = "/".join(str(part) for part in (seed, *labels))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1
