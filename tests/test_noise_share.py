"""The data's share of noise, estimated from calibrated scores alone, and p restated at it."""

import numpy as np
import pytest

from curator.denoise.noise_share import estimate_share, restate

FITTED = 0.1
SEPARATION = 2.5


def calibrated_scores(share: float, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise labels at `share`, and p = the exact posterior each position's evidence gives where FITTED of
    positions are noise: evidence ~ N(SEPARATION, 1) for noise, N(0, 1) for the rest."""
    rng = np.random.default_rng(seed)
    noise = rng.random(count) < share
    evidence = rng.normal(np.where(noise, SEPARATION, 0.0), 1.0)
    likelihood_ratio = np.exp(SEPARATION * evidence - SEPARATION**2 / 2)
    odds = likelihood_ratio * FITTED / (1 - FITTED)
    return noise, odds / (1 + odds)


def test_restating_composes_and_goes_back():
    p = np.array([0.0, 0.01, 0.3, 0.5, 0.9, 1.0])
    there = restate(p, FITTED, 0.02)
    assert np.allclose(restate(there, 0.02, FITTED), p)
    assert np.allclose(restate(restate(p, FITTED, 0.05), 0.05, 0.02), there)
    assert there[0] == 0.0 and there[-1] == 1.0  # certainties stay certain
    assert np.all(there[1:-1] < p[1:-1])  # less noise about: every uncertain p goes down
    assert np.allclose(restate(p, FITTED, FITTED), p)


@pytest.mark.parametrize("share", [0.01, 0.03, 0.06])
def test_the_share_of_less_noisy_data_is_recovered_and_p_calibrated_again(share):
    noise, p = calibrated_scores(share, 200_000, seed=1)
    estimated = estimate_share(p, FITTED)
    assert estimated == pytest.approx(noise.mean(), abs=0.003)
    restated = restate(p, FITTED, estimated)
    # At the fitted share p overstates the odds where it is high; restated at the estimate, it means what
    # it says again.
    high, restated_high = p >= 0.5, restated >= 0.5
    assert noise[high].mean() < p[high].mean() - 0.05
    assert noise[restated_high].mean() == pytest.approx(restated[restated_high].mean(), abs=0.03)


def test_the_estimate_is_never_above_the_fitted_share():
    noise, p = calibrated_scores(0.3, 50_000, seed=2)
    assert noise.mean() > 0.25 and estimate_share(p, FITTED) == FITTED
    assert estimate_share(np.zeros(0), FITTED) == FITTED
