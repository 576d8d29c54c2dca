"""What the gate could do at other thresholds: the highest p, and per threshold the edits it would make and
the precision the calibration expects of them.

p is a calibrated probability of noise, so the expected share of true noise among the interactions a
threshold edits is the mean p of those interactions (the same per-user cap, highest first, as the gate).
When `--threshold` edits nothing, or little, this says whether a lower one would edit, and how well,
instead of leaving the user to guess; `curator denoise` prints it and its output's JSON holds it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

OUTLOOK_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
LITTLE = 0.1  # the gate "does little" below this share of the noise the data is estimated to hold


def edited_p(p_of_user: list[np.ndarray], threshold: float, max_edits: int | None) -> np.ndarray:
    """The p of every interaction the gate edits at `threshold`: p >= threshold, at most `max_edits` per
    user, highest first."""
    taken = [np.sort(p[p >= threshold])[::-1][:max_edits] for p in p_of_user]
    return np.concatenate(taken) if taken else np.zeros(0)


def gate_outlook(
    p_of_user: list[np.ndarray], max_edits: int | None, thresholds: tuple[float, ...] = OUTLOOK_THRESHOLDS
) -> dict[str, Any]:
    """{"highest_p", "at": {threshold: {"edits", "expected_precision"}}}; expected_precision is None where
    nothing is edited."""
    everything = np.concatenate(p_of_user) if p_of_user else np.zeros(0)
    at = {}
    for threshold in thresholds:
        edited = edited_p(p_of_user, threshold, max_edits)
        at[f"{threshold:g}"] = {
            "edits": len(edited),
            "expected_precision": round(float(edited.mean()), 4) if len(edited) else None,
        }
    return {"highest_p": round(float(everything.max()), 4) if len(everything) else None, "at": at}


def does_little(edits: int, interactions: int, share_of_noise: float) -> bool:
    """Whether `edits` are fewer than LITTLE of the noise that `share_of_noise` of `interactions` holds."""
    return edits < LITTLE * share_of_noise * interactions


def outlook_line(outlook: dict[str, Any], threshold: float) -> str:
    """One line: the highest p, and what each threshold below `threshold` would edit."""
    lower = [
        f"at {t}: ~{a['edits']} edits at expected precision {a['expected_precision']:.2f}"
        for t, a in outlook["at"].items()
        if float(t) < threshold and a["edits"]
    ]
    highest = f"highest p {outlook['highest_p'] or 0.0:.2f}"
    if not lower:
        return f"{highest}; no threshold from {min(map(float, outlook['at'])):g} up edits anything"
    return f"{highest}; {'; '.join(lower)}"
