"""Acting at a false-discovery rate (curator.fraud.fdr): BH q-values, the empirical null fitted on the bulk of
the scores, what a decision promises and edits, and the command line's --fdr."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from curator.data.dataset import read_dataset
from curator.data.ledger import read_ledger
from curator.fraud.actions import defense_edits, doubt_factor
from curator.fraud.config import DefenseConfig
from curator.fraud.defense import USER_SCORES_FILE
from curator.fraud.fdr import benjamini_hochberg_q, empirical_null, fdr_decision
from curator.inject.config import FAKE_USERS_LABELS, InjectConfig

from builders import injected as inject
from conftest import run_cli as run


def step_up(p_values: np.ndarray, alpha: float) -> np.ndarray:
    """The textbook BH rule: reject the k smallest, k the largest rank with p_(k) <= alpha k / m."""
    m = len(p_values)
    order = np.argsort(p_values)
    below = np.flatnonzero(p_values[order] <= alpha * np.arange(1, m + 1) / m)
    act = np.zeros(m, bool)
    if len(below):
        act[order[: below[-1] + 1]] = True
    return act


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_q_values_pick_what_the_step_up_rule_rejects(alpha):
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=900), rng.uniform(0, 1e-3, size=100)])
    q = benjamini_hochberg_q(p)
    assert np.array_equal(q <= alpha, step_up(p, alpha))
    assert np.all(q >= p) and q.max() <= 1.0


def test_the_null_is_fitted_on_the_bulk_and_outliers_only_widen_it():
    rng = np.random.default_rng(1)
    real = rng.normal(2.0, 0.5, size=950)
    centre, scale = empirical_null(np.concatenate([real[:940], rng.normal(8.0, 0.5, size=10)]))  # 1% outliers
    assert centre == pytest.approx(2.0, abs=0.1) and scale == pytest.approx(0.5, abs=0.05)
    # 5%: the quantile the scale is read at moves up among the real scores, so the null widens (acts on fewer)
    centre, scale = empirical_null(np.concatenate([real, rng.normal(8.0, 0.5, size=50)]))
    assert centre == pytest.approx(2.0, abs=0.1) and 0.5 < scale < 0.7


def test_outliers_are_acted_on_and_the_bulk_is_not():
    rng = np.random.default_rng(2)
    scores = np.concatenate([rng.normal(0.0, 1.0, size=950), rng.normal(6.0, 1.0, size=50)])
    truth = np.r_[np.zeros(950, bool), np.ones(50, bool)]
    decision = fdr_decision(scores, 0.05)
    assert (decision.act & truth).sum() >= 40  # most of the outliers
    assert (decision.act & ~truth).sum() <= 3  # about 5% of ~45 acted on may be real
    assert 0 < decision.estimated_real <= 0.05 * decision.act.sum()
    assert not fdr_decision(scores[:950], 0.05).act.any()  # scores of real users only: nothing to act on


def test_a_reference_that_holds_the_outliers_rejects_nothing():
    """Why the null is not the users' own scores: the rank p-value of the top outlier is 1 / users, above
    BH's first bar alpha / users, so ranks against a contaminated reference never act."""
    rng = np.random.default_rng(2)
    scores = np.concatenate([rng.normal(0.0, 1.0, size=950), rng.normal(6.0, 1.0, size=50)])
    rank_p = (1 + (scores[None, :] > scores[:, None]).sum(axis=1)) / len(scores)
    assert not (benjamini_hochberg_q(rank_p) <= 0.05).any()
    assert fdr_decision(scores, 0.05).act.sum() >= 40


def test_fdr_edits_follow_the_q_values_and_reweight_from_one_at_the_rate():
    users = [f"u{k}" for k in range(5)]
    q = np.array([0.001, 0.02, 0.05, 0.06, 0.5])
    p = np.array([0.99, 0.4, 0.1, 0.9, 0.0])  # the gate would pick other users
    weights = np.ones(5)
    drop = defense_edits(users, p, weights, DefenseConfig(fdr=0.05, user_threshold=None), q)
    assert [e.user_id for e in drop] == ["u0", "u1", "u2"] and {e.threshold for e in drop} == {None}
    reweight = defense_edits(users, p, weights, DefenseConfig(fdr=0.05, user_threshold=None, action="reweight"), q)
    assert [e.new_weight for e in reweight] == pytest.approx([(0.001 / 0.05) ** 2, (0.02 / 0.05) ** 2, 1.0])
    assert doubt_factor(np.array([0.0]), 0.0, 2.0).tolist() == [0.0]


@pytest.mark.parametrize(
    "option, message",
    [
        (["--fdr", "0.05", "--user-threshold", "0.5"], "give either --fdr or --user-threshold, not both"),
        (["--fdr", "1.5"], "--fdr 1.5 is not a rate in (0, 1)"),
        (["--fdr", "0"], "--fdr 0.0 is not a rate in (0, 1)"),
    ],
)
def test_cli_bad_decision_options_exit_two_with_one_line(movielens, tmp_path, option, message):
    result = run("defend", movielens.path, "--out", tmp_path / "out", *option)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def attacked(movielens, tmp_path_factory):
    """MovieLens-100K with 5% random fakes, labels in labels/fake_users.parquet."""
    dataset, _ = inject(
        movielens,
        InjectConfig(attack="random", fake_users=0.05, targets=5, seed=1),
        tmp_path_factory.mktemp("fdr") / "attacked",
    )
    return dataset


@pytest.mark.e2e  # a detector fitted on a simulated attack of all of MovieLens-100K
def test_cli_acts_at_the_fdr_by_default_says_what_it_promises_and_checks_it_on_the_labels(attacked, tmp_path):
    options = ["--simulate", "random", "--budgets", "0.05", "--no-text", "--seed", "3"]
    result = run("defend", attacked.path, "--out", tmp_path / "out", *options, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # the progress lines go to stderr
    assert summary["promise"]["fdr"] == 0.05 and "at most ~5% of the" in summary["promise"]["text"]
    kept = summary["kept"]
    assert kept["fakes"] == 47 and kept["fakes_acted_on"] >= 40  # random fillers stand far out
    assert kept["real_acted_on"] <= 5 and kept["within_fdr"] == (kept["real_share"] <= 0.05)

    scores = pq.read_table(tmp_path / "out" / USER_SCORES_FILE).to_pandas()
    acted = scores["action"] != "keep"
    assert acted.sum() == summary["flagged"] == kept["fakes_acted_on"] + kept["real_acted_on"]
    assert (acted == (scores["q_value"] <= 0.05)).all()
    assert set(read_ledger(read_dataset(tmp_path / "out"))["threshold"].to_pylist()) == {None}

    again = run("defend", attacked.path, "--out", tmp_path / "out", *options)  # same work: the recorded summary
    assert again.exit_code == 0, again.output
    assert "promise: at most ~5% of the" in again.output
    assert f"check against {FAKE_USERS_LABELS}: {kept['fakes_acted_on']} of 47 fakes" in again.output
