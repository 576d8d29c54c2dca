"""`curator adapt --time-budget`: seconds for the whole command, not only its training steps.

The command's phases, and what each may take of the budget:

    ID model steps          stop once ID_MODEL_SHARE of the budget is spent
    item texts (frozen)     not cut: the LLM part needs every item once
    training steps          stop once the budget less AFTER_TRAINING_SHARE is spent
    calibration             not cut: p must be calibrated on every held-out user
    ranker, its report      positions stop being added once the whole budget is spent (at least
                            MIN_POSITIONS of them)

The shares are a plan, not a measurement: the phases that are not cut (the item texts on a slow machine,
calibration on many held-out users) can still take the run past the budget, and the card says how long it
took. A resumed run counts what the killed one spent (kept in the work folder at every checkpoint).
"""

from __future__ import annotations

import math
import time

from curator.run.workfolder import WorkFolder

ID_MODEL_SHARE = 0.2
AFTER_TRAINING_SHARE = 0.15
MIN_POSITIONS = 50  # ranker positions fitted on / reported on, however little time is left
SPENT_FILE = "budget.json"


class Budget:
    def __init__(self, seconds: float | None, spent: float = 0.0):
        self.seconds = seconds
        self.started = time.monotonic() - spent

    @classmethod
    def resumed(cls, seconds: float | None, work: WorkFolder) -> Budget:
        """The budget of a run in `work`, counting what an earlier, killed run there spent."""
        return cls(seconds, (work.read_json(SPENT_FILE) or {}).get("spent", 0.0))

    def save(self, work: WorkFolder) -> None:
        work.write_json(SPENT_FILE, {"spent": self.spent()})

    def spent(self) -> float:
        return time.monotonic() - self.started

    def over(self, share: float = 1.0) -> bool:
        """Whether `share` of the budget is spent (never, without a budget)."""
        return self.spent() >= (math.inf if self.seconds is None else share * self.seconds)
