"""The calibrator: p(fake) for every user, learned positive-unlabeled from simulated attacks on the data.

Training. For each simulated attack type and budget, fakes are added to an in-memory copy of the data
(simulate.py); the positives are those simulated fakes, the unlabeled are all users of the copy (the
data's own users, among whom any real fakes hide). A logistic regression on the evidence (evidence.py)
is fitted with both classes weighted equally, so its output q is the posterior at a prior of one half:
q / (1 - q) is the likelihood ratio of "simulated fake" against "user of this data". Real fakes of a
simulated kind sit among the unlabeled and would cap that ratio where they are, so the fit is done twice
(two-step PU learning with spies; Liu et al. 2003): the first fit hides a share of the simulated fakes
among the unlabeled, where they are scored the way hidden real fakes are; the second keeps as negatives
only the users the first scored below all but SPY_QUANTILE of those spies.

Prediction. The share of fakes in the data is unknown (none, 1%, 5%, ...). It is estimated by EM on
the data's likelihood ratios (Saerens, Latinne & Decaestecker 2002: the prior that makes the mean
posterior equal itself), and p(fake) is the posterior at that prior. Clean data drives the prior and so
every p towards 0; an attack that stands out raises its fakes' p towards 1.
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
from curator.fraud.evidence import Evidence, user_evidence
from curator.fraud.features import UserSignal
from curator.fraud.simulate import with_simulated_attack
from curator.seeds import derive_seed

EM_ITERATIONS = 1000
SPY_SHARE = 0.2  # of the simulated fakes, hidden among the unlabeled in the first fit
SPY_QUANTILE = 0.25  # users scored above this quantile of the spies in the first fit are not negatives
EM_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Calibrator:
    model: Pipeline
    input_names: tuple[str, ...]
    simulated_fakes: int
    reliable_negatives: int  # users of the copies kept as negatives by the second fit

    def likelihood_ratio(self, evidence: Evidence) -> np.ndarray:
        q = self.model.predict_proba(evidence.inputs.select(self.input_names).values)[:, 1]
        return q / np.maximum(1.0 - q, 1e-12)


def fit_calibrator(dataset: Dataset, config: DetectorConfig, vectors: np.ndarray | None,
                   signals: Sequence[UserSignal] = ()) -> Calibrator:
    inputs, labels = [], []
    for attack in config.attacks:
        for budget in config.budgets:
            rng = np.random.default_rng(derive_seed(config.seed, "fraud", "simulate", attack, budget))
            copy, is_fake = with_simulated_attack(dataset, attack, budget, config.targets, rng)
            evidence = user_evidence(copy, vectors, signals, config.seed)
            inputs.append(evidence.inputs)
            labels.append(is_fake)
    values, labels_all = np.vstack([table.values for table in inputs]), np.concatenate(labels)
    rng = np.random.default_rng(derive_seed(config.seed, "fraud", "spies"))
    fakes = np.flatnonzero(labels_all)
    spies = rng.choice(fakes, size=max(1, round(SPY_SHARE * len(fakes))), replace=False)
    first_labels = labels_all.copy()
    first_labels[spies] = False
    q = _logistic().fit(values, first_labels).predict_proba(values)[:, 1]
    negative = ~labels_all & (q < np.quantile(q[spies], SPY_QUANTILE))
    keep = labels_all | negative
    model = _logistic().fit(values[keep], labels_all[keep])
    return Calibrator(model, inputs[0].names, int(labels_all.sum()), int(negative.sum()))


def _logistic() -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000))


def prior_adjusted(likelihood_ratio: np.ndarray) -> tuple[np.ndarray, float]:
    """(posteriors, prior): the EM fixed point prior = mean(posterior(prior))."""
    prior = 0.5
    for _ in range(EM_ITERATIONS):
        posterior = prior * likelihood_ratio / (prior * likelihood_ratio + 1.0 - prior)
        updated = float(posterior.mean())
        if abs(updated - prior) < EM_TOLERANCE:
            break
        prior = updated
    return prior * likelihood_ratio / (prior * likelihood_ratio + 1.0 - prior), prior
