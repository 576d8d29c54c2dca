"""How far each user stands from the population of a dataset's users, feature by feature and jointly.

Attacks of different kinds give themselves away in different features and in different directions
(uniform fillers are too unpopular, bandwagon fillers too popular, a walk along real transitions is
more regular than any real user). A calibrator that learned the directions of the attacks it was shown
would miss the next kind; the distance from the bulk of the users does not care about direction.
Both statistics are robust (median / MAD, minimum covariance determinant) so that a few percent of
fakes, themselves far out, do not pull the centre towards them.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.covariance import MinCovDet

MAD_TO_STD = 1.4826  # the MAD of a normal distribution times this is its standard deviation


def robust_z(values: np.ndarray) -> np.ndarray:
    """(users, features) (x - median) / (MAD-based scale) per column; a column whose MAD is zero (most
    users share one value) is scaled by its standard deviation, a constant column becomes 0."""
    median = np.median(values, axis=0)
    scale = MAD_TO_STD * np.median(np.abs(values - median), axis=0)
    scale = np.where(scale > 0, scale, values.std(axis=0))
    return np.divide(values - median, scale, out=np.zeros_like(values), where=scale > 0)


def log_distance(values: np.ndarray, seed: int) -> np.ndarray:
    """(users,) log of the robust Mahalanobis distance of each row from the users' robust centre, in the
    robust z space (so that no feature dominates by its unit)."""
    z = robust_z(values)
    varying = z.std(axis=0) > 0
    if not varying.any():
        return np.zeros(len(values))
    with warnings.catch_warnings():
        # MinCovDet warns when the covariance of its core subset is near-singular (binary-ish features);
        # its determinant search still returns a usable estimate.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        estimate = MinCovDet(random_state=seed % 2**32).fit(z[:, varying])
    return np.log(np.sqrt(estimate.mahalanobis(z[:, varying])) + 1e-9)
