"""`curator train` end to end through the CLI on MovieLens-100K, with a small budget."""

import json

import pytest
import torch

from conftest import run_cli as run

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

    again = run("train", movielens.path, "--seeds", "1,2", "--out", out, *SMALL)
    assert again.exit_code == 2 and "--resume" in again.output

    resumed = run("train", movielens.path, "--seeds", "1,2", "--out", out, "--resume", "--json", *SMALL)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["test"] == summary["test"]
    # The memory peaks are those of the process that trained the seeds, also when another one collects them.
    assert json.loads(resumed.stdout)["peak_memory_mib"] == max(s["peak_memory_mib"] for s in summary["seeds"])

    # The device is not part of the run: the same run continues when the CPU is asked for explicitly.
    on_cpu = run("train", movielens.path, "--seeds", "1,2", "--out", out, "--resume", "--device", "cpu", "--json",
                 *SMALL)
    assert on_cpu.exit_code == 0 and json.loads(on_cpu.stdout)["device"] == summary["device"]

    # Seeds are collected per sub-folder: a subset (or a superset, trained by another process) reuses them.
    subset = run("train", movielens.path, "--seeds", "2", "--out", out, "--resume", "--json", *SMALL)
    assert json.loads(subset.stdout)["seeds"] == [summary["seeds"][1]]

    other_options = run("train", movielens.path, "--seeds", "1,2", "--out", out, "--resume", *SMALL, "--lr", "0.01")
    assert other_options.exit_code == 2 and "other data or options" in other_options.output


def test_same_seed_same_result_and_gru4rec_runs(movielens, tmp_path):
    first = run("train", movielens.path, "--model", "gru4rec", "--seed", "5", "--out", tmp_path / "a", "--json", *SMALL)
    second = run("train", movielens.path, "--model", "gru4rec", "--seed", "5", "--out", tmp_path / "b", "--json", *SMALL)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["test"] == json.loads(second.stdout)["test"]


@pytest.mark.parametrize("args, message", [
    (["--model", "bert"], "Invalid value for '--model'"),
    (["--lr", "3"], "--lr must be in (0, 1)"),
    (["--seeds", "1,x"], "--seeds takes comma-separated integers"),
    (["--hidden", "30", "--heads", "4"], "not divisible"),
    (["--device", "tpu"], "Invalid value for '--device'"),
    pytest.param(["--device", "cuda"], "no CUDA device is available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_bad_options_exit_2_and_write_nothing(movielens, tmp_path, args, message):
    result = run("train", movielens.path, "--out", tmp_path / "run", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "run").exists()


def test_not_a_dataset_folder_exits_2(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("train", tmp_path / "empty")
    assert result.exit_code == 2 and "missing" in result.output
