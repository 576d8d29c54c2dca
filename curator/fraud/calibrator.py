"""The calibrator: p(fake) for every user, learned positive-unlabeled from simulated attacks on the data.

Training. For each simulated attack type and budget, fakes are added to an in-memory copy of the data
(simulate.py); the positives are those simulated fakes, the unlabeled are all users of the copy (the
data's own users, among whom any real fakes hide). One logistic regression per attack type, on the
evidence (evidence.py), is fitted with both classes weighted equally, so its output q is the posterior
at a prior of one half: q / (1 - q) is the likelihood ratio of "simulated fake of this type" against
"user of this data". One model per type, not one for all: fakes of different kinds stand out in
different inputs, and a single model's ratio is that of the mixture of kinds, diluted for each kind by
the others (a kind that stands out less, e.g. sequential walks, then never reaches a high ratio). One
more model, of the kind ANY_KIND, learns from every simulated fake together but reads only the inputs all
promotion attacks share (evidence.SHARED_INPUTS): the per-type models learn directions (e.g. random
fillers load little on the users' principal components) that an attack of an unsimulated kind can
reverse (bandwagon fillers load heavily on them); distance and shared targets it cannot. Real
fakes of a simulated kind sit among the unlabeled and would cap that ratio where they are, so each fit
is done twice (two-step PU learning with spies; Liu et al. 2003): the first fit hides a share of the
simulated fakes among the unlabeled, where they are scored the way hidden real fakes are; the second
keeps as negatives only the users the first scored below all but SPY_QUANTILE of those spies, and below
NEGATIVE_BELOW. The first fit weighs both classes equally, so q is the posterior at even odds. With the
spies' quantile alone (0.99 and more where the simulated fakes stand far out), real fakes that stood out a
little less than the simulated ones stayed negatives, and the second fit learned to tell them apart from
the simulated ones (MovieLens-100K, seed 1, 1% random fakes: ratio ~1, none found).

Prediction. How many fakes the data holds (none, 1%, 5%, ...) and of which kinds is unknown. Both are
estimated by EM on the data's likelihood ratios (Saerens, Latinne & Decaestecker 2002: the share of fakes
that makes the mean posterior equal itself), and p(fake) is the posterior of all kinds together at those
estimates. The kinds' proportions among the fakes have a Dirichlet prior worth KIND_PRIOR_USERS users per
simulated kind: without it (plain EM over per-kind shares) one kind's model took nearly the whole share,
because the models overlap (ANY_KIND is all the others at once; a walk along real transitions looks partly
like random fillers); on MovieLens-100K p then ranked users as that model alone did, which for an
unsimulated walk-like attack was the worst of them. Under the prior, data whose fakes are few or match
no model well keeps the simulated kinds weighted equally (the mean of their ratios: the robust ranking),
and a kind that explains many users of the data (5% sequential fakes) takes the weight it has earned, so
their p is not diluted by the models that do not see them. ANY_KIND's prior is ANY_PRIOR_USERS, far
less: it is the fallback for fakes the others miss, and reading fewer inputs it separates less sharply,
so it gives real users of unusual taste the highest ratios of any model (on MovieLens-100K under an
unsimulated 1% sequential attack, with every kind's prior at KIND_PRIOR_USERS, 25 of the 30 users ranked
most suspicious were real users that owed it to ANY_KIND, and every fake ranked below them). It takes
weight when many users of the data fit it and no other model (5% bandwagon fakes when bandwagon is not
simulated). Clean data drives the share and so every p towards 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from curator.data.dataset import Dataset
from curator.fraud.config import DetectorConfig
from curator.fraud.evidence import SHARED_INPUTS, Evidence, user_evidence
from curator.fraud.features import UserSignal
from curator.fraud.simulate import with_simulated_attack
from curator.run.executor import Executor
from curator.run.progress import Progress, Silent
from curator.seeds import derive_seed

SIMULATIONS_TASK = "simulated attacks"  # progress: one step per attack type and budget
ANY_KIND = "any"  # the model of every simulated fake, on the shared inputs only
EM_ITERATIONS = 1000
SPY_SHARE = 0.2  # of the simulated fakes, hidden among the unlabeled in the first fit
SPY_QUANTILE = 0.25  # users scored above this quantile of the spies in the first fit are not negatives
# nor are users the first fit scored at or above this. Of 0.5, 0.6, ..., 0.9 (benchmark seed 1), each found most
# of the 1% random, bandwagon and segment fakes (none without it); 0.9 acted on the fewest users of clean data
# (4; 1 without it)
NEGATIVE_BELOW = 0.9
EM_TOLERANCE = 1e-9
# Dirichlet pseudo-users per kind on the kinds' proportions among the fakes; of 1, 3, 10 and 30 (benchmark seeds
# 1-3), 10 gave 5% sequential fakes most of their recall back without acting on more users of clean data
KIND_PRIOR_USERS = 10.0
# ANY_KIND's: of 0, 0.5, 1, 2.5 and 10 (benchmark seeds 1-3), 10 ranked unseen 1% sequential fakes at AUROC
# 0.937, 1 at 0.957; 0 (no fallback) at 0.963, but unseen 5% bandwagon fakes then fell from 0.999 to 0.936
ANY_PRIOR_USERS = 1.0


@dataclass(frozen=True)
class KindModel:
    model: Pipeline
    inputs: tuple[str, ...]  # the evidence inputs it reads, in order


@dataclass(frozen=True)
class Calibrator:
    models: dict[str, KindModel]  # per simulated attack type, then ANY_KIND
    simulated_fakes: int
    reliable_negatives: int  # users of the copies kept as negatives by the second fits, all models

    def prior_users(self) -> np.ndarray:
        """(kinds,) the Dirichlet pseudo-users of each kind's proportion among the fakes."""
        return np.array([ANY_PRIOR_USERS if kind == ANY_KIND else KIND_PRIOR_USERS for kind in self.models])

    def likelihood_ratios(self, evidence: Evidence) -> np.ndarray:
        """(users, kinds) the ratio of each kind of simulated fake against a user of the data."""
        q = np.column_stack(
            [
                kind.model.predict_proba(evidence.inputs.select(kind.inputs).values)[:, 1]
                for kind in self.models.values()
            ]
        )
        return q / np.maximum(1.0 - q, 1e-12)

    def log_likelihood_ratios(self, evidence: Evidence) -> np.ndarray:
        """(users, kinds) the log of likelihood_ratios, from the models' decision functions: not capped where
        q rounds to 1, so the most suspicious users keep their order and distance (fdr.py fits a tail)."""
        return np.column_stack(
            [kind.model.decision_function(evidence.inputs.select(kind.inputs).values) for kind in self.models.values()]
        )


@dataclass(frozen=True)
class Simulation:
    """One simulated attack on a copy of the data: the copy's evidence and which of its users are fakes."""

    attack: str
    budget: float
    evidence: Evidence
    is_fake: np.ndarray  # (users of the copy,) bool


def simulate_attacks(
    dataset: Dataset,
    config: DetectorConfig,
    vectors: np.ndarray | None,
    signals: Sequence[UserSignal] = (),
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> list[Simulation]:
    """One simulation per attack type and budget of `config`, each from its own seed; the evidence's user-user
    products are chunks of `executor` (default: this process)."""
    progress = progress or Silent()
    progress.start(SIMULATIONS_TASK, total=len(config.attacks) * len(config.budgets))
    simulations = []
    for attack in config.attacks:
        for budget in config.budgets:
            rng = np.random.default_rng(derive_seed(config.seed, "fraud", "simulate", attack, budget))
            copy, is_fake = with_simulated_attack(dataset, attack, budget, config.targets, rng)
            evidence = user_evidence(copy, vectors, signals, config.seed, config.group_inputs, executor)
            simulations.append(Simulation(attack, budget, evidence, is_fake))
            progress.advance(SIMULATIONS_TASK)
    return simulations


def fit_calibrator(simulations: Sequence[Simulation], seed: int) -> Calibrator:
    every_input = simulations[0].evidence.inputs.names
    kinds = {
        attack: ([s for s in simulations if s.attack == attack], every_input)
        for attack in dict.fromkeys(s.attack for s in simulations)
    }
    # the shared inputs the evidence has (an ablation may leave some out)
    kinds[ANY_KIND] = (list(simulations), tuple(name for name in SHARED_INPUTS if name in every_input))
    models, negatives = {}, 0
    for kind, (mine, inputs) in kinds.items():
        values = np.vstack([s.evidence.inputs.select(inputs).values for s in mine])
        labels = np.concatenate([s.is_fake for s in mine])
        model, negative = _fit_positive_unlabeled(values, labels, derive_seed(seed, "fraud", "spies", kind))
        models[kind] = KindModel(model, tuple(inputs))
        negatives += negative
    fakes = sum(int(s.is_fake.sum()) for s in simulations)
    return Calibrator(models, fakes, negatives)


def _fit_positive_unlabeled(values: np.ndarray, labels: np.ndarray, seed: int) -> tuple[Pipeline, int]:
    """(the second fit, how many unlabeled users it kept as negatives)."""
    rng = np.random.default_rng(seed)
    fakes = np.flatnonzero(labels)
    spies = rng.choice(fakes, size=max(1, round(SPY_SHARE * len(fakes))), replace=False)
    first_labels = labels.copy()
    first_labels[spies] = False
    q = _logistic().fit(values, first_labels).predict_proba(values)[:, 1]
    negative = ~labels & (q < min(np.quantile(q[spies], SPY_QUANTILE), NEGATIVE_BELOW))
    keep = labels | negative
    return _logistic().fit(values[keep], labels[keep]), int(negative.sum())


def _logistic() -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000))


def prior_adjusted(likelihood_ratios: np.ndarray, prior_users: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """(p(fake) per user, the estimated share of fakes) from (users, kinds) likelihood ratios: MAP-EM to the
    share of fakes at which the mean posterior equals it, and the kinds' proportions among the fakes under a
    Dirichlet prior of `prior_users` (kinds,) pseudo-users (default KIND_PRIOR_USERS each)."""
    ratios = likelihood_ratios.reshape(len(likelihood_ratios), -1)
    share, proportions = fit_mixture(ratios, prior_users)
    return posterior(ratios @ proportions, share), share


def posterior(ratio: np.ndarray, share: float) -> np.ndarray:
    """p(fake) of users whose likelihood ratio (a fake of any kind against a real user) is `ratio`, at a share
    of fakes `share`."""
    weighted = share * ratio
    return weighted / (1.0 - share + weighted)


def fit_mixture(likelihood_ratios: np.ndarray, prior_users: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """(the estimated share of fakes, (kinds,) the kinds' proportions among the fakes): the EM of
    prior_adjusted on (users, kinds) likelihood ratios."""
    ratios = likelihood_ratios.reshape(len(likelihood_ratios), -1)
    kinds = ratios.shape[1]
    prior_users = np.full(kinds, KIND_PRIOR_USERS) if prior_users is None else np.asarray(prior_users, float)
    share, proportions = 0.5, prior_users / prior_users.sum()
    for _ in range(EM_ITERATIONS):
        weighted = share * ratios * proportions  # (users, kinds)
        responsibility = weighted / (1.0 - share + weighted.sum(axis=1, keepdims=True))
        mass = responsibility.sum(axis=0)  # (kinds,) expected fakes of each kind
        updated_share = float(mass.sum() / len(ratios))
        updated_proportions = (mass + prior_users) / (mass.sum() + prior_users.sum())
        converged = (
            abs(updated_share - share) < EM_TOLERANCE and np.abs(updated_proportions - proportions).max() < EM_TOLERANCE
        )
        share, proportions = updated_share, updated_proportions
        if converged:
            break
    return share, proportions
