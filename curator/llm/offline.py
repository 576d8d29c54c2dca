"""`offline_hub()`: no network look-ups while curator loads a model, and nothing changed for the rest of the process.

curator never downloads (see models.py); loads already pass `local_files_only=True`, but peft and
sentence-transformers also ask the Hub for optional files unless offline mode is on. Offline mode is switched on
only around those loads, not at import: a program that imports curator keeps its own Hub settings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

_VARIABLE = "HF_HUB_OFFLINE"


@contextmanager
def offline_hub() -> Iterator[None]:
    """Run the block in Hugging Face Hub offline mode, then restore the variable and the flag as they were.

    huggingface_hub reads HF_HUB_OFFLINE once, when it is first imported, into `constants.HF_HUB_OFFLINE` (which
    transformers' and peft's checks read): the flag is set too, for loads after that import.
    """
    from huggingface_hub import constants

    before_variable, before_flag = os.environ.get(_VARIABLE), constants.HF_HUB_OFFLINE
    os.environ[_VARIABLE] = "1"
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before_flag
        if before_variable is None:
            del os.environ[_VARIABLE]
        else:
            os.environ[_VARIABLE] = before_variable
