"""Experiment tracking: `curator train` writes each seed's curves as TensorBoard event files (under the run folder,
or --log-dir), the points its metrics.json records; MLflow gets the same points when asked, and a clear error
when it is asked for but not installed."""

import contextlib
import importlib.machinery
import importlib.util
import json
import sys
import types

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from curator.run.tracking import TrackingConfig, track

from builders import first_users
from conftest import run_cli as run


def scalars(log_dir):
    """{tag: {step: value}} of the event files in `log_dir` (values as TensorBoard keeps them: float32)."""
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}


@pytest.fixture(scope="module")
def small(movielens, tmp_path_factory):
    return first_users(movielens, 60, tmp_path_factory.mktemp("tracking") / "small")


FIND_SPEC = importlib.util.find_spec
TRAIN = ("--epochs", 2, "--patience", 5, "--hidden", 16, "--layers", 1, "--max-len", 20, "--device", "cpu")


def test_train_writes_every_seeds_curves_as_tensorboard_events(small, tmp_path):
    result = run("train", small.path, "--seeds", "0,1", *TRAIN, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert f"tensorboard --logdir {tmp_path / 'run' / 'tensorboard'}" in " ".join(result.output.split())
    for seed in (0, 1):
        recorded = json.loads((tmp_path / "run" / f"seed-{seed}" / "metrics.json").read_text())
        curves = scalars(tmp_path / "run" / "tensorboard" / f"seed-{seed}")
        history = recorded["history"]
        assert list(curves["train/loss"]) == [1, 2]
        assert curves["train/loss"] == pytest.approx({e["epoch"]: e["loss"] for e in history})
        assert curves["valid/NDCG@10"] == pytest.approx({e["epoch"]: e["valid"]["NDCG@10"] for e in history})
        best = recorded["result"]["best_epoch"]
        assert curves["test/NDCG@10"] == pytest.approx({best: recorded["result"]["test"]["NDCG@10"]})


def test_train_log_dir_puts_the_events_elsewhere_and_mlflow_must_be_installed(small, tmp_path, monkeypatch):
    result = run("train", small.path, *TRAIN, "--epochs", 1, "--out", tmp_path / "run", "--log-dir", tmp_path / "tb")
    assert result.exit_code == 0, result.output
    assert "train/loss" in scalars(tmp_path / "tb" / "seed-0") and not (tmp_path / "run" / "tensorboard").exists()

    monkeypatch.setitem(sys.modules, "mlflow", None)  # not importable, whether installed here or not
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else FIND_SPEC(name, *a))
    refused = run("train", small.path, *TRAIN, "--out", tmp_path / "other", "--mlflow")
    assert refused.exit_code == 2 and "--mlflow: mlflow is not installed" in refused.output
    assert not (tmp_path / "other").exists()


class RecordingMlflow(types.ModuleType):
    """What an MLflow client is asked to log (the tracking server itself is MLflow's business)."""

    def __init__(self):
        super().__init__("mlflow")
        self.__spec__ = importlib.machinery.ModuleSpec("mlflow", None)
        self.runs = []

    def start_run(self, run_name):
        self.runs.append({"name": run_name, "params": {}, "metrics": []})
        return contextlib.nullcontext()

    def log_params(self, params):
        self.runs[-1]["params"].update(params)

    def log_metric(self, key, value, step):
        self.runs[-1]["metrics"].append((key, step, value))


def test_mlflow_gets_the_same_points_under_names_it_accepts(tmp_path, monkeypatch):
    mlflow = RecordingMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    curves = {"train/loss": [(1, 0.5), (2, 0.25)], "valid/NDCG@10": [(1, 0.1), (2, 0.2)]}
    config = TrackingConfig(log_dir=tmp_path / "tb", mlflow=True)
    config.validate()
    track(config, tmp_path / "out", tmp_path / "staging", "train ml", {"lr": 0.001, "engine": {"device": "cpu"}},
          {"seed-0": curves})  # fmt: skip
    assert mlflow.runs == [
        {
            "name": "train ml/seed-0",
            "params": {"lr": "0.001", "engine.device": "cpu"},
            "metrics": [
                ("train/loss", 1, 0.5),
                ("train/loss", 2, 0.25),
                ("valid/NDCG_at_10", 1, 0.1),
                ("valid/NDCG_at_10", 2, 0.2),
            ],
        }
    ]
    written = scalars(tmp_path / "tb" / "seed-0")
    assert written.keys() == curves.keys()
    assert all(written[tag] == pytest.approx(dict(points)) for tag, points in curves.items())
