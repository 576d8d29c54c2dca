"""`curator train` under `torchrun --nproc-per-node 2` (gloo, CPU): the same run as one process, up to float
rounding (dropout 0: each process draws its own masks), with the output written by rank 0 only."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builders import first_users

pytestmark = pytest.mark.e2e  # two fresh processes import torch and curator

OPTIONS = ["--epochs", "2", "--dropout", "0", "--hidden", "16", "--layers", "1", "--batch-size", "32",
           "--device", "cpu", "--seed", "1"]  # fmt: skip


def train(*launcher, data, out):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    command = [*launcher, "-m", "curator", "train", str(data), *OPTIONS, "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "seed-1" / "metrics.json").read_text())


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun")
def test_two_process_ddp_train_equals_one_process(movielens, tmp_path):
    data = first_users(movielens, 130, tmp_path / "ml-slice").path
    one = train(sys.executable, data=data, out=tmp_path / "one")
    torchrun = str(Path(sys.executable).parent / "torchrun")
    two = train(torchrun, "--standalone", "--nproc-per-node", "2", data=data, out=tmp_path / "two")
    assert [e["loss"] for e in two["history"]] == pytest.approx([e["loss"] for e in one["history"]], rel=1e-5)
    assert two["result"]["test"] == pytest.approx(one["result"]["test"], abs=1e-9)
    assert not (tmp_path / "two.partial").exists()  # rank 0 published, nobody else wrote beside it
