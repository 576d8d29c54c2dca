"""How much of the data being cleaned is noise, and p restated at that share.

The calibration is fitted on held-out users with a known share of swapped positions (about
CORRUPTION_RATE), and Bayes' rule ties its p to that share: p / (1 - p) = likelihood ratio x the share's
odds. On data with less noise the same evidence means lower odds, and p at the fitted share overstates
them: on clean MovieLens-100K, 2,410 training interactions reached p >= 0.5 and 31 reached 0.9.

The data's own share is estimated without labels by expectation-maximisation over its p (Saerens,
Latinne & Decaestecker, 2002: restate every p at the current share, take their mean as the next share,
until it settles), and p is restated at it. The estimate is never taken above the fitted share: a
denoiser's scores also move when the data's noise is of another kind than the swaps it learned from, and
the estimate then runs high (Amazon Toys' real noise: 0.24 estimated for 0.10 true, ECE 0.013 -> 0.14);
raising p would edit more on the strength of it. Lowering p only ever edits less.
"""

from __future__ import annotations

import numpy as np

TOLERANCE = 1e-6  # the estimate has settled when a round moves it by less than this
MAX_ROUNDS = 10_000  # a weak denoiser's estimate creeps: plenty, at microseconds per 100k scores a round


def restate(p: np.ndarray, fitted_share: float, share: float) -> np.ndarray:
    """`p`, calibrated where `fitted_share` of positions were noise, restated where `share` are: the
    likelihood ratio each p implies, times the new share's odds. p of 0 or 1 stay put."""
    p = np.asarray(p, dtype=np.float64)
    odds_ratio = (share / (1.0 - share)) / (fitted_share / (1.0 - fitted_share))
    return odds_ratio * p / (odds_ratio * p + (1.0 - p))


def estimate_share(p: np.ndarray, fitted_share: float) -> float:
    """The share of noise among the interactions scored `p` (calibrated at `fitted_share`), by EM; at most
    `fitted_share` (see the module's docstring). No scores: the fitted share."""
    p = np.asarray(p, dtype=np.float64)
    share = fitted_share
    if not len(p):
        return share
    for _ in range(MAX_ROUNDS):
        following = min(float(restate(p, fitted_share, share).mean()), fitted_share)
        settled = abs(following - share) < TOLERANCE
        share = following
        if settled:
            break
    return share
