"""recsys.scoring.score_matrix: the evaluation's scores for every item, seen items filtered."""

import numpy as np
import torch

from recsys.data import LeaveOneOut
from recsys.metrics import ranking_metrics, target_ranks
from recsys.models import SASRec, SASRecConfig
from recsys.scoring import score_matrix
from recsys.train import TrainConfig, evaluate


def test_score_matrix_filters_history_and_agrees_with_evaluate():
    rng = np.random.default_rng(0)
    sequences = [rng.choice(np.arange(1, 31), size=int(rng.integers(3, 12)), replace=False) for _ in range(40)]
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(num_items=30, max_len=5))
    histories = [s[:-1] for s in sequences]
    scores = score_matrix(model, histories, max_len=5, batch_size=7)  # several batches of uneven lengths

    assert scores.shape == (40, 31) and torch.isneginf(scores[:, 0]).all()
    for row, history in zip(scores, histories):
        # the whole history is filtered, also the part beyond max_len the model did not read
        assert torch.isneginf(row[history]).all()
        assert torch.isfinite(row[np.setdiff1d(np.arange(1, 31), history)]).all()

    split = LeaveOneOut(sequences, 30, np.ones(40))
    targets = torch.tensor([s[-1] for s in sequences])
    ranks = target_ranks(scores, targets).numpy()
    expected = evaluate(model, split, "test", TrainConfig(max_len=5))
    assert ranking_metrics(ranks) == expected
