"""The collaborative statistics the denoiser reads, computed as an executor's chunks (curator.run.executor).

Two pieces, each split into chunks that a worker computes from the users x items matrix alone:

- the cross-fitted item factors, one fold a chunk: a truncated SVD of the normalised X over the other
  folds' users (X: users x items, 1 = has it);
- the item x item co-occurrence, in blocks of rows: block b is rows b*B.. of X^T X, the product of those
  items' columns with X. The driver joins the blocks into one CSR matrix (it is what every scoring worker
  shares).

On `--engine ray` the matrix goes to the object store once and the workers compute the folds and the
blocks in parallel, the folds (the longest chunks) first; in one process the same chunks run in order. A
chunk's result depends on its number and the matrix only, so every engine and worker count gives the same
bytes. The cost that grows with the data, the sum over users of len^2 pairs of the co-occurrence and the
five SVDs, is the workers'; the driver holds the matrix and the joined result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from scipy.sparse.linalg import svds
from threadpoolctl import threadpool_limits

from curator.data.collaborative import TrainingInteractions, user_item_matrix
from curator.run.executor import ChunkJob, Executor, LocalExecutor
from curator.run.progress import Progress, Silent

FACTOR_FOLDS = 5
# The co-occurrence's rows in about this many blocks (of at least MIN_BLOCK rows): enough for a pool of workers
# to share them evenly (the popular items' rows cost the most), few enough that a block is not all overhead
COOCCURRENCE_BLOCKS = 256
MIN_BLOCK = 64
TASK = "collaborative evidence"  # the progress task: one step per chunk


@dataclass(frozen=True)
class UserItems:
    """What the evidence's workers share: the training users x items matrix, both ways round, and the plan."""

    users: sp.csr_matrix  # (users, items) 1 where the user has the item in its training part
    by_item: sp.csr_matrix  # (items, users) the same, transposed: a block of items is a slice of rows
    rank: int  # of the item factors
    block: int  # co-occurrence rows per chunk: the driver's plan, which the workers follow

    @classmethod
    def of(cls, train: TrainingInteractions, rank: int) -> UserItems:
        users = user_item_matrix(train)
        block = max(-(-train.num_items // COOCCURRENCE_BLOCKS), MIN_BLOCK)
        return cls(users, users.T.tocsr(), rank, block)

    def chunks(self) -> range:
        """The folds first (each is one SVD, the longest chunks), then the co-occurrence's blocks."""
        return range(FACTOR_FOLDS + -(-self.users.shape[1] // self.block))


class EvidenceChunk:
    """A worker: chunk k < FACTOR_FOLDS is fold k's item factors, one table row per item (a unit vector of
    `rank` floats, or zeros); chunk FACTOR_FOLDS + b is block b of the co-occurrence's rows, one table row
    per item (its columns and counts, float32)."""

    def __init__(self, shared: UserItems):
        self.shared = shared

    def __call__(self, k: int) -> pa.Table:
        if k < FACTOR_FOLDS:
            factors = fold_factors(self.shared.users, k, self.shared.rank)
            return pa.table({"factor": pa.FixedSizeListArray.from_arrays(pa.array(factors.ravel()), self.shared.rank)})
        start = (k - FACTOR_FOLDS) * self.shared.block
        rows = (self.shared.by_item[start : start + self.shared.block] @ self.shared.users).astype(np.float32)
        rows = rows.tocsr()
        rows.sort_indices()
        offsets = pa.array(rows.indptr, pa.int64())
        return pa.table(
            {
                "columns": pa.LargeListArray.from_arrays(offsets, pa.array(rows.indices, pa.int32())),
                "counts": pa.LargeListArray.from_arrays(offsets, pa.array(rows.data, pa.float32())),
            }
        )


def fold_factors(users: sp.csr_matrix, fold: int, rank: int) -> np.ndarray:
    """(items, rank) float32 unit item vectors from a rank-`rank` truncated SVD of D_u^-1/2 X D_i^-1/2 over
    the users outside `fold` (user index mod FACTOR_FOLDS). An item none of them has, and the columns past
    the attainable rank, are zero."""
    factors = np.zeros((users.shape[1], rank), dtype=np.float32)
    others = users[np.arange(users.shape[0]) % FACTOR_FOLDS != fold]
    user_degree = np.asarray(others.sum(axis=1)).ravel()
    item_degree = np.asarray(others.sum(axis=0)).ravel()
    normalised = (
        sp.diags(1 / np.sqrt(np.maximum(user_degree, 1))) @ others @ sp.diags(1 / np.sqrt(np.maximum(item_degree, 1)))
    ).tocsc()
    k = min(rank, min(normalised.shape) - 1)
    if k < 1:
        return factors
    # A fixed start vector: ARPACK's default is random, and the factors must not vary between runs.
    start = np.full(min(normalised.shape), 1 / np.sqrt(min(normalised.shape)))
    # One BLAS thread: the matrix is small, and OpenBLAS's own pool, once woken, keeps competing with
    # torch's threads for the cores and slowed every later torch operation several times over.
    with threadpool_limits(limits=1, user_api="blas"):
        _, singular, right = svds(normalised, k=k, v0=start)
    vectors = right.T * singular  # (items, k)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    factors[:, :k] = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return factors


def collaborative_evidence(
    train: TrainingInteractions, rank: int, executor: Executor | None = None, progress: Progress | None = None
) -> tuple[sp.csr_matrix, np.ndarray]:
    """The co-occurrence ((items, items) float32 CSR: users having both; the diagonal: users having the item)
    and the fold factors ((FACTOR_FOLDS, items, rank) float32), computed in chunks by `executor` (default:
    this process)."""
    executor, progress = executor or LocalExecutor(), progress or Silent()
    shared = UserItems.of(train, rank)
    chunks = shared.chunks()
    progress.start(TASK, total=len(chunks))
    factors = np.zeros((FACTOR_FOLDS, train.num_items, rank), dtype=np.float32)
    blocks: dict[int, pa.Table] = {}
    for k, table in executor.run(ChunkJob(shared, EvidenceChunk), chunks):
        if k < FACTOR_FOLDS:
            factors[k] = table["factor"].combine_chunks().flatten().to_numpy().reshape(train.num_items, rank)
        else:
            blocks[k] = table
        progress.advance(TASK)
    ordered = [blocks[k] for k in chunks[FACTOR_FOLDS:]]
    together = joined_rows(
        [block["columns"].combine_chunks() for block in ordered],
        [block["counts"].combine_chunks() for block in ordered],
        train.num_items,
    )
    return together, factors


def joined_rows(columns: list[pa.LargeListArray], counts: list[pa.LargeListArray], size: int) -> sp.csr_matrix:
    """The (size, size) float32 CSR matrix whose rows are the blocks' rows, in order."""
    if not columns:
        return sp.csr_matrix((size, size), dtype=np.float32)
    lengths = np.concatenate([pc.list_value_length(part).to_numpy() for part in columns])
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([part.flatten().to_numpy() for part in columns])
    data = np.concatenate([part.flatten().to_numpy() for part in counts])
    return sp.csr_matrix((data, indices, indptr), shape=(size, size))
