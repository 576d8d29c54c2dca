"""`fit` under DDP: two gloo processes on the CPU train as one process does on the same global batches (up to
float rounding; without dropout, whose masks each process draws for its own rows), and a 2-process run
killed after an epoch resumes from rank 0's checkpoint to the uninterrupted 2-process result."""

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from recsys.data import LeaveOneOut
from recsys.models import SASRec, SASRecConfig
from recsys.train import TrainConfig, fit

pytestmark = pytest.mark.e2e  # each process imports torch afresh: tens of seconds on 2 busy cores

CONFIG = TrainConfig(max_epochs=3, patience=10, batch_size=16, lr=5e-3, max_len=10, seed=3)


def split():
    rng = np.random.default_rng(1)
    sequences = [((s + np.arange(rng.integers(4, 10))) % 40 + 1).astype(np.int64) for s in rng.integers(0, 40, 50)]
    return LeaveOneOut(sequences, num_items=40, user_weights=rng.uniform(0.5, 1.5, 50))


def new_model():
    torch.manual_seed(3)
    return SASRec(SASRecConfig(num_items=40, max_len=10, hidden=16, dropout=0.0))


class Killed(Exception):
    pass


def kill_after_first(log):
    if log.epoch == 1:
        raise Killed


def train_in_process(rank: int, port: int, run_dir: str, result_file: str, killed_first: bool):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        if killed_first:
            try:
                fit(new_model(), split(), CONFIG, Path(run_dir), on_epoch=kill_after_first)
            except Killed:
                pass
            dist.barrier()  # rank 0's checkpoint is written before anyone resumes from it
        model = new_model()
        result = fit(model, split(), CONFIG, Path(run_dir), resume=killed_first)
        if rank == 0:
            torch.save({"state": model.state_dict(), "losses": [e.loss for e in result.history]}, result_file)
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_run(tmp_path, name, killed_first=False):
    result_file = tmp_path / f"{name}.pt"
    args = (free_port(), str(tmp_path / name), str(result_file), killed_first)
    mp.spawn(train_in_process, args=args, nprocs=2, join=True)
    return torch.load(result_file, weights_only=False)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    model = new_model()
    result = fit(model, split(), CONFIG, tmp_path_factory.mktemp("one"))
    return {"state": model.state_dict(), "losses": [e.loss for e in result.history]}


def test_two_gloo_processes_train_as_one_on_the_same_global_batches(tmp_path, one_process):
    two = ddp_run(tmp_path, "ddp")
    assert two["losses"] == pytest.approx(one_process["losses"], rel=1e-4)
    for name, weights in one_process["state"].items():
        torch.testing.assert_close(two["state"][name], weights, rtol=1e-3, atol=1e-4, msg=name)


def test_a_killed_ddp_run_resumes_from_rank_0s_checkpoint(tmp_path, one_process):
    resumed = ddp_run(tmp_path, "resumed", killed_first=True)
    assert len(resumed["losses"]) == CONFIG.max_epochs
    assert resumed["losses"] == pytest.approx(one_process["losses"], rel=1e-4)
