"""Seeds derived from `--seed`: every random choice gets its own, named stream."""

import hashlib

from curator.errors import OptionError

# The widest seed every generator curator seeds takes (torch.manual_seed: 64 bits; numpy: non-negative).
MAX_SEED = 2**64 - 1


def derive_seed(seed: int, *labels: object) -> int:
    """A 63-bit seed that depends on `seed` and `labels` only (not on order of calls or process state)."""
    text = "/".join(str(part) for part in (seed, *labels))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def check_seed(seed: object, option: str = "--seed") -> None:
    """OptionError unless `seed` is an integer that seeds every generator directly (0 to 2^64-1)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise OptionError(f"{option}: {seed!r} is not a seed (an integer from 0 to 2^64-1 = {MAX_SEED})")
