"""A classic statistics baseline for fake users: PCA-VarSelect (Mehta & Nejdl 2009; SDLib's and RecAD's
PCASelectUsers).

Each user's row of the user-item rating matrix (ratings, or 1 for an interaction without one; 0 where
none) is z-scored over the catalog; the users are the variables of a PCA. Fakes built from fillers
correlate weakly with the real users' structure, so they load little on the top principal components.
The suspicion of a user is the rank of its (small) sum of squared loadings on the top COMPONENTS
components, scaled to [0, 1]: a ranking, not a calibrated probability (the original method keeps the
n least-loaded users, n being the attack size it is told).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, svds
from scipy.stats import rankdata

from curator.data.collaborative import training_interactions
from curator.data.dataset import Dataset
from curator.seeds import derive_seed

COMPONENTS = 3


def pca_suspicion(dataset: Dataset, seed: int = 0) -> np.ndarray:
    """(users,) in [0, 1], the higher the more suspect."""
    train = training_interactions(dataset)
    ratings = dataset.interactions["rating"].to_numpy(zero_copy_only=False)[train.rows].astype(np.float64)
    values = np.where(np.isnan(ratings), 1.0, ratings)
    matrix = sp.csr_matrix((values, (train.user, train.item)), shape=(train.num_users, train.num_items))
    num_items = train.num_items
    mean = np.asarray(matrix.sum(axis=1)).ravel() / num_items
    variance = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel() / num_items - mean**2
    scale = np.sqrt(np.maximum(variance, 1e-12))

    # The z-scored matrix is dense; apply it as an operator instead of building it.
    def times(vector):
        vector = np.asarray(vector).reshape(num_items, -1)
        return (matrix @ vector - np.outer(mean, vector.sum(axis=0))) / scale[:, None]

    def transposed_times(vector):
        vector = np.asarray(vector).reshape(train.num_users, -1) / scale[:, None]
        return matrix.T @ vector - np.outer(np.ones(num_items), mean @ vector)

    z = LinearOperator(
        (train.num_users, num_items),
        matvec=times,
        rmatvec=transposed_times,
        matmat=times,
        rmatmat=transposed_times,
        dtype=np.float64,
    )
    start = np.random.default_rng(derive_seed(seed, "fraud", "pca")).random(min(z.shape))
    loadings, _, _ = svds(z, k=min(COMPONENTS, min(z.shape) - 1), v0=start)
    contribution = (loadings**2).sum(axis=1)
    return (rankdata(-contribution, method="average") - 1) / max(train.num_users - 1, 1)
