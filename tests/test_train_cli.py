"""`curator train` end to end through the CLI on MovieLens-100K, with a small budget."""

import json

import pytest
import torch

from conftest import run_cli as run

pytestmark = pytest.mark.e2e  # the real CLI trains on MovieLens-100K

SMALL = ["--epochs", "2", "--patience", "2", "--hidden", "16", "--layers", "1", "--max-len", "20"]


def test_train_two_seeds_then_resume_is_a_no_op(movielens, tmp_path):
    out = tmp_path / "run"
    result = run("train", movielens.path, "--seeds", "1,2", "--out", out, *SMALL)
    assert result.exit_code == 0, result.output
    assert "HR" in result.output and "±" in result.output

    summary = json.loads((out / "metrics.json").read_text())
    assert summary["data_hash"] == movielens.content_hash
    assert [s["seed"] for s in summary["seeds"]] == [1, 2]
    assert summary["users_evaluated"] == 943 and summary["num_items"] == 1682
    ndcg = [s["test"]["NDCG@10"] for s in summary["seeds"]]
    assert summary["test"]["NDCG@10"]["mean"] == pytest.approx(sum(ndcg) / 2)
    # Two epochs of a small model already beat random ranking (HR@10 of ~10/1600 unseen items = 0.006).
    assert summary["test"]["HR@10"]["mean"] > 0.03
    for seed in (1, 2):
        assert (out / f"seed-{seed}" / "checkpoint.pt").is_file()

    # The same run again is a no-op that answers with the finished run's figures; so is the same run with the
    # device named, which is not part of the run (a run killed on a GPU continues on a CPU).
    for device in ([], ["--device", "cpu"]):
        again = run("train", movielens.path, "--seeds", "1,2", "--out", out, "--json", *device, *SMALL)
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout) == summary

    for other in (["--seeds", "2"], ["--seeds", "1,2", "--lr", "0.01"]):
        refused = run("train", movielens.path, "--out", out, "--resume", *SMALL, *other)
        assert refused.exit_code == 2 and "--overwrite" in refused.output


class StopAfterEpochs:
    """A progress that stops the run (as a kill would) after `epochs` epochs have been logged."""

    def __init__(self, epochs: int):
        self.left = epochs

    def start(self, task, total, done=0):
        pass

    def advance(self, task, amount=1, note="", counted=None):
        pass

    def log(self, line):
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


def test_killed_run_resumes_to_the_uninterrupted_result(movielens, tmp_path):
    from curator.run.stage import run_stage
    from curator.stages.train import TrainStage
    from curator.training import TrainOptions

    options = TrainOptions(seeds=[1, 2], max_epochs=2, patience=2, hidden=16, layers=1, max_len=20)
    straight = run_stage(TrainStage(movielens, options, tmp_path / "straight")).summary
    with pytest.raises(KeyboardInterrupt):  # killed in seed 2's first epoch: seed 1 is finished
        run_stage(TrainStage(movielens, options, tmp_path / "killed"), progress=StopAfterEpochs(3))
    assert not (tmp_path / "killed").exists() and (tmp_path / "killed.partial" / "seed-2" / "checkpoint.pt").is_file()

    refused = run("train", movielens.path, "--seeds", "1,2", "--out", tmp_path / "killed", *SMALL)
    assert refused.exit_code == 2 and "--resume" in refused.output
    resumed = run_stage(TrainStage(movielens, options, tmp_path / "killed"), resume=True).summary
    assert [s["test"] for s in resumed["seeds"]] == [s["test"] for s in straight["seeds"]]
    assert not (tmp_path / "killed.partial").exists()


def test_same_seed_same_result_and_gru4rec_runs(movielens, tmp_path):
    first = run("train", movielens.path, "--model", "gru4rec", "--seed", "5", "--out", tmp_path / "a", "--json", *SMALL)
    second = run(
        "train", movielens.path, "--model", "gru4rec", "--seed", "5", "--out", tmp_path / "b", "--json", *SMALL
    )
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["test"] == json.loads(second.stdout)["test"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "bert"], "Invalid value for '--model'"),
        (["--lr", "3"], "--lr must be in (0, 1)"),
        (["--seeds", "1,x"], "--seeds takes comma-separated integers"),
        (["--hidden", "30", "--heads", "4"], "not divisible"),
        (["--device", "tpu"], "Invalid value for '--device'"),
        pytest.param(
            ["--device", "cuda"],
            "no CUDA device is available",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
    ],
)
def test_bad_options_exit_2_and_write_nothing(movielens, tmp_path, args, message):
    result = run("train", movielens.path, "--out", tmp_path / "run", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "run").exists()


def test_not_a_dataset_folder_exits_2(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("train", tmp_path / "empty")
    assert result.exit_code == 2 and "missing" in result.output
