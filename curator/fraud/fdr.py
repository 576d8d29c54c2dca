"""Acting at a false-discovery rate: which users to act on so that at most a share `alpha` of them are real,
whatever kind of fake the rest are.

Each user's suspicion score is the log of the calibrator's likelihood ratio (its simulated kinds mixed at the
data's estimated proportions). The real users' scores make the bulk of the distribution; the fakes, a few
percent, sit in its upper tail. So the null (real-user) distribution is fitted on the bulk alone, after
Efron's empirical null (Efron 2004, "Large-scale simultaneous hypothesis testing"): a normal centred on the
median of all scores, scaled so that its NULL_QUANTILE quantile is theirs. Both are moved little by a few
percent of outliers above them. The scale comes from the upper half because the real users' scores are
skewed towards suspicion: scaled by the MAD (both halves), the null's tail was too light, and on clean
MovieLens-100K (seed 1) BH at 5% acted on 5-12 real users (benchmarks/fraud_unseen_kinds.py, docs/fraud.md). Each
user's p-value is its upper tail under that null, and Benjamini-Hochberg (1995) at level `alpha` picks the
users to act on.

Why not conformal p-values against the data's own users (the rank of a score among the others): the fakes
are among those users, so the most suspicious fake's p-value is at best 1 / users, which BH at 5% never
rejects (it needs about alpha * acted / users); the empirical null extrapolates the real users' tail from
their bulk instead of counting the fakes in it. The price: the promise holds as far as the real users' score
tail is normal beyond its bulk (measured in docs/fraud.md, clean data and eight kinds of attack).

The q-value of a user is the smallest alpha at which BH would act on it; `estimated_real` is BH's own
estimate of how many of the users acted on are real (the null's expected count above the lowest acted
score).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

# of 0.75, 0.85 and 0.9 (MovieLens-100K, data seeds 1-3, eight kinds held out in turn): 0.9 acted on the fewest
# real users, clean and attacked, at the same recall for most kinds; 0.95 would sit among a 5% attack's fakes
NULL_QUANTILE = 0.9


@dataclass(frozen=True)
class FdrDecision:
    alpha: float  # the promised false-discovery rate
    centre: float  # the empirical null: median of the scores
    scale: float  # and standard deviation
    p_value: np.ndarray  # (users,) upper tail of each score under the null
    q_value: np.ndarray  # (users,) the smallest alpha at which BH acts on the user
    act: np.ndarray  # (users,) bool: q_value <= alpha
    estimated_real: float  # the null's expected number of real users among those acted on

    def summary(self) -> dict[str, float | int]:
        acted = int(self.act.sum())
        return {
            "fdr": self.alpha,
            "acted_on": acted,
            "estimated_real_acted_on": self.estimated_real,
            "null_centre": self.centre,
            "null_scale": self.scale,
        }


def empirical_null(scores: np.ndarray, quantile: float = NULL_QUANTILE) -> tuple[float, float]:
    """(centre, scale) of the normal fitted to the bulk of `scores`: their median, and the scale at which the
    normal's `quantile` is theirs (the standard deviation where that is zero)."""
    centre = float(np.median(scores))
    scale = float((np.quantile(scores, quantile) - centre) / norm.ppf(quantile))
    return centre, scale if scale > 0 else float(np.std(scores)) or 1.0


def benjamini_hochberg_q(p_values: np.ndarray) -> np.ndarray:
    """(tests,) BH q-values: min over k >= rank of p_(k) * tests / k, capped at 1."""
    tests = len(p_values)
    order = np.argsort(p_values, kind="stable")
    ranked = p_values[order] * tests / np.arange(1, tests + 1)
    q_sorted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    q = np.empty(tests)
    q[order] = q_sorted
    return q


def fdr_decision(scores: np.ndarray, alpha: float, null_quantile: float = NULL_QUANTILE) -> FdrDecision:
    """The users to act on at false-discovery rate `alpha`, from their suspicion `scores` (higher: more
    suspicious)."""
    scores = np.asarray(scores, dtype=np.float64)
    centre, scale = empirical_null(scores, null_quantile)
    p_value = norm.sf((scores - centre) / scale)
    q_value = benjamini_hochberg_q(p_value)
    act = q_value <= alpha
    estimated_real = float(len(scores) * p_value[act].max()) if act.any() else 0.0
    return FdrDecision(alpha, centre, scale, p_value, q_value, act, estimated_real)
