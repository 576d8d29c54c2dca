"""How the command line behaves for a person and a log: fast start-up without torch, numpy or pyarrow, -h and
--version, choices refused by click, plain progress lines and full-width tables when the output is not a terminal,
values printed by their kind, and no library noise the user cannot act on."""

import io
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import curator
from curator.cli import app
from curator.cli.evaluate import _detection_table
from curator.cli.progress import CliProgress, PlainSchedule
from curator.denoise.config import NOISE_MIXES, TASKS
from curator.fraud.config import FRAUD_ACTIONS
from curator.inject.config import ATTACKS, NOISE_DISTRIBUTIONS

from conftest import run_cli as run
from conftest import tiny_llama, tiny_tokenizer

HEAVY = ("torch", "sklearn", "transformers", "peft", "scipy", "matplotlib", "numpy", "pyarrow")


def modules_loaded_by(*args: str) -> set[str]:
    """The heavy modules a `curator ARGS...` process has imported when it ends (help, errors included)."""
    code = (
        "import sys\n"
        "from curator.cli import main\n"
        f"sys.argv = ['curator', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', *sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("LOADED"), done.stdout + done.stderr
    return set(last.split()[1:])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["train", "--help"],
        ["data", "import", "x.csv", "--fromat", "csv", "--out", "y"],  # a typo in an option's name
        ["inject", "x", "--out", "y", "--attack", "sybil"],  # a value that is not a choice
        ["adapt", "x", "--out", "y", "--max-steps", "0"],  # an option the command checks before loading anything
    ],
)
def test_help_and_early_errors_load_no_torch_numpy_or_pyarrow(args):
    assert modules_loaded_by(*args) == set()


def test_short_help_and_version():
    assert run("-h").exit_code == 0 and "Usage: " in run("-h").output and "Commands" in run("-h").output
    assert "--patience" in run("train", "-h").output  # -h on every command
    result = run("--version")
    assert result.exit_code == 0 and result.output.strip() == f"curator {curator.__version__}"


@pytest.mark.parametrize(
    "command, option, values",
    [
        ("inject", "--noise-dist", NOISE_DISTRIBUTIONS),
        ("inject", "--attack", ATTACKS),
        ("defend", "--fraud-action", FRAUD_ACTIONS),
        ("adapt", "--task", TASKS),
        ("adapt", "--noise-dist", tuple(NOISE_MIXES)),
    ],
)
def test_options_with_a_fixed_set_of_values_are_the_librarys_choices(command, option, values):
    help = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "300"}).output
    assert f"<{'|'.join(values)}>" in next(line for line in help.splitlines() if line.split()[1:2] == [option])
    refused = run(command, "x", "--out", "y", option, "nonsense")
    assert refused.exit_code == 2 and f"Invalid value for '{option}'" in refused.output


def table_rows(text: str) -> list[list[str]]:
    """The body rows of a rich table as printed, each a list of its cells' text."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_without_a_terminal_progress_prints_a_plain_line_every_tenth_at_most_every_few_seconds(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("curator.cli.progress.time.monotonic", clock)
    out = io.StringIO()
    progress = CliProgress(Console(file=out, width=200), None, PlainSchedule(step=0.1, min_seconds=5, max_seconds=30))
    progress.start("users", total=100)
    for _ in range(100):  # one user a second
        clock.now += 1
        progress.advance("users", counted={"tokens": 10})
    lines = out.getvalue().splitlines()
    assert len(lines) == 10  # 10%, 20%, ..., 90% and the end
    assert lines[0] == "users: 10/100 (10%), 1.00/s, 10.00 tokens/s, ETA 0:01:30"
    assert lines[-1] == "users: 100/100 (100%), 1.00/s, 10.00 tokens/s, done in 0:01:40"

    out.truncate(0), out.seek(0)
    progress.start("slow", total=1000, done=500)  # resumed half-way: the rate is this process's own
    for _ in range(4):
        clock.now += 20  # one step every 20 s: a line at least every 30 s
        progress.advance("slow", note="loss 0.5")
    progress.log("epoch 1: loss 0.5")
    assert out.getvalue().splitlines() == [
        "slow: 502/1,000 (50%), 0.05/s, ETA 2:46:00  loss 0.5",
        "slow: 504/1,000 (50%), 0.05/s, ETA 2:45:20  loss 0.5",
        "epoch 1: loss 0.5",
    ]


def test_a_command_whose_output_goes_to_a_pipe_prints_plain_progress_lines(tmp_path):
    source = tmp_path / "seq.txt"
    source.write_text("".join(f"{u} {(u * 7 + k) % 40}\n" for u in range(30) for k in range(8)))  # `user item`
    assert run("data", "import", source, "--format", "sequence", "--out", tmp_path / "data").exit_code == 0
    small = ["--epochs", "1", "--hidden", "8", "--layers", "1", "--max-len", "5", "--batch-size", "8"]
    result = run("train", tmp_path / "data", "--out", tmp_path / "run", *small)
    assert result.exit_code == 0, result.output
    progress = result.stderr.splitlines()
    assert "seed 0 train: 4/4 (100%)" in progress[0] and "/s, done in 0:00:0" in progress[0]
    assert any(line.startswith("seed 0 epoch 1: loss ") for line in progress)
    assert not any(mark in result.stderr for mark in ("━", "\r", "\x1b["))  # no live bar, no cursor moves


def test_data_info_prints_values_by_kind_and_tables_at_full_width(movielens):
    result = run("data", "info", movielens.path)
    assert result.exit_code == 0, result.output
    rows = dict(table_rows(result.stdout))
    assert rows["interactions"] == "100,000"
    assert rows["sequence length median"] == "65" and rows["sequence length mean"] == "106.0"
    assert rows["timestamp min"] == "1997-09-20 03:05 UTC" and rows["timestamp max"] == "1998-04-22 23:10 UTC"
    assert rows["sparsity"] == "93.70%" and rows["ties share"] == "50.56%"
    assert rows["content hash"] == movielens.content_hash  # not cut at 80 columns
    assert rows["extras"] == "–"


def test_data_info_prints_positions_where_a_dataset_has_no_times(tmp_path):
    source = tmp_path / "seq.txt"
    source.write_text("1 5\n1 6\n1 7\n2 5\n2 8\n2 9\n")
    assert run("data", "import", source, "--format", "sequence", "--out", tmp_path / "data").exit_code == 0
    output = run("data", "info", tmp_path / "data").stdout
    assert dict(table_rows(output))["timestamp max"] == "5"  # the last row's place in the file, not a date in 1970


def test_evaluate_compares_thresholds_and_calibration_only_where_scores_are_probabilities():
    def report(auroc, precision, flagged):
        at = {"precision": precision, "recall": 0.25, "f1": 0.3, "flagged": flagged}
        return {"auroc": auroc, "ece": 0.05, "thresholds": {"0.5": at, "0.9": {**at, "flagged": 0}}}

    summary = {"denoiser": report(0.8, 0.6, 12), "baselines": {"least-popular": report(0.7, 0.0, 40)}}
    out = io.StringIO()
    Console(file=out, width=200).print(_detection_table(summary))
    rows = {cells[0]: cells[1:] for cells in table_rows(out.getvalue())}
    assert rows["denoiser"] == ["0.800", "0.60/0.25/0.30", "–/0.25/0.30", "0.050"]  # "–": nothing flagged at 0.9
    assert rows["least-popular"] == ["0.700", "", "", ""]  # ranks: only AUROC compares


def test_library_noise_is_silenced_when_adapters_are_made_and_attached(tmp_path):
    from peft import LoraConfig, get_peft_model

    from curator.llm.adapters import attach_adapters, peft_quietly

    tokenizer = tiny_tokenizer()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with peft_quietly():
            model = get_peft_model(tiny_llama(tokenizer), LoraConfig(r=2, target_modules=["q_proj"]))
        model.peft_config["default"].base_model_name_or_path = "a display name, not a folder"
        model.save_pretrained(tmp_path / "adapter", save_embedding_layers=False)  # as curator.denoise saves it
        attach_adapters(tiny_llama(tokenizer), [str(tmp_path / "adapter")])
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "is_gradient_checkpointing" in m or "Could not find a config file" in m]


def test_the_gguf_conversion_draws_no_bar_of_its_own(capsys):
    from transformers import modeling_gguf_pytorch_utils as gguf_reading

    from curator.llm.models import _no_gguf_bar

    bar = gguf_reading.tqdm
    with _no_gguf_bar():
        assert list(gguf_reading.tqdm(range(3), desc="Converting")) == [0, 1, 2]
    assert "Converting" not in capsys.readouterr().err
    assert gguf_reading.tqdm is bar  # put back


WINDOWS = (
    "user_id,item_ids,mask,item_titles,replaced_item_titles,timestamp\n"
    + '7,"[1, 2]","[0, 0]","[\'A\', \'B\']",[],100\n'
)


def llm4dsr_windows(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for split in ("train_5000", "valid", "test"):
        (folder / f"clean_{split}.csv").write_text(WINDOWS)
    return folder


@pytest.mark.parametrize("titles", ["clean_id2name.json", "id2name.json", "id2name4Rec.json"])
def test_llm4dsr_takes_the_title_map_by_the_names_it_goes_by(tmp_path, titles):
    folder = llm4dsr_windows(tmp_path / "in")
    (folder / titles).write_text('{"1": "Apple &amp; Pear", "2": "Banana"}')
    result = run("data", "import", folder, "--format", "llm4dsr", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert Path(manifest["source"]["files"][-1]["path"]).name == titles
    assert f"titles from {titles}" in " ".join(manifest["notes"])


def test_llm4dsr_says_which_title_maps_it_looked_for_and_takes_one_named(tmp_path):
    folder = llm4dsr_windows(tmp_path / "in")
    result = run("data", "import", folder, "--format", "llm4dsr", "--variant", "clean", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {folder}: no item title map (looked for clean_id2name.json, id2name.json, "
        "clean_id2name4Rec.json, id2name4Rec.json; --titles names another file)"
    )
    names = tmp_path / "names.json"
    names.write_text('{"1": "Apple", "2": "Banana"}')
    result = run("data", "import", folder, "--format", "llm4dsr", "--titles", names, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["config"]["titles"] == str(names) and manifest["source"]["files"][-1]["path"].endswith("names.json")


def test_paths_with_brackets_print_as_they_are(tmp_path):
    """User text (paths, names) is not read as rich markup: '[/]' in --out neither crashes nor vanishes."""
    (tmp_path / "s.txt").write_text("".join(f"{u} {u * 5 + i}\n" for u in range(1, 5) for i in range(1, 6)))
    data = tmp_path / "data[/]"
    assert run("data", "import", tmp_path / "s.txt", "--format", "sequence", "--out", data).exit_code == 0
    result = run("inject", data, "--noise", "0.2", "--out", tmp_path / "noisy[bold]")
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'noisy[bold]'}" in result.output
