"""The denoiser's calibration: isotonic regression whose every step rests on enough held-out positions."""

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from curator.denoise.calibration import MIN_STEP_POSITIONS, Calibration
from curator.denoise.corruption import CORRUPTION_RATE


def noisy_ranking(rng, positions=2000, rate=0.1):
    """Held-out positions whose logit ranks swaps above clean ones only loosely (AUROC about 0.75)."""
    truth = rng.random(positions) < rate
    return rng.normal(size=positions) + 1.0 * truth, truth


def test_without_a_minimum_step_it_is_plain_isotonic_regression():
    rng = np.random.default_rng(0)
    logits, truth = noisy_ranking(rng)
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(logits, truth.astype(float))
    probe = np.concatenate([logits, rng.normal(scale=2.0, size=500)])
    np.testing.assert_allclose(Calibration.fit(logits, truth, min_step=1)(probe), isotonic.predict(probe), atol=1e-12)


def test_a_few_top_swaps_do_not_make_a_certain_step():
    rng = np.random.default_rng(1)
    logits, truth = noisy_ranking(rng)
    # four swaps scored above everything else: plain isotonic regression says p = 1 there
    logits, truth = np.concatenate([logits, [5.0, 6.0, 7.0, 8.0]]), np.concatenate([truth, [True] * 4])
    assert Calibration.fit(logits, truth, min_step=1)(np.array([9.0]))[0] == 1.0
    calibration = Calibration.fit(logits, truth)
    p = calibration(logits)
    assert p.max() < 0.9
    values, support = np.unique(p, return_counts=True)
    assert support.min() >= MIN_STEP_POSITIONS
    for value in values:  # each step's probability is the swap rate of the positions it holds
        assert truth[p == value].mean() == pytest.approx(value)
    grid = np.linspace(-6.0, 10.0, 400)
    assert np.all(np.diff(calibration(grid)) >= 0)


def test_clearly_separated_swaps_still_reach_certainty():
    rng = np.random.default_rng(2)
    truth = np.arange(1000) < 100
    logits = np.where(truth, rng.uniform(3.0, 5.0, 1000), rng.uniform(-3.0, 2.0, 1000))
    p = Calibration.fit(logits, truth)(logits)
    assert np.all(p[truth] == 1.0) and np.all(p[~truth] == 0.0)


def test_too_few_positions_for_two_steps_give_the_overall_rate():
    truth = np.array([True, False, False, False] * 5)
    p = Calibration.fit(np.arange(20.0), truth)(np.array([-1.0, 7.5, 30.0]))
    np.testing.assert_allclose(p, 0.25)


def test_calibrations_made_before_the_minimum_step_and_the_share_load_as_they_were():
    old = {"method": "isotonic", "logits": [0.0, 1.0], "probabilities": [0.1, 1.0]}
    calibration = Calibration.from_dict(old)
    assert calibration.min_step is None and calibration(np.array([2.0]))[0] == 1.0
    assert calibration.share == CORRUPTION_RATE  # what their calibration swaps were drawn at
    fitted = Calibration.fit(np.arange(40.0), np.arange(40) >= 30)
    assert Calibration.from_dict(fitted.to_dict()) == fitted and fitted.min_step == MIN_STEP_POSITIONS
    assert fitted.share == 0.25  # the share of swaps among the positions it was fitted on
