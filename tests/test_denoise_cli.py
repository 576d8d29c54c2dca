"""`curator adapt`, `curator denoise` and `curator evaluate` end to end through the CLI, on MovieLens-100K
with injected noise and a tiny random Llama saved as a model folder (the mechanics, not the quality:
benchmarks/denoise.py measures that with the real model)."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch

from curator.data.collaborative import training_interactions
from curator.data.dataset import read_dataset
from curator.data.ledger import apply_ledger, read_ledger, revert_ledger
from curator.data.splits import training_mask
from curator.denoise.budget import MIN_POSITIONS
from curator.denoise.calibration import MIN_STEP_POSITIONS
from curator.denoise.card import write_card
from curator.denoise.config import ITEM_TEXT_TOKENS
from curator.denoise.item_states import ItemEncoder, item_texts
from curator.denoise.noise_share import restate

from builders import first_users, retitled
from conftest import run_cli as run
from conftest import tiny_llama, tiny_tokenizer

USERS = 150  # a slice of MovieLens-100K keeps the CLI runs to seconds


@pytest.fixture(scope="module")
def setup(tmp_path_factory, movielens):
    root = tmp_path_factory.mktemp("denoise")
    tokenizer = tiny_tokenizer()
    tiny_llama(tokenizer).save_pretrained(root / "tiny")
    tokenizer.save_pretrained(root / "tiny")
    first_users(movielens, USERS, root / "ml-slice")
    assert (
        run(
            "inject",
            root / "ml-slice",
            "--noise",
            0.1,
            "--noise-dist",
            "popularity",
            "--seed",
            3,
            "--out",
            root / "noisy",
        ).exit_code
        == 0
    )
    result = run(
        "adapt",
        root / "noisy",
        "--model",
        root / "tiny",
        "--max-steps",
        3,
        "--users-per-step",
        4,
        "--id-steps",
        5,
        "--out",
        root / "adapter",
    )
    assert result.exit_code == 0, result.output
    return root


def denoise(setup, out, *options):
    return run(
        "denoise",
        setup / "noisy",
        "--model",
        setup / "tiny",
        "--adapter",
        setup / "adapter",
        "--out",
        setup / out,
        *options,
    )


def test_adapt_writes_a_peft_adapter_with_a_card(setup):
    adapter = setup / "adapter"
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "denoiser_head.safetensors",
        "denoiser.json",
        "id_model.safetensors",
        "id_model.json",
        "catalog.json",
        "README.md",
    ):
        assert (adapter / name).is_file(), name
    meta = json.loads((adapter / "denoiser.json").read_text())
    assert meta["steps"] == 3 and meta["quant"] == "none" and meta["calibration"]["method"] == "isotonic"
    assert meta["adapt"]["noise_dist"] == "mixed"
    assert meta["calibration"]["min_step_positions"] == MIN_STEP_POSITIONS
    assert meta["users"]["train"] > meta["users"]["calibrate"] > 0
    assert 0.0 <= meta["heldout"]["auroc"] <= 1.0
    card = (adapter / "README.md").read_text()
    assert "| AUROC |" in card and "items drawn by popularity; `--noise-dist mixed`" in card
    assert "ID model part: yes" in card and "s the whole command) |" in card
    assert f"every step on at least {MIN_STEP_POSITIONS} calibration positions" in card
    assert meta["users_per_step"] == 4 and "| budget | 3 steps x 4 users," in card
    meta["adapt"]["noise_dist"] = "uniform"  # the card says what the held-out swaps were drawn from
    write_card(setup / "uniform-card.md", meta)
    assert "items drawn uniformly; `--noise-dist uniform`" in (setup / "uniform-card.md").read_text()
    assert not (setup / "adapter.partial").exists()
    log = (adapter / "adapt.log").read_text().splitlines()  # progress as plain lines, kept from OUT.partial
    id_steps = [line for line in log if " ID model steps: " in line]  # a slow machine logs lines in between
    assert id_steps[0].endswith("ID model steps: 0/10") and id_steps[-1].endswith("ID model steps: 10/10")
    assert any(" adapt steps: 3/3 loss " in line for line in log)


def test_the_time_budget_covers_the_whole_command(setup):
    """With no time at all, every phase that can be cut is: the ID model and the training steps stop after
    what they must do, the ranker and its report use their minimum of positions; the adapter is still whole."""
    out = setup / "budgeted"
    options = ("--max-steps", 40, "--users-per-step", 4, "--id-steps", 40, "--time-budget", 0.001)
    result = run("adapt", setup / "noisy", "--model", setup / "tiny", *options, "--out", out)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "denoiser.json").read_text())
    assert meta["steps"] == 0 and meta["command_seconds"] > 0.001 and meta["calibration"] is not None
    assert meta["heldout"]["replacement"]["count"] == MIN_POSITIONS
    log = (out / "adapt.log").read_text()
    assert "ID model steps: 2/80" in log  # one step of each fold model, then its share was spent


def test_adapt_writes_its_learning_curve_as_tensorboard_events(setup):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    meta = json.loads((setup / "adapter" / "denoiser.json").read_text())
    events = EventAccumulator(str(setup / "adapter" / "tensorboard"))
    events.Reload()
    loss = {e.step: e.value for e in events.Scalars("train/loss")}
    assert loss == pytest.approx({point["step"]: point["loss"] for point in meta["curve"]})
    assert [e.value for e in events.Scalars("heldout/auroc")] == pytest.approx([meta["heldout"]["auroc"]])


def test_the_adapter_loads_with_peft_own_loader_and_its_card_has_hub_metadata(setup):
    """Another program needs only peft: AutoPeftModelForCausalLM finds the base from adapter_config.json and gives
    the outputs curator's own loading gives; the card's YAML names the same base."""
    import yaml
    from peft import AutoPeftModelForCausalLM, get_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from curator.llm.adapters import attach_adapters

    adapter = setup / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str((setup / "tiny").resolve())
    meta = json.loads((adapter / "denoiser.json").read_text())
    assert meta["base_model_source"] == {"name_or_path": str((setup / "tiny").resolve()), "revision": None}

    theirs = AutoPeftModelForCausalLM.from_pretrained(str(adapter)).eval()
    ours, _ = attach_adapters(AutoModelForCausalLM.from_pretrained(setup / "tiny"), [str(adapter)])
    ids = torch.tensor([[1, 5, 9, 12, 3]])
    with torch.no_grad():
        torch.testing.assert_close(theirs(input_ids=ids).logits, ours(input_ids=ids).logits)
    saved, loaded = load_file(adapter / "adapter_model.safetensors"), get_peft_model_state_dict(theirs)
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)  # the LoRA too

    card = (adapter / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["base_model"] == config["base_model_name_or_path"] and header["library_name"] == "peft"
    assert "denoise" in header["tags"] and "denoiser_head.safetensors" in card


def test_denoise_edits_only_confident_training_interactions_and_the_ledger_inverts(setup):
    result = denoise(setup, "clean", "--threshold", 0.0, "--max-edits", 2, "--replace-threshold", 0.0)
    assert result.exit_code == 0, result.output
    noisy, clean = read_dataset(setup / "noisy"), read_dataset(setup / "clean")
    scores = pq.read_table(setup / "clean" / "scores.parquet")
    train = training_interactions(noisy)
    assert len(scores) == len(train.rows)  # one row per training interaction, none for held-out targets
    assert scores["score"].to_numpy().min() >= 0 and scores["score"].to_numpy().max() <= 1

    ledger = read_ledger(clean)
    per_user = pc.value_counts(ledger["user_id"]).field("counts").to_numpy()
    assert per_user.max() == 2  # --max-edits
    assert set(ledger["action"].to_pylist()) == {"replace"}  # confidence >= 0 always replaces
    # The edited positions are each user's two highest scores.
    edited = set(zip(ledger["user_id"].to_pylist(), ledger["position"].to_pylist()))
    top = scores.to_pandas().sort_values(["user_id", "score", "position"], ascending=[True, False, True])
    assert edited == set(top.groupby("user_id").head(2)[["user_id", "position"]].itertuples(index=False, name=None))
    new_items = ledger["new_item"].to_pylist()
    assert all(item is not None for item in new_items)
    # Only training interactions are edited (never a validation or test target), and input + ledger ==
    # output, output - ledger == input.
    is_training = training_mask(noisy.interactions)
    training = {
        key
        for key, train in zip(
            zip(noisy.interactions["user_id"].to_pylist(), noisy.interactions["position"].to_pylist()), is_training
        )
        if train
    }
    assert edited <= training
    assert apply_ledger(noisy.tables, ledger).content_hash() == clean.tables.content_hash()
    assert revert_ledger(clean.tables, ledger).content_hash() == noisy.tables.content_hash()


def test_shards_give_the_same_ledger_as_one_run(setup):
    assert denoise(setup, "one", "--threshold", 0.05, "--max-edits", 1).exit_code == 0
    first = denoise(setup, "sharded", "--threshold", 0.05, "--max-edits", 1, "--shard", "1/2")
    assert first.exit_code == 0 and "chunks are complete" in first.output
    assert not (setup / "sharded").exists()
    assert denoise(setup, "sharded", "--threshold", 0.05, "--max-edits", 1, "--shard", "2/2").exit_code == 0
    one, sharded = (read_ledger(read_dataset(setup / name)) for name in ("one", "sharded"))
    assert one.equals(sharded)
    assert not (setup / "sharded.partial").exists()


def test_the_score_file_is_streamed_in_whole_row_groups_to_the_same_table(setup, monkeypatch):
    assert denoise(setup, "row-groups-whole", "--threshold", 0.05, "--max-edits", 1).exit_code == 0
    monkeypatch.setattr("curator.denoise.cleaning.ROW_GROUP", 1000)  # 150 users' ~15k rows: several groups
    assert denoise(setup, "row-groups-1000", "--threshold", 0.05, "--max-edits", 1).exit_code == 0
    whole, streamed = (
        pq.ParquetFile(setup / name / "scores.parquet") for name in ("row-groups-whole", "row-groups-1000")
    )
    rows = whole.metadata.num_rows
    assert rows > 3 * 1000 and whole.metadata.num_row_groups == 1
    sizes = [streamed.metadata.row_group(k).num_rows for k in range(streamed.metadata.num_row_groups)]
    assert sizes == [1000] * (rows // 1000) + ([rows % 1000] if rows % 1000 else [])
    assert streamed.read().equals(whole.read()) and streamed.schema_arrow.metadata == whole.schema_arrow.metadata
    assert read_ledger(read_dataset(setup / "row-groups-1000")).equals(
        read_ledger(read_dataset(setup / "row-groups-whole"))
    )


def test_a_finished_denoise_run_again_is_a_no_op(setup):
    assert denoise(setup, "again", "--threshold", 0.05, "--max-edits", 1).exit_code == 0
    written = (setup / "again" / "scores.parquet").stat().st_mtime_ns
    again = denoise(setup, "again", "--threshold", 0.05, "--max-edits", 1)
    assert again.exit_code == 0 and "already holds this denoising: nothing to do" in again.output
    assert "wrote" in again.output and (setup / "again" / "scores.parquet").stat().st_mtime_ns == written
    other = denoise(setup, "again", "--threshold", 0.5, "--max-edits", 1)  # other options: other work
    assert other.exit_code == 2 and "already exists" in other.output


def test_p_is_restated_at_the_share_of_noise_estimated_or_given(setup):
    assert denoise(setup, "auto", "--threshold", 0.03, "--max-edits", 2).exit_code == 0
    given = denoise(setup, "given", "--threshold", 0.03, "--max-edits", 2, "--noise-share", 0.02)
    assert given.exit_code == 0 and "p at 2.0% noise (given;" in given.output
    share = read_dataset(setup / "auto").manifest["config"]["share_of_noise"]
    fitted = json.loads((setup / "adapter" / "denoiser.json").read_text())["calibration"]["share"]
    assert share["estimated"] and share["fitted"] == fitted and 0 < share["used"] <= fitted
    auto, restated = (pq.read_table(setup / name / "scores.parquet")["score"].to_numpy() for name in ("auto", "given"))
    np.testing.assert_allclose(restate(auto, share["used"], 0.02), restated)
    ledger = read_ledger(read_dataset(setup / "given"))  # the decisions follow the restated p
    assert len(ledger) > 0 and ledger["score"].to_numpy().min() >= 0.03
    # p stated at the higher of the two shares reaches the threshold more often
    assert (len(read_ledger(read_dataset(setup / "auto"))) < len(ledger)) == (share["used"] < 0.02)


def evaluate(setup, denoised: str, baselines: str, *options):
    """`curator evaluate` of SETUP/DENOISED against the noisy data's labels, into SETUP/report."""
    return run("evaluate", setup / denoised, "--labels", setup / "noisy", "--report", setup / "report",
               "--baselines", baselines, *options)  # fmt: skip


def test_evaluate_reports_the_denoiser_and_the_baselines(setup):
    assert denoise(setup, "evaluated", "--threshold", 0.2, "--max-edits", 1).exit_code == 0
    three = "random,least-popular,cooccurrence-window"
    result = evaluate(setup, "evaluated", three)
    assert result.exit_code == 0, result.output
    report = json.loads((setup / "report" / "report.json").read_text())
    assert set(report["baselines"]) == {"random", "least-popular", "cooccurrence-window"}
    assert report["denoiser"]["positives"] == len(pq.read_table(setup / "noisy" / "labels" / "noise.parquet"))
    assert (setup / "report" / "reliability.png").stat().st_size > 0

    again = evaluate(setup, "evaluated", three)
    assert again.exit_code == 0 and "already holds this report: nothing to do" in again.output
    refused = evaluate(setup, "evaluated", "random")  # an existing report folder is replaced only on request
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    assert evaluate(setup, "evaluated", "random", "--overwrite").exit_code == 0
    assert set(json.loads((setup / "report" / "report.json").read_text())["baselines"]) == {"random"}
    # Other scores on the same tables (the dataset's content hash) are other work, not a no-op.
    shutil.copytree(setup / "evaluated", setup / "rescored")
    scores = pq.read_table(setup / "rescored" / "scores.parquet")
    flipped = scores.set_column(scores.schema.get_field_index("score"), "score", pc.subtract(1.0, scores["score"]))
    pq.write_table(flipped, setup / "rescored" / "scores.parquet")
    rescored = evaluate(setup, "rescored", "random")
    assert rescored.exit_code == 2 and "--overwrite" in rescored.output


@pytest.mark.parametrize(
    "options,message",
    [
        (("--threshold", 1.5), "--threshold 1.5 is not a probability"),
        (("--replace-threshold", -0.1), "--replace-threshold -0.1 is not a probability"),
        (("--max-edits", 0), "--max-edits 0"),
        (("--shard", "3/2"), "--shard takes K/N"),
        (("--noise-share", "lots"), "--noise-share lots: give auto or a share in (0, 1)"),
        (("--noise-share", 1), "--noise-share 1: a share of noise is in (0, 1)"),
    ],
)
def test_bad_options_exit_2(setup, options, message):
    result = denoise(setup, "bad", *options)
    assert result.exit_code == 2 and message in result.output
    assert not (setup / "bad").exists()


@pytest.mark.parametrize(
    "options,message",
    [
        (("--factor-rank", 0), "--factor-rank 0"),
        (("--noise-dist", "zipf"), "Invalid value for '--noise-dist'"),  # refused by click: a choice
        (("--task", "recommend"), "Invalid value for '--task'"),
        (("--positions-per-step", 0), "--positions-per-step 0"),
        (("--users-per-step", 0), "--users-per-step 0"),
        (("--item-text", "profiles"), "noisy has no profiles/items.parquet: write them with `curator profile"),
        (("--item-text", "profiles", "--no-llm"), "--item-text profiles is read by the LLM part"),
    ],
)
def test_bad_adapt_options_exit_2(setup, options, message):
    result = run("adapt", setup / "noisy", "--model", setup / "tiny", *options, "--out", setup / "bad-adapter")
    assert result.exit_code == 2 and message in result.output
    assert not (setup / "bad-adapter").exists()


def test_steps_hold_a_fixed_number_of_positions_unless_users_are_given(movielens):
    from curator.denoise.config import AdaptConfig
    from curator.denoise.training import split_users, users_per_step

    sequences = training_interactions(movielens).sequences()
    fit_users = split_users(sequences, AdaptConfig())[0]
    assert users_per_step(AdaptConfig(), sequences, fit_users) == 8  # the shipped adapter's batch, by default
    windows = [s[-8:] for s in sequences]  # short sequences: more users make up the same positions
    assert users_per_step(AdaptConfig(), windows, fit_users) == 100  # 800 positions / 8 items
    assert users_per_step(AdaptConfig(users_per_step=64), windows, fit_users) == 64
    assert users_per_step(AdaptConfig(positions_per_step=10**6), windows, fit_users) == len(fit_users)


def test_unknown_adapter_and_evaluate_without_labels_exit_2(setup):
    result = run("denoise", setup / "noisy", "--adapter", "no-such-adapter", "--out", setup / "x")
    assert result.exit_code == 2 and "no-such-adapter" in result.output
    assert denoise(setup, "from-slice", "--threshold", 0.99).exit_code == 0
    result = run("evaluate", setup / "from-slice", "--labels", setup / "ml-slice", "--report", setup / "r")
    assert result.exit_code == 2 and "was not made from" in result.output
    result = run(
        "evaluate", setup / "from-slice", "--labels", setup / "noisy", "--report", setup / "r", "--baselines", "oracle"
    )
    assert result.exit_code == 2 and "unknown baseline 'oracle'" in result.output
    assert not (setup / "r").exists()


class StopAt:
    """Progress that kills the run (KeyboardInterrupt) after `steps` training steps, and records where
    each task started."""

    def __init__(self, steps=None):
        self.steps, self.done, self.started = steps, 0, {}

    def start(self, task, total, done=0):
        self.started[task] = done

    def advance(self, task, amount=1, note="", counted=None):
        if task == "adapt steps":
            self.done += amount
            if self.done == self.steps:
                raise KeyboardInterrupt

    def log(self, line):
        pass


def test_a_killed_adapt_resumes_to_the_same_adapter(setup):
    from safetensors.torch import load_file

    from curator.denoise.config import AdaptConfig, IdModelConfig
    from curator.llm.config import EngineConfig
    from curator.run.stage import run_stage
    from curator.stages.adapt import AdaptStage

    noisy = read_dataset(setup / "noisy")
    config = AdaptConfig(
        max_steps=24, warmup_steps=18, users_per_step=3, ranker_positions=50, seed=4, id_model=IdModelConfig(steps=5)
    )
    engine = EngineConfig(model=str(setup / "tiny"))
    run_stage(AdaptStage(noisy, config, setup / "straight", engine))
    with pytest.raises(KeyboardInterrupt):
        run_stage(AdaptStage(noisy, config, setup / "resumed", engine), progress=StopAt(21))
    assert (setup / "resumed.partial" / "checkpoint.pt").is_file() and not (setup / "resumed").exists()
    resumed = StopAt()
    run_stage(AdaptStage(noisy, config, setup / "resumed", engine), resume=True, progress=resumed)
    assert resumed.started["adapt steps"] == 20  # from the last checkpoint, not from scratch
    for name in ("denoiser_head.safetensors", "adapter_model.safetensors"):
        straight, resumed = (load_file(setup / run / name) for run in ("straight", "resumed"))
        assert straight.keys() == resumed.keys()
        assert all(torch.allclose(straight[k], resumed[k]) for k in straight), name


@pytest.mark.parametrize("killed_in", ["users", "decisions"])
def test_a_killed_denoise_resumes_to_the_same_output(setup, killed_in):
    from curator.denoise.config import DenoiseConfig
    from curator.llm.config import EngineConfig
    from curator.run.stage import run_stage
    from curator.stages.denoise import DenoiseStage

    noisy = read_dataset(setup / "noisy")
    config = DenoiseConfig(threshold=0.05, max_edits=2, adapter=str(setup / "adapter"))
    engine = EngineConfig(model=str(setup / "tiny"), quant="none")
    straight = run_stage(DenoiseStage(noisy, config, setup / f"d-straight-{killed_in}", engine)).dataset()

    class KillAfterFirstChunk(StopAt):
        def advance(self, task, amount=1, note=""):
            if task == killed_in:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stage(DenoiseStage(noisy, config, setup / f"d-resumed-{killed_in}", engine), progress=KillAfterFirstChunk())
    chunks = setup / f"d-resumed-{killed_in}.partial" / {"users": "scores", "decisions": "decisions"}[killed_in]
    assert len(list(chunks.glob("chunk-*.parquet"))) == 1
    progress = StopAt()
    resumed = run_stage(
        DenoiseStage(noisy, config, setup / f"d-resumed-{killed_in}", engine), resume=True, progress=progress
    ).dataset()
    assert progress.started[killed_in] == 64  # the first chunk was not scored (or decided) again
    if killed_in == "decisions":
        assert progress.started["users"] == USERS  # every user was scored before the kill
    assert "item vectors" not in progress.started  # nor the catalog encoded again (the vector cache)
    assert read_ledger(resumed).equals(read_ledger(straight))
    assert pq.read_table(resumed.path / "scores.parquet").equals(pq.read_table(straight.path / "scores.parquet"))


def test_replacements_never_repeat_an_item_of_the_users_whole_sequence(setup):
    assert denoise(setup, "replaced", "--threshold", 0.0, "--max-edits", 3, "--replace-threshold", 0.0).exit_code == 0
    noisy = read_dataset(setup / "noisy")
    ledger = read_ledger(read_dataset(setup / "replaced"))
    whole = {}
    for user, item in zip(noisy.interactions["user_id"].to_pylist(), noisy.interactions["item_id"].to_pylist()):
        whole.setdefault(user, set()).add(item)
    new_items = list(zip(ledger["user_id"].to_pylist(), ledger["new_item"].to_pylist()))
    assert new_items and all(item not in whole[user] for user, item in new_items)  # held-out targets included
    assert len(set(new_items)) == len(new_items)


def test_the_denoiser_as_a_user_signal_is_the_mean_and_max_of_its_scores(setup):
    from curator.data.dataset import Dataset
    from curator.errors import InputError
    from curator.fraud.denoiser_signal import DenoiserSignal
    from curator.fraud.simulate import with_simulated_attack
    from curator.llm.config import EngineConfig

    noisy = read_dataset(setup / "noisy")
    # p at the share the adapter was calibrated on: the signal reads the data and its copies on one scale
    fitted = json.loads((setup / "adapter" / "denoiser.json").read_text())["calibration"]["share"]
    assert denoise(setup, "signal-scores", "--threshold", 1.0, "--noise-share", fitted).exit_code == 0
    scores = pq.read_table(setup / "signal-scores" / "scores.parquet").to_pandas()
    per_user = scores.groupby("user_id", sort=False)["score"].agg(["mean", "max"])

    signal = DenoiserSignal(noisy, str(setup / "adapter"), EngineConfig(model=str(setup / "tiny"), quant="none"))
    columns = signal(noisy)
    users = noisy.users["user_id"].to_pylist()
    # equal up to float rounding: the item vectors are batched differently (every item vs the held ones)
    assert columns["denoiser_noise_mean"] == pytest.approx(per_user["mean"].reindex(users).to_numpy(), abs=1e-5)
    assert columns["denoiser_noise_max"] == pytest.approx(per_user["max"].reindex(users).to_numpy(), abs=1e-5)

    # a copy with simulated fakes (the calibrator's training data) is scored on the same catalog
    copy, is_fake = with_simulated_attack(noisy, "random", 0.05, 2, np.random.default_rng(0))
    assert len(signal(copy)["denoiser_noise_max"]) == len(is_fake)
    other_catalog = Dataset(
        path=noisy.path,
        interactions=noisy.interactions,
        items=noisy.items.slice(1),
        users=noisy.users,
        manifest={"name": "other", "content_hash": None},
    )
    with pytest.raises(InputError):
        signal(other_catalog)


def test_defend_reads_the_denoiser_signal_through_the_cli(setup):
    result = run(
        "defend",
        setup / "noisy",
        "--denoiser",
        setup / "adapter",
        "--model",
        setup / "tiny",
        "--simulate",
        "random",
        "--budgets",
        "0.05",
        "--no-text",
        "--out",
        setup / "defended",
    )
    assert result.exit_code == 0, result.output
    scores = pq.read_table(setup / "defended" / "user_scores.parquet")
    assert {"denoiser_noise_mean", "denoiser_noise_max", "signal_distance"} <= set(scores.column_names)
    assert pc.min(scores["denoiser_noise_max"]).as_py() >= 0 and pc.max(scores["denoiser_noise_max"]).as_py() <= 1


def test_when_little_reaches_the_threshold_denoise_says_what_lower_ones_would_do(setup):
    result = denoise(setup, "unreached", "--threshold", 1.0, "--max-edits", 2)
    assert result.exit_code == 0, result.output
    p = pq.read_table(setup / "unreached" / "scores.parquet").to_pandas()
    config = read_dataset(setup / "unreached").manifest["config"]
    outlook = config["outlook"]
    # The adapter was trained on this very data: its catalog, so p is calibrated.
    assert config["adapter_catalog"] == {"item_overlap": 1.0, "foreign": False, "calibrated": True}
    assert pq.read_table(setup / "unreached" / "scores.parquet").schema.metadata[b"p"] == b"calibrated"
    assert outlook["highest_p"] == round(p["score"].max(), 4)
    assert f"nothing reaches --threshold 1: highest p {p['score'].max():.2f}" in result.output
    # Expected precision at a threshold: the mean p of what the gate would edit there, two per user at most.
    edited = p[p["score"] >= 0.05].sort_values("score", ascending=False).groupby("user_id").head(2)
    assert denoise(setup, "lower", "--threshold", 0.05, "--max-edits", 2).exit_code == 0
    assert len(read_ledger(read_dataset(setup / "lower"))) == len(edited)
    for threshold, at in outlook["at"].items():
        taken = p[p["score"] >= float(threshold)].sort_values("score", ascending=False).groupby("user_id").head(2)
        assert at["edits"] == len(taken)
        assert at["expected_precision"] == (round(taken["score"].mean(), 4) if len(taken) else None)
        if at["edits"]:
            assert f"at {threshold}: ~{at['edits']} edits at expected precision" in result.output


def test_an_adapter_of_another_catalog_is_refused_unless_allowed(setup):
    retitled(read_dataset(setup / "noisy"), setup / "foreign")
    options = ("--model", setup / "tiny", "--adapter", setup / "adapter", "--threshold", 0.3)
    refused = run("denoise", setup / "foreign", *options, "--out", setup / "foreign-clean")
    assert refused.exit_code == 2 and "another catalog: 0% of foreign's items" in refused.output
    assert "`curator adapt" in refused.output and not (setup / "foreign-clean").exists()
    allowed = run("denoise", setup / "foreign", *options, "--allow-foreign-adapter", "--out", setup / "foreign-clean")
    assert allowed.exit_code == 0, allowed.output
    assert "p is uncalibrated here" in allowed.output
    manifest = read_dataset(setup / "foreign-clean").manifest["config"]["adapter_catalog"]
    assert manifest == {"item_overlap": 0.0, "foreign": True, "calibrated": False}
    scores = pq.read_table(setup / "foreign-clean" / "scores.parquet")
    assert scores.schema.metadata[b"p"] == b"uncalibrated (foreign adapter)"


def with_item_profiles(setup, out):
    """The noisy slice with a profiles/items.parquet: every item's summary, but item 1's profile failed."""
    shutil.copytree(setup / "noisy", setup / out)
    items = read_dataset(setup / out).items["item_id"].to_pylist()
    rows = [{"item_id": item, "status": "ok", "summary": f"About {item}."} for item in items]
    rows[items.index("1")] = {"item_id": "1", "status": "failed", "summary": None}
    (setup / out / "profiles").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), setup / out / "profiles" / "items.parquet")
    return read_dataset(setup / out)


def test_the_llm_part_can_read_item_profiles_and_the_adapter_asks_for_them(setup):
    profiled = with_item_profiles(setup, "noisy-profiled")
    texts = dict(zip(profiled.items["item_id"].to_pylist(), item_texts(profiled, "profiles")))
    fields = dict(zip(profiled.items["item_id"].to_pylist(), item_texts(profiled)))
    assert texts["50"] == "Star Wars | About 50." and fields["50"].startswith("Star Wars | 1977 | Action")
    assert texts["1"] == fields["1"]  # no valid profile: its fields
    tokenizer = tiny_tokenizer()
    long = ItemEncoder(tiny_llama(tokenizer), tokenizer, 1, ITEM_TEXT_TOKENS["profiles"]).trunk(["word " * 100])
    assert long.hidden.shape[1] == ITEM_TEXT_TOKENS["profiles"] == 64 and long.mask.all()

    options = ("--model", setup / "tiny", "--max-steps", 3, "--users-per-step", 4, "--id-steps", 5)
    made = run("adapt", profiled.path, *options, "--item-text", "profiles", "--out", setup / "profile-adapter")
    assert made.exit_code == 0, made.output
    assert json.loads((setup / "profile-adapter" / "denoiser.json").read_text())["config"]["item_text"] == "profiles"
    assert "LLM part: yes, reading item profiles" in (setup / "profile-adapter" / "README.md").read_text()
    denoise_options = ("--model", setup / "tiny", "--adapter", setup / "profile-adapter", "--threshold", 0.3)
    read = run("denoise", profiled.path, *denoise_options, "--out", setup / "profile-clean")
    assert read.exit_code == 0, read.output
    refused = run("denoise", setup / "noisy", *denoise_options, "--out", setup / "profile-refused")
    assert refused.exit_code == 2 and "the adapter reads item profiles (--item-text profiles)" in refused.output
    assert not (setup / "profile-refused").exists()
