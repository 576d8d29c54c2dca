"""The fake-user detector and `curator defend` on real MovieLens-100K with injected attacks: features,
a calibrator that separates simulated fakes, edits only above the threshold, an exactly reversible
ledger, same seed -> same decisions, bad options -> one line and exit code 2."""

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from scipy.stats import poisson
from sklearn.metrics import roc_auc_score

from curator.data.collaborative import training_interactions, user_item_matrix
from curator.data.dataset import read_dataset
from curator.data.ledger import apply_ledger, read_ledger, revert_ledger
from curator.fraud.actions import reweight_factor
from curator.fraud.baselines import pca_suspicion
from curator.fraud.calibrator import (
    ANY_KIND,
    ANY_PRIOR_USERS,
    KIND_PRIOR_USERS,
    Simulation,
    fit_calibrator,
    prior_adjusted,
    simulate_attacks,
)
from curator.fraud.config import DefendConfig, DefenseConfig, DetectorConfig
from curator.fraud.defense import USER_SCORES_FILE
from curator.fraud.detector import detect
from curator.fraud.evidence import (
    GROUP_INPUTS,
    HOLDER_PRIOR,
    SHARED_INPUTS,
    SIGNAL_INPUT,
    Evidence,
    holder_anomaly,
    user_evidence,
)
from curator.fraud.features import FeatureTable, per_user_mean_and_max
from curator.fraud.features_collaborative import PAIR_TOP, PARTNERS, collaborative_features, partner_excess
from curator.fraud.features_text import text_features
from curator.inject.config import FAKE_USERS_LABELS, InjectConfig
from curator.run.stage import run_stage
from curator.stages.defend import DefendStage

from builders import Backwards
from builders import injected as inject
from conftest import run_cli as run

# One simulated type, one budget: one copy of the data to learn from keeps the tests fast.
FAST = DetectorConfig(attacks=("random",), budgets=(0.05,), use_text=False, seed=3)


@pytest.fixture(scope="module")
def attacked(movielens, tmp_path_factory):
    """MovieLens-100K with 5% random fakes; (dataset, truth per user)."""
    dataset, _ = inject(
        movielens,
        InjectConfig(attack="random", fake_users=0.05, targets=5, seed=1),
        tmp_path_factory.mktemp("fraud") / "attacked",
    )
    fakes = set(pq.read_table(dataset.path / FAKE_USERS_LABELS)["user_id"].to_pylist())
    return dataset, np.isin(dataset.users["user_id"].to_pylist(), list(fakes))


@pytest.fixture(scope="module")
def genre_vectors(movielens):
    """Unit item vectors from the genres: a cheap stand-in for text embeddings that carries meaning."""
    item_genres = [set((text or "").split()) for text in movielens.items["genres"].to_pylist()]
    genres = sorted(set().union(*item_genres))
    vectors = np.array([[g in mine for g in genres] for mine in item_genres], dtype=np.float64) + 1e-3
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def detection(attacked):
    return detect(attacked[0], FAST, None)


def test_collaborative_features_tell_random_fillers_apart(attacked):
    dataset, truth = attacked
    features = collaborative_features(dataset)
    assert features.values.shape == (len(dataset.users), len(features.names))
    assert np.isfinite(features.values).all()
    assert {"pop_mean", "cooc_coherence", "transition_seen", "pair_lift_top", "rating_dev"} <= set(features.names)
    column = dict(zip(features.names, features.values.T))
    # uniform fillers are unpopular and do not go together
    assert roc_auc_score(truth, -column["pop_mean"]) > 0.95
    assert roc_auc_score(truth, -column["cooc_coherence"]) > 0.95


def test_the_user_blocks_are_chunks_of_the_executor_in_any_order(attacked, monkeypatch):
    dataset, _ = attacked
    whole = collaborative_features(dataset)  # one block: MovieLens-100K has fewer users than USER_BLOCK
    matrix = user_item_matrix(training_interactions(dataset))
    excess = partner_excess(matrix, 0.75)
    monkeypatch.setattr("curator.fraud.features_collaborative.USER_BLOCK", 100)
    executor = Backwards()
    blocks = collaborative_features(dataset, executor)
    users = len(dataset.users)
    blocks_of_users = list(reversed(range(-(-users // 100))))
    assert executor.computed == [(worker, k) for worker in ("PairBlock", "OverlapBlock") for k in blocks_of_users]
    assert blocks.names == whole.names and blocks.values.tobytes() == whole.values.tobytes()
    assert partner_excess(matrix, 0.75, Backwards()).tobytes() == excess.tobytes()


def test_text_features_see_genre_coherence(movielens, genre_vectors, tmp_path):
    dataset, _ = inject(
        movielens, InjectConfig(attack="segment", fake_users=0.05, targets=2, seed=2), tmp_path / "segment"
    )
    fakes = set(pq.read_table(dataset.path / FAKE_USERS_LABELS)["user_id"].to_pylist())
    truth = np.isin(dataset.users["user_id"].to_pylist(), list(fakes))
    text = text_features(dataset, genre_vectors)
    coherence = text.values[:, text.names.index("text_coherence")]
    assert np.all((coherence >= -1) & (coherence <= 1 + 1e-9))
    assert roc_auc_score(truth, coherence) > 0.8  # segment fillers share one genre


@pytest.mark.e2e  # a detector fitted on simulated attacks of all of MovieLens-100K
def test_external_signals_join_the_evidence(attacked):
    dataset, truth = attacked
    lengths = np.diff(dataset.sequence_bounds())
    user_of_row = np.repeat(np.arange(len(lengths)), lengths)
    noise = np.where(truth[user_of_row], 0.9, 0.1)  # a denoiser that would have spotted the fakes

    signals = per_user_mean_and_max(user_of_row, noise, len(lengths), "noise")
    assert np.allclose(signals["noise_mean"][truth], 0.9) and np.allclose(signals["noise_max"][~truth], 0.1)
    negative = per_user_mean_and_max(np.array([0, 0]), np.array([-2.0, -1.0]), 2, "score")  # user 1 has none
    assert negative["score_max"].tolist() == [-1.0, 0.0] and negative["score_mean"].tolist() == [-1.5, 0.0]

    # the signals' input is their distance from the data's users, either side
    for noise in (0.9, 0.0):  # the fakes read as noisier, or as more coherent, than every real user
        mean = np.where(truth, noise, np.linspace(0.2, 0.4, len(truth)))
        evidence = user_evidence(dataset, None, [lambda d, mean=mean: {"noise_mean": mean}])
        assert "noise_mean" in evidence.features.names
        distance = evidence.inputs.select([SIGNAL_INPUT]).values[:, 0]
        assert roc_auc_score(truth, distance) > 0.99


def test_holder_anomaly_is_the_other_holders_shrunk_mean_and_finds_shared_targets(attacked):
    dataset, truth = attacked
    distance = user_evidence(dataset, None).inputs.select(["collab_distance"]).values[:, 0]
    highest, mean_top = holder_anomaly(dataset, distance)
    assert roc_auc_score(truth, highest) > 0.95 and roc_auc_score(truth, mean_top) > 0.95  # they share targets

    # the definition, user by user, on a few users
    z = (distance - np.median(distance)) / (1.4826 * np.median(np.abs(distance - np.median(distance))))
    train = training_interactions(dataset)
    items = [set() for _ in range(len(dataset.users))]
    for u, i in zip(train.user, train.item):
        items[u].add(i)
    holders = {}
    for u, mine in enumerate(items):
        for i in mine:
            holders.setdefault(i, []).append(u)
    for u in [0, 1, 2, *np.flatnonzero(truth)[:3]]:
        per_item = sorted(
            ((z[holders[i]].sum() - z[u]) / (len(holders[i]) - 1 + HOLDER_PRIOR) for i in items[u]), reverse=True
        )
        assert highest[u] == pytest.approx(per_item[0])
        assert mean_top[u] == pytest.approx(np.mean(per_item[:PAIR_TOP]))

    # leave-the-user-out: a user's own distance never counts towards its own score
    lifted = distance.copy()
    lifted[0] += 10.0
    assert holder_anomaly(dataset, lifted)[0][0] == pytest.approx(highest[0], rel=0.05)


@pytest.mark.e2e  # a detector fitted on simulated attacks of all of MovieLens-100K
def test_calibrator_separates_fakes_and_same_seed_gives_same_probabilities(attacked, detection):
    dataset, truth = attacked
    assert roc_auc_score(truth, detection.probability) > 0.95
    assert np.all((detection.probability >= 0) & (detection.probability <= 1))
    assert 0 < detection.prior < 2 * truth.mean()  # the estimated share of fakes: some, not a flood
    assert np.median(detection.probability[truth]) > np.quantile(detection.probability[~truth], 0.99)
    assert np.array_equal(detect(dataset, FAST, None).probability, detection.probability)


def test_suspicion_is_the_log_of_the_ratio_whose_posterior_is_p_fake(detection):
    """The score the --fdr decision reads is p(fake)'s own evidence, not capped where p rounds to 1."""
    p, share = detection.probability, detection.prior
    inside = (p > 1e-9) & (p < 1 - 1e-9)
    ratio = p[inside] / (1 - p[inside]) * (1 - share) / share
    assert inside.sum() > 900 and np.allclose(detection.suspicion[inside], np.log(ratio), atol=1e-4)
    assert np.all(detection.suspicion[p >= 1 - 1e-9] >= np.log(ratio).max() - 1e-4)  # the capped stay on top


def test_prior_adjustment_recovers_the_mixture():
    rng = np.random.default_rng(0)
    fake = rng.random(20000) < 0.05
    # likelihood ratios of two unit normals one apart (fakes shifted up)
    x = rng.normal(size=len(fake)) + fake
    posterior, prior = prior_adjusted(np.exp(x - 0.5))
    assert abs(prior - 0.05) < 0.02 and abs(posterior.mean() - prior) < 1e-6


def test_prior_adjustment_recovers_a_mixture_of_two_kinds():
    rng = np.random.default_rng(1)
    kind = rng.choice(3, size=30000, p=[0.95, 0.03, 0.02])  # real users, fakes of kind A, of kind B
    x = rng.normal(size=(len(kind), 2)) + np.stack([kind == 1, kind == 2], axis=1)
    posterior, prior = prior_adjusted(np.exp(x - 0.5))  # column k: the ratio of kind k against real users
    assert abs(prior - 0.05) < 0.02 and abs(posterior.mean() - prior) < 1e-6
    assert roc_auc_score(kind > 0, posterior) > 0.7


@pytest.mark.parametrize("kind_a, kind_b, ratio, weighted", [(50, 5, 60.0, True), (4, 1, 1000.0, False)])
def test_a_kind_weighs_by_the_users_it_explains_beyond_its_prior(kind_a, kind_b, ratio, weighted):
    ratios = np.full((1000, 2), 0.3)  # two kinds' models; each sees its own fakes
    ratios[:kind_a, 0] = ratio
    ratios[kind_a : kind_a + kind_b, 1] = ratio
    posterior, prior = prior_adjusted(ratios)
    equal, _ = prior_adjusted(ratios.mean(axis=1, keepdims=True))  # the kinds weighted equally
    a, b = posterior[:kind_a].mean(), posterior[kind_a : kind_a + kind_b].mean()
    assert abs(posterior.mean() - prior) < 1e-6
    if weighted:  # many users of kind A, against KIND_PRIOR_USERS: its model gets the weight
        assert a > equal[0] + 0.1 and b < equal[0] - 0.1
    else:  # few: the prior keeps the kinds near equal (plain EM would give kind A 4/5 of the weight)
        assert abs(a - b) < 0.05 and abs(a - equal[0]) < 0.05


def test_the_fallback_kind_takes_weight_only_from_users_that_fit_it_alone():
    prior_users = np.array([KIND_PRIOR_USERS, ANY_PRIOR_USERS])  # a simulated kind, then the fallback
    ratios = np.full((1000, 2), 0.3)
    ratios[:9, 0] = 30.0  # fakes of the simulated kind
    ratios[9:18, 1] = 60.0  # users of odd taste: only the fallback, reading less, finds them unusual
    posterior, _ = prior_adjusted(ratios, prior_users)
    equal, _ = prior_adjusted(ratios)
    assert posterior[:9].min() > posterior[9:18].max()  # the fakes first
    assert equal[:9].max() < equal[9:18].min()  # at equal weight the odd users first

    ratios[18:68, 1] = 60.0  # 50 more users only the fallback explains: an attack of an unsimulated kind
    posterior, _ = prior_adjusted(ratios, prior_users)
    assert posterior[9:68].min() > 0.5 and posterior[9:68].min() > posterior[:9].max()


def test_real_fakes_that_stand_out_less_than_the_simulated_ones_are_not_learnt_as_negatives():
    """The data's own fakes sit among the unlabeled of every simulated copy. Where they stand out less than
    the simulated fakes in one input (1% random fakes on MovieLens-100K: the holder anomaly), the spies'
    quantile alone kept them as negatives, and the second fit learnt to tell them from the simulated fakes:
    their ratios fell and the estimated share of fakes with them, here to 0.0009, none found."""
    rng = np.random.default_rng(0)
    inputs = SHARED_INPUTS[:5]  # the kind-agnostic model reads the shared inputs the evidence has
    real, data_fakes, simulated = 1000, 10, 50
    simulated_shift = np.full(len(inputs), 3.5)
    data_shift = np.r_[simulated_shift[:-1], 1.5]

    def evidence(shifts: np.ndarray) -> Evidence:
        table = FeatureTable(inputs, rng.normal(size=shifts.shape) + shifts)
        return Evidence(table, table)

    in_data = np.vstack([np.zeros((real, len(inputs))), np.tile(data_shift, (data_fakes, 1))])
    copies = [
        Simulation(
            "random",
            budget,
            evidence(np.vstack([in_data, np.tile(simulated_shift, (simulated, 1))])),
            np.r_[np.zeros(len(in_data), bool), np.ones(simulated, bool)],
        )
        for budget in (0.01, 0.05)
    ]
    calibrator = fit_calibrator(copies, seed=0)
    ratios = calibrator.likelihood_ratios(evidence(in_data))
    probability, share = prior_adjusted(ratios, calibrator.prior_users())
    assert np.median(ratios[real:, 0]) > 150  # 67 when they were negatives
    assert share > 0.4 * data_fakes / len(in_data)
    assert (probability[real:] >= 0.5).mean() >= 0.5 and (probability[:real] >= 0.5).sum() <= 1


@pytest.mark.e2e  # a detector fitted on simulated attacks of all of MovieLens-100K
def test_one_calibrator_model_per_simulated_kind(attacked):
    dataset, truth = attacked
    config = DetectorConfig(attacks=("random", "bandwagon"), budgets=(0.05,), use_text=False, seed=3)
    calibrator = fit_calibrator(simulate_attacks(dataset, config, None), config.seed)
    assert list(calibrator.models) == ["random", "bandwagon", ANY_KIND]
    # the group inputs are opt-in (DetectorConfig.group_inputs): without them, the other shared inputs
    assert calibrator.models[ANY_KIND].inputs == tuple(n for n in SHARED_INPUTS if n not in GROUP_INPUTS)
    assert calibrator.prior_users().tolist() == [KIND_PRIOR_USERS, KIND_PRIOR_USERS, ANY_PRIOR_USERS]
    ratios = calibrator.likelihood_ratios(user_evidence(dataset, None, (), config.seed))
    assert ratios.shape == (len(dataset.users), 3)
    # the data's attack is random: the random model gives its fakes higher ratios than the bandwagon one
    assert np.median(ratios[truth, 0]) > np.median(ratios[truth, 1])


@pytest.mark.e2e  # a detector fitted on simulated attacks of all of MovieLens-100K
def test_the_kind_agnostic_model_sees_an_attack_kind_never_simulated(movielens, tmp_path):
    dataset, _ = inject(
        movielens, InjectConfig(attack="bandwagon", fake_users=0.05, targets=5, seed=1), tmp_path / "bandwagon"
    )
    truth = np.isin(
        dataset.users["user_id"].to_pylist(), pq.read_table(dataset.path / FAKE_USERS_LABELS)["user_id"].to_pylist()
    )
    config = DetectorConfig(attacks=("sequential",), budgets=(0.05,), use_text=False, seed=3)
    calibrator = fit_calibrator(simulate_attacks(dataset, config, None), config.seed)
    ratios = calibrator.likelihood_ratios(user_evidence(dataset, None, (), config.seed))
    sequential, agnostic = (roc_auc_score(truth, ratios[:, k]) for k in range(2))
    # popular fillers are unlike the walks it learnt from, not unlike the data's users
    assert agnostic > sequential and agnostic >= 0.99


@pytest.mark.e2e  # a detector fitted on simulated attacks of all of MovieLens-100K
def test_simulations_report_progress_one_step_each(attacked):
    class Recorder:
        def __init__(self):
            self.totals, self.steps = {}, {}

        def start(self, task, total, done=0):
            self.totals[task] = total

        def advance(self, task, amount=1, note=""):
            self.steps[task] = self.steps.get(task, 0) + amount

    recorder = Recorder()
    config = DetectorConfig(attacks=("random",), budgets=(0.01, 0.05), use_text=False, seed=3)
    simulations = simulate_attacks(attacked[0], config, None, progress=recorder)
    assert [(s.attack, s.budget) for s in simulations] == [("random", 0.01), ("random", 0.05)]
    assert recorder.totals == recorder.steps == {"simulated attacks": 2}


def test_reweight_curve_is_smooth_and_starts_at_one():
    p = np.linspace(0.6, 1.0, 41)
    weights = reweight_factor(p, threshold=0.6, gamma=2.0)
    assert weights[0] == pytest.approx(1.0) and weights[-1] == 0.0
    assert np.all(np.diff(weights) <= 0) and np.max(np.abs(np.diff(weights))) < 0.1  # no step
    assert reweight_factor(np.array([1.0]), threshold=1.0, gamma=2.0).tolist() == [0.0]


@pytest.mark.e2e  # a detector fitted on simulated attacks of all of MovieLens-100K
@pytest.mark.parametrize("action", ["drop", "reweight"])
def test_defense_edits_only_users_above_threshold_and_the_ledger_reverts(attacked, detection, tmp_path, action):
    dataset, _ = attacked
    threshold = 0.5
    config = DefendConfig(detector=FAST, defense=DefenseConfig(fdr=None, user_threshold=threshold, action=action))
    out = run_stage(DefendStage(dataset, config, tmp_path / action), command=["test"]).dataset()
    ledger = read_ledger(out)
    flagged = {user for user, p in zip(detection.user_ids, detection.probability) if p >= threshold}
    assert flagged and set(ledger["user_id"].to_pylist()) == flagged
    assert set(ledger["action"].to_pylist()) == {"drop-user" if action == "drop" else "reweight"}
    assert set(ledger["threshold"].to_pylist()) == {threshold} and min(ledger["score"].to_pylist()) >= threshold

    # input + ledger == output, output + ledger == input: nothing lost
    assert apply_ledger(dataset.tables, ledger).content_hash() == out.content_hash
    assert revert_ledger(out.tables, ledger).content_hash() == dataset.content_hash

    untouched = out.users.filter(out.users["weight"].to_numpy() == 1.0)["user_id"].to_pylist()
    assert set(untouched) == set(dataset.users["user_id"].to_pylist()) - flagged  # weight 1, interactions kept

    scores = pq.read_table(out.path / USER_SCORES_FILE)
    assert scores["user_id"].to_pylist() == dataset.users["user_id"].to_pylist()
    assert scores.column_names[:4] == ["user_id", "p_fake", "action", "new_weight"]
    assert np.array_equal(scores["p_fake"].to_numpy(), detection.probability)
    if action == "reweight":
        expected = reweight_factor(np.array(sorted(p for p in detection.probability if p >= threshold)), threshold, 2.0)
        new = np.array(sorted(ledger["new_weight"].to_pylist(), reverse=True))
        assert np.allclose(new, expected, atol=1e-6)


def test_partner_excess_finds_a_group_sharing_rare_items_and_follows_its_definition():
    """Users holding popular items at random, and a group of 9 that also share 5 rare items: the group has the
    highest values, although each member's history is as ordinary as anyone's."""
    rng = np.random.default_rng(0)
    users, items, group = 300, 400, np.arange(9)
    chance = 0.6 / np.arange(1, items + 1) ** 0.7  # popularity falls with the item's rank
    matrix = (rng.uniform(size=(users, items)) < chance).astype(np.float64)
    rare = np.arange(items - 5, items)
    matrix[:, rare] = 0.0
    matrix[np.ix_(group, rare)] = 1.0  # 9 holders: rare at the 0.9 quantile of popularity here, not at the median
    excess = partner_excess(sp.csr_matrix(matrix), 0.9)
    assert set(np.argsort(-excess)[: len(group)]) == set(group)

    # the definition, for a few users: -log P(Poisson >= shared) of the PARTNERS-th most surprising partner
    popularity = matrix.sum(axis=0)
    interacted = popularity > 0
    is_rare = interacted & (popularity <= np.quantile(popularity[interacted], 0.9))
    counts = matrix[:, is_rare].sum(axis=1)
    for user in (0, 20, 40):
        shared = matrix[:, is_rare] @ matrix[user, is_rare]
        expected = (matrix[user, is_rare] * popularity[is_rare] / users).sum() * counts / counts.mean()
        surprise = np.delete(-poisson.logsf(shared - 1, np.maximum(expected, 1e-6)), user)
        assert excess[user] == pytest.approx(np.sort(surprise)[::-1][PARTNERS - 1])


def test_pca_baseline_ranks_random_fakes_first(attacked):
    dataset, truth = attacked
    scores = pca_suspicion(dataset, seed=0)
    assert scores.min() == 0.0 and scores.max() == 1.0
    assert roc_auc_score(truth, scores) > 0.9


@pytest.mark.e2e
def test_cli_defends_and_gives_the_same_decisions_with_the_same_seed(attacked, tmp_path):
    dataset, _ = attacked
    options = ["--simulate", "random", "--budgets", "0.05", "--no-text", "--seed", "3", "--fraud-action", "reweight"]
    for name in ("a", "b"):
        result = run("defend", dataset.path, "--out", tmp_path / name, *options)
        assert result.exit_code == 0, result.output
        assert "reweight" in result.output
    assert read_ledger(read_dataset(tmp_path / "a")).equals(read_ledger(read_dataset(tmp_path / "b")))


@pytest.mark.parametrize(
    "option, message",
    [
        (["--user-threshold", "1.5"], "--user-threshold 1.5 is not a probability"),
        (["--user-threshold", "-0.1"], "is not a probability"),
        (["--fraud-action", "ban"], "Invalid value for '--fraud-action'"),  # refused by click: a choice
        (["--simulate", "random,sybil"], "--simulate: unknown"),
        (["--budgets", "0.5,x"], "--budgets '0.5,x'"),
        (["--denoiser", "no-such-adapter"], "--denoiser no-such-adapter: no adapter folder"),
    ],
)
def test_cli_bad_options_exit_two_with_one_line(attacked, tmp_path, option, message):
    result = run("defend", attacked[0].path, "--out", tmp_path / "out", *option)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not (tmp_path / "out").exists()
