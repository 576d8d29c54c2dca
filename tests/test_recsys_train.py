from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from recsys.data import LeaveOneOut, left_pad, train_batches
from recsys.models import GRU4Rec, GRU4RecConfig, SASRec, SASRecConfig
from recsys.train import TrainConfig, evaluate, fit, load_best

from conftest import CUDA

DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


def cyclic_sequences(num_users=60, num_items=40, length=9, seed=0):
    """Each user walks the item cycle 1 -> 2 -> ... -> num_items -> 1 from a random start: learnable."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, num_items, num_users)
    return [((s + np.arange(length)) % num_items + 1).astype(np.int64) for s in starts]


def test_leave_one_out_split():
    seqs = [np.array([5, 6, 7, 8]), np.array([1, 2]), np.array([3, 4, 9])]
    split = LeaveOneOut(seqs, num_items=9, user_weights=np.ones(3))
    assert split.evaluated.tolist() == [0, 2]  # user 1 has too few items to evaluate
    assert [s.tolist() for s in split.train_sequences()] == [[5, 6], [1, 2], [3]]
    histories, targets = split.histories_and_targets("valid")
    assert [h.tolist() for h in histories] == [[5, 6], [3]] and targets.tolist() == [7, 4]
    histories, targets = split.histories_and_targets("test")
    assert [h.tolist() for h in histories] == [[5, 6, 7], [3, 4]] and targets.tolist() == [8, 9]


def test_batches_are_left_padded_next_item_pairs():
    seqs = [np.array([1, 2, 3, 4]), np.array([7, 8])]
    batch = next(train_batches(seqs, np.array([1.0, 0.5]), 2, max_len=50, rng=np.random.default_rng(0)))
    rows = {(tuple(i), tuple(t)) for i, t in zip(batch.inputs.tolist(), batch.targets.tolist())}
    assert rows == {((1, 2, 3), (2, 3, 4)), ((0, 0, 7), (0, 0, 8))}
    assert left_pad([np.array([1, 2, 3, 4])], 2).tolist() == [[3, 4]]  # truncation keeps the most recent


@pytest.mark.parametrize(
    "model", [SASRec(SASRecConfig(num_items=20, max_len=8)), GRU4Rec(GRU4RecConfig(num_items=20, max_len=8))]
)
def test_encoders_are_causal_and_ignore_padding(model):
    model.eval()
    items = torch.tensor([[0, 0, 3, 5, 7, 2]])
    out = model(items)
    changed_future = model(torch.tensor([[0, 0, 3, 5, 7, 9]]))
    assert torch.allclose(out[0, :5], changed_future[0, :5], atol=1e-6)  # position 4 never sees position 5
    more_padding = model(torch.tensor([[0, 0, 0, 0, 3, 5, 7, 2]]))
    assert torch.allclose(out[0, -1], more_padding[0, -1], atol=1e-5)  # padding changes nothing


@pytest.mark.parametrize("device", DEVICES)
def test_sasrec_learns_a_deterministic_pattern(tmp_path, device):
    split = LeaveOneOut(cyclic_sequences(), num_items=40, user_weights=np.ones(60))
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(num_items=40, max_len=10, hidden=32))
    config = TrainConfig(max_epochs=40, patience=40, batch_size=16, lr=5e-3, max_len=10, seed=0, device=device)
    before = evaluate(model.to(device), split, "test", config)
    result = fit(model, split, config, tmp_path)
    assert before["NDCG@10"] < 0.5
    assert result.test["HR@10"] == 1.0 and result.test["NDCG@10"] > 0.9
    assert (tmp_path / "checkpoint.pt").exists()
    # The run's best weights come back into a fresh model: they test as the run did.
    best = load_best(SASRec(SASRecConfig(num_items=40, max_len=10, hidden=32)).to(device), tmp_path)
    assert evaluate(best, split, "test", config) == pytest.approx(result.test)


class Killed(Exception):
    pass


@pytest.mark.parametrize("device", DEVICES)
def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path: Path, device):
    split = LeaveOneOut(cyclic_sequences(seed=1), num_items=40, user_weights=np.ones(60))
    config = TrainConfig(max_epochs=4, patience=10, batch_size=16, lr=5e-3, max_len=10, seed=3, device=device)

    def new_model():
        torch.manual_seed(3)
        return SASRec(SASRecConfig(num_items=40, max_len=10, hidden=16))

    uninterrupted = fit(new_model(), split, config, tmp_path / "a")

    def kill_after_two(log):
        if log.epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        fit(new_model(), split, config, tmp_path / "b", on_epoch=kill_after_two)
    torch.manual_seed(12345)  # a new process would start from another RNG state
    resumed = fit(new_model(), split, config, tmp_path / "b", resume=True)

    assert len(resumed.history) == 4
    assert [e.loss for e in resumed.history] == pytest.approx([e.loss for e in uninterrupted.history])
    assert resumed.test == pytest.approx(uninterrupted.test)


@CUDA
def test_a_run_killed_on_the_cpu_resumes_on_cuda(tmp_path: Path):
    split = LeaveOneOut(cyclic_sequences(seed=2), num_items=40, user_weights=np.ones(60))
    config = TrainConfig(max_epochs=20, patience=20, batch_size=16, lr=5e-3, max_len=10, seed=4)
    torch.manual_seed(4)
    model = SASRec(SASRecConfig(num_items=40, max_len=10, hidden=32))

    cpu_losses = []

    def kill_after_two(log):
        cpu_losses.append(log.loss)
        if log.epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        fit(model, split, config, tmp_path, on_epoch=kill_after_two)
    resumed = fit(model, split, replace(config, device="cuda"), tmp_path, resume=True)
    assert [e.loss for e in resumed.history[:2]] == cpu_losses and len(resumed.history) == 20
    assert model.item_embedding.weight.device.type == "cuda"
    assert resumed.test["HR@10"] == 1.0  # the cycle is learnt across the move


def test_zero_weight_users_do_not_train_the_model(tmp_path):
    seqs = cyclic_sequences(num_users=20)
    config = TrainConfig(max_epochs=2, patience=5, batch_size=8, lr=5e-3, max_len=10, seed=0)

    def trained_weights(user_weights, run):
        torch.manual_seed(0)
        model = SASRec(SASRecConfig(num_items=40, max_len=10, hidden=16, dropout=0.0))
        fit(model, LeaveOneOut(seqs, 40, user_weights), config, tmp_path / run)
        return model.item_embedding.weight.detach().clone()

    half = np.r_[np.ones(10), np.zeros(10)]
    # Users with weight 0 contribute nothing; changing their sequences must not change the model.
    changed = [s if u < 10 else s[::-1].copy() for u, s in enumerate(seqs)]
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(num_items=40, max_len=10, hidden=16, dropout=0.0))
    fit(model, LeaveOneOut(changed, 40, half), config, tmp_path / "changed")
    assert torch.allclose(trained_weights(half, "half"), model.item_embedding.weight.detach(), atol=1e-6)
    assert not torch.allclose(trained_weights(np.ones(20), "all"), model.item_embedding.weight.detach())
