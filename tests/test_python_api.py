"""curator from Python: the documented entry points (docs/ecosystem.md), stages run without command-line
arguments, and an import that changes nothing in the process (no Hub offline mode, no environment variable)."""

import json
import os
import subprocess
import sys

import pytest

import curator.data
from curator.data import read_dataset
from curator.inject.config import InjectConfig
from curator.llm.offline import offline_hub
from curator.run.stage import run_stage
from curator.stages import stage_class
from curator.training import TrainOptions

from builders import first_users

# Every package and every module that loads a model or sets library options when used.
MODULES = [
    "curator",
    "curator.cli",
    "curator.data",
    "curator.llm",
    "curator.llm.engine",
    "curator.llm.embeddings",
    "curator.llm.adapters",
    "curator.denoise.denoiser",
    "curator.fraud.defense",
    "curator.stages.adapt",
    "curator.stages.denoise",
    "curator.stages.profile",
    "curator.stages.train",
    "recsys",
]
LIBRARIES = ["torch", "sklearn", "transformers", "peft", "sentence_transformers", "datasets"]


def test_importing_curator_leaves_the_environment_and_hub_mode_as_they_were():
    # The libraries first: scikit-learn sets KMP_* variables of its own when imported; only curator's are checked.
    code = (
        "import importlib, json, os\n"
        f"for name in {LIBRARIES!r}:\n    importlib.import_module(name)\n"
        "before = dict(os.environ)\n"
        "import huggingface_hub.constants as hub\n"
        f"for name in {MODULES!r}:\n    importlib.import_module(name)\n"
        "print(json.dumps({'changed': sorted(k for k in {*before, *os.environ} if before.get(k) != os.environ.get(k)),"
        " 'offline': hub.HF_HUB_OFFLINE}))\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"changed": [], "offline": False}


@pytest.mark.parametrize("before", [None, "0"])
def test_offline_mode_holds_only_inside_the_loads(monkeypatch, before):
    from huggingface_hub import constants, is_offline_mode

    if before is None:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("HF_HUB_OFFLINE", before)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with offline_hub():
        assert os.environ["HF_HUB_OFFLINE"] == "1" and is_offline_mode()
    assert os.environ.get("HF_HUB_OFFLINE") == before and not is_offline_mode()
    with pytest.raises(RuntimeError), offline_hub():  # restored when the load fails too
        raise RuntimeError
    assert os.environ.get("HF_HUB_OFFLINE") == before and not is_offline_mode()


def test_no_curator_name_shadows_datasets_load_dataset():
    assert "load_dataset" not in dir(curator.data) and not hasattr(curator.data, "load_dataset")
    assert "read_dataset" in curator.data.__all__


def test_stages_run_from_python_with_configs_only(movielens, tmp_path):
    """inject then train, as a Python program would: no command line given; the manifest records the process's."""
    small = first_users(movielens, 40, tmp_path / "small")
    inject = stage_class("inject")(small, InjectConfig(noise=0.1, seed=3), tmp_path / "noisy")
    noisy = run_stage(inject).dataset()
    assert noisy.manifest["command"] == sys.argv
    assert noisy.manifest["parent"]["content_hash"] == small.content_hash
    assert read_dataset(tmp_path / "noisy").content_hash == noisy.content_hash

    options = TrainOptions(max_epochs=1, hidden=16, layers=1, max_len=20, device="cpu")
    summary = run_stage(stage_class("train")(noisy, options, tmp_path / "run")).summary
    assert summary["command"] == sys.argv and summary["data_hash"] == noisy.content_hash
