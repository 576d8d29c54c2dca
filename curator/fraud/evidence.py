"""What the calibrator sees of a user: a few direction-free anomaly scores built from the feature groups.

    collab_distance   log robust Mahalanobis distance of the collaborative features (anomaly.py)
    text_distance     the same for the LLM-derived text features (absent in the ablation)
    signal_distance   the same for the external signals (e.g. the denoiser's noise probabilities), if any
    pair_lift_max_z, pair_lift_top_z
                      robust z of the pair-lift features: the one signal every promotion attack shares
                      whatever its fillers (its fakes all hold the same targets), kept apart so that its
                      direction counts
    pca_suspicion     the PCA-VarSelect rank (baselines.py): fillers without taste load little on the
                      users' top principal components; walks along real transitions too, which the
                      distances above barely see
    holder_anomaly_max, holder_anomaly_top
                      guilt by association: for each of the user's items, how far its other holders
                      stand from the bulk (the robust z of their collab_distance, averaged and shrunk
                      towards the median user by HOLDER_PRIOR typical holders); the highest item, and
                      the mean of the PAIR_TOP highest. A target's other holders are mostly fakes, whatever
                      the kind of attack; a real user's rare item is held by ordinary users
    partner_excess_q50, partner_excess_q75
                      a group sharing rare items (features_collaborative.partner_excess): how unlikely by
                      chance the user's PARTNERS-th closest partner shares so many of its rare items, rare
                      meaning at most the median (q50) or the 75% quantile (q75) of item popularity. Fakes
                      whose histories are real ones (template) or walks along real transitions (sequential)
                      stand out in nothing else: the distances above read them as real users, and so does
                      the holder anomaly, which rests on those distances

The distances are relative to the dataset's own users, so inputs computed on different datasets (the
data, and its copies with simulated fakes) are on one scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from curator.data.collaborative import training_interactions, user_item_matrix
from curator.data.dataset import Dataset
from curator.errors import InputError
from curator.fraud.anomaly import log_distance, robust_z
from curator.fraud.baselines import pca_suspicion
from curator.fraud.features import FeatureTable, UserSignal, per_user_mean_and_max
from curator.fraud.features_collaborative import PAIR_TOP, collaborative_features, partner_excess
from curator.fraud.features_text import text_features
from curator.run.executor import Executor
from curator.seeds import derive_seed

GROUP_FEATURES = ("pair_lift_max", "pair_lift_top")
HOLDER_INPUTS = ("holder_anomaly_max", "holder_anomaly_top")
HOLDER_PRIOR = 3.0  # typical (z = 0) holders added to every item's other holders: one odd co-holder is not a case
# What every promotion attack shows whatever its kind: users unlike the data's own (direction-free) who
# share targets with other users like them. The calibrator's kind-agnostic model reads only these.
# partner_excess at each quantile of item popularity that counts as rare: a 1% attack's targets stay below the
# median, a 5% attack's rise above it
RARE_QUANTILES = (0.5, 0.75)
GROUP_INPUTS = tuple(f"partner_excess_q{round(100 * q)}" for q in RARE_QUANTILES)
SHARED_INPUTS = ("collab_distance", *(f"{name}_z" for name in GROUP_FEATURES), *HOLDER_INPUTS, *GROUP_INPUTS)
TEXT_INPUT = "text_distance"  # the text features' input
SIGNAL_INPUT = "signal_distance"  # the external signals' input


@dataclass(frozen=True)
class Evidence:
    features: FeatureTable  # every raw feature (for the score table: why a user was judged so)
    inputs: FeatureTable  # the calibrator's inputs


def user_evidence(
    dataset: Dataset,
    vectors: np.ndarray | None,
    signals: Sequence[UserSignal] = (),
    seed: int = 0,
    group_inputs: bool = False,
    executor: Executor | None = None,
) -> Evidence:
    """Features and calibrator inputs of every user of `dataset`; text features only when item `vectors`
    are given (one row per item). The user-user products are chunks of `executor` (default: this process)."""
    num_users = len(dataset.users)
    collaborative = collaborative_features(dataset, executor)
    features = collaborative
    inputs = {"collab_distance": log_distance(collaborative.values, derive_seed(seed, "fraud", "collab"))}
    if vectors is not None:
        if len(vectors) != len(dataset.items):
            raise InputError(f"{len(vectors)} item vectors for {len(dataset.items)} items")
        text = text_features(dataset, vectors)
        features = features.join(text)
        inputs[TEXT_INPUT] = log_distance(text.values, derive_seed(seed, "fraud", "text"))
    if signals:
        external = FeatureTable.from_columns(
            {name: column for signal in signals for name, column in signal(dataset).items()}, num_users
        )
        features = features.join(external)
        inputs[SIGNAL_INPUT] = log_distance(external.values, derive_seed(seed, "fraud", "signals"))
    inputs["pca_suspicion"] = pca_suspicion(dataset, seed)
    group = robust_z(collaborative.select(GROUP_FEATURES).values)
    inputs.update({f"{name}_z": group[:, k] for k, name in enumerate(GROUP_FEATURES)})
    inputs.update(zip(HOLDER_INPUTS, holder_anomaly(dataset, inputs["collab_distance"])))
    if group_inputs:  # off by default: measured to cost the default kinds' 5% recall (docs/fraud.md)
        matrix = user_item_matrix(training_interactions(dataset))
        inputs.update({name: partner_excess(matrix, q, executor) for name, q in zip(GROUP_INPUTS, RARE_QUANTILES)})
    return Evidence(features, FeatureTable.from_columns(inputs, num_users))


def holder_anomaly(dataset: Dataset, distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(users,) twice: the highest, and the mean of the PAIR_TOP highest, over a user's items of the
    shrunk mean robust z of `distance` over the item's other holders (the user left out)."""
    matrix = user_item_matrix(training_interactions(dataset))  # repeats of an item count once
    anomaly = robust_z(distance[:, None])[:, 0]
    holders = np.asarray(matrix.sum(axis=0)).ravel()  # (items,)
    anomaly_sum = matrix.T @ anomaly  # (items,)
    user = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))  # (entries,) in storage order
    item = matrix.indices
    others = (anomaly_sum[item] - anomaly[user]) / (holders[item] - 1.0 + HOLDER_PRIOR)
    # each user's entries, highest first: the rank within the user picks the top ones
    order = np.lexsort((-others, user))
    rank = np.arange(len(order)) - matrix.indptr[user[order]]
    top = order[rank < PAIR_TOP]
    columns = per_user_mean_and_max(user[top], others[top], matrix.shape[0], "holder_anomaly")
    return columns["holder_anomaly_max"], columns["holder_anomaly_mean"]  # the max of the top is the max
