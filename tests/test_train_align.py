"""`curator train --align`: the text a run aligns with, read from a dataset folder, and what metrics.json records."""

import hashlib
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from test_profile_stage import HashEmbedder, run, small_dataset

from curator.data.sequences import user_sequences
from curator.errors import InputError, OptionError
from curator.profile.alignment import alignment_tables
from curator.run.stage import run_stage
from curator.stages.train import TrainStage
from curator.training import TrainOptions

from conftest import run_cli

TINY = {"max_epochs": 2, "patience": 2, "hidden": 8, "layers": 1, "max_len": 10, "device": "cpu"}


@pytest.fixture
def profiled(tmp_path):
    """The small dataset of test_profile_stage with profiles from its scripted engine (i3 never answers)."""
    run(small_dataset(tmp_path), tmp_path / "profiled")
    from curator.data.dataset import read_dataset

    return read_dataset(tmp_path / "profiled")


def test_profile_rows_follow_the_split_and_leave_out_what_has_no_valid_profile(profiled):
    data = user_sequences(profiled)
    tables = alignment_tables(profiled, data, "profiles", users=True, embed=None)
    items = pq.read_table(profiled.path / "profiles" / "items.parquet").to_pylist()
    vectors = {row["item_id"]: row["embedding"] for row in items if row["status"] != "failed"}
    rows, present = tables["items"]
    assert not present[0]  # padding
    for index, item in enumerate(data.item_ids, start=1):
        assert present[index] == (item in vectors)
        if item in vectors:
            np.testing.assert_allclose(rows[index], vectors[item])
    assert "i3" not in vectors and not present[data.item_ids.index("i3") + 1]  # its profile failed
    user_rows, user_present = tables["users"]
    assert user_present.all() and len(user_rows) == len(data.user_ids) == 3
    without_users = alignment_tables(profiled, data, "profiles", users=False, embed=None)
    assert set(without_users) == {"items"}


def test_raw_text_rows_embed_each_items_text_fields(profiled):
    data = user_sequences(profiled)
    embedder = HashEmbedder()
    rows, present = alignment_tables(profiled, data, "text", users=True, embed=embedder.embed)["items"]
    assert present[1:].all() and not present[0]
    index = data.item_ids.index("i1") + 1
    np.testing.assert_allclose(rows[index], embedder.embed(["Toy Story | Comedy"])[0])


def test_an_aligned_run_records_what_it_aligned_to(profiled, tmp_path):
    options = TrainOptions(seeds=[1], align="profiles", **TINY)
    summary = run_stage(TrainStage(profiled, options, tmp_path / "run")).summary
    record = summary["aligned_to"]
    file = profiled.path / "profiles" / "items.parquet"
    assert record["source"] == "profiles"
    assert record["items"]["hash"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert record["items"]["model"] == ["scripted"] and record["items"]["prompt_version"][0].startswith("item_profile/")
    assert record["items"]["profiles"] == 8 and record["items"]["valid"] == 7  # i3's profile failed
    assert record["users"]["valid"] == 3
    assert summary["options"]["align"] == "profiles"
    plain = run_stage(TrainStage(profiled, TrainOptions(seeds=[1], **TINY), tmp_path / "plain")).summary
    assert plain["aligned_to"] is None

    def first_loss(run_dir):
        return json.loads((run_dir / "seed-1" / "metrics.json").read_text())["history"][0]["loss"]

    assert first_loss(tmp_path / "run") != pytest.approx(first_loss(tmp_path / "plain"))  # the term is trained


def test_profiles_that_are_missing_or_options_out_of_range_are_clear_errors(tmp_path):
    plain = small_dataset(tmp_path)
    with pytest.raises(InputError, match="has no profiles/items.parquet"):
        run_stage(TrainStage(plain, TrainOptions(align="profiles", **TINY), tmp_path / "run"))
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()
    for wrong, message in (
        ({"align": "titles"}, "--align"),
        ({"align_kind": "mse"}, "--align-kind"),
        ({"align_weight": 0.0}, "--align-weight"),
    ):
        with pytest.raises(OptionError, match=message):
            TrainOptions(**wrong).validate()


@pytest.mark.e2e
def test_train_aligned_with_real_profiles_and_with_raw_text(movielens, tmp_path):
    small = ["--epochs", "2", "--patience", "2", "--hidden", "16", "--layers", "1", "--max-len", "20", "--seed", "1"]
    refused = run_cli("train", movielens.path, "--align", "profiles", "--out", tmp_path / "refused", *small)
    assert refused.exit_code == 2 and refused.output.count("error:") == 1 and "curator profile" in refused.output

    profiled = tmp_path / "profiled"
    made = run_cli(
        "profile", movielens.path, "--out", profiled, "--users", "1,2", "--recent", "3", "--max-new-tokens", "48"
    )
    assert made.exit_code == 0, made.output
    for align, kind in (("profiles", "con"), ("profiles", "gen"), ("text", "con")):
        out = tmp_path / f"{align}-{kind}"
        result = run_cli("train", profiled, "--align", align, "--align-kind", kind, "--out", out, *small)
        assert result.exit_code == 0, result.output
        summary = json.loads((out / "metrics.json").read_text())
        assert summary["options"]["align_kind"] == kind
        assert summary["test"]["HR@10"]["mean"] > 0.02  # still a recommender (random: ~0.006)
        record = summary["aligned_to"]
        if align == "profiles":
            assert record["items"]["model"][0].startswith("SmolLM2-135M-Instruct")
            assert record["users"]["profiles"] == 2
        else:
            assert record["items"]["embedding_model"] == "all-MiniLM-L6-v2" and "users" not in record


def test_a_pipeline_file_sets_the_alignment_of_its_train_section():
    from curator.pipeline.configs import train_options
    from curator.pipeline.spec import PipelineError, default_spec

    options = train_options(default_spec("movielens-100k", ["train.align=text", "train.align_weight=0.5"]))
    assert (options.align, options.align_kind, options.align_weight) == ("text", "con", 0.5)
    with pytest.raises(PipelineError, match="align"):
        train_options(default_spec("movielens-100k", ["train.align=titles"]))
