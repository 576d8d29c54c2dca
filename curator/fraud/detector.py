"""The fake-user detector: evidence of every user, a calibrator fitted on simulated attacks of the same
data, p(fake) per user. Same data, config and seed -> the same probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy.special import logsumexp

from curator.data.dataset import Dataset
from curator.fraud.calibrator import Calibrator, fit_calibrator, fit_mixture, posterior, simulate_attacks
from curator.fraud.config import DetectorConfig
from curator.fraud.evidence import Evidence, user_evidence
from curator.fraud.features import UserSignal
from curator.run.executor import Executor
from curator.run.progress import Progress


@dataclass(frozen=True)
class Detection:
    user_ids: list[str]
    probability: np.ndarray  # (users,) p(fake)
    suspicion: np.ndarray  # (users,) log likelihood ratio of a fake (the simulated kinds mixed) against a real user
    prior: float  # the estimated share of fakes in the data
    evidence: Evidence
    simulated_fakes: int

    def table(self) -> pa.Table:
        """user_id, p_fake, suspicion, then the calibrator's inputs and every raw feature."""
        columns = {
            "user_id": pa.array(self.user_ids, pa.string()),
            "p_fake": pa.array(self.probability),
            "suspicion": pa.array(self.suspicion),
        }
        for table in (self.evidence.inputs, self.evidence.features):
            columns.update({name: pa.array(table.values[:, k]) for k, name in enumerate(table.names)})
        return pa.table(columns)


def detect(
    dataset: Dataset,
    config: DetectorConfig,
    vectors: np.ndarray | None,
    signals: Sequence[UserSignal] = (),
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> Detection:
    """`vectors`: item text vectors (features_text.item_vectors), or None for collaborative signals only. The
    evidence's user-user products are chunks of `executor` (default: this process)."""
    config.validate()
    vectors = vectors if config.use_text else None
    simulations = simulate_attacks(dataset, config, vectors, signals, progress, executor)
    calibrator = fit_calibrator(simulations, config.seed)
    evidence = user_evidence(dataset, vectors, signals, config.seed, config.group_inputs, executor)
    return judge(dataset, calibrator, evidence)


def judge(dataset: Dataset, calibrator: Calibrator, evidence: Evidence) -> Detection:
    """p(fake) of the users of `dataset`, whose `evidence` is computed with the calibrator's signals."""
    probability, suspicion, prior = judged(calibrator, evidence)
    return Detection(
        dataset.users["user_id"].to_pylist(), probability, suspicion, prior, evidence, calibrator.simulated_fakes
    )


def judged(calibrator: Calibrator, evidence: Evidence) -> tuple[np.ndarray, np.ndarray, float]:
    """((users,) p(fake), (users,) suspicion, the estimated share of fakes). The suspicion is the log of the
    likelihood ratio that p(fake) is the posterior of: the kinds' ratios mixed at their estimated proportions."""
    ratios = calibrator.likelihood_ratios(evidence)
    share, proportions = fit_mixture(ratios, calibrator.prior_users())
    probability = posterior(ratios @ proportions, share)
    suspicion = logsumexp(calibrator.log_likelihood_ratios(evidence) + np.log(proportions), axis=1)
    return probability, suspicion, share
