"""Issue 33, one test (or a few) per item: what a hostile user found, done again on real inputs. Every user error
is one `error:` line and exit code 2, and nothing is left on disk; see docs/reliability.md for the promises."""

import errno
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curator.data.dataset
import curator.llm.models as models
import curator.run.workfolder
from curator.data.atomic import Staging, output_errors, remove_stale_staging
from curator.data.dataset import read_dataset
from curator.data.ledger import Action, Edit, build_ledger, write_curated
from curator.errors import ModelError, OptionError, OutputError, one_line
from curator.run.stage import Stage, StageRun, run_stage
from curator.run.workfolder import work_folder_for
from curator.training import TrainOptions

from builders import imported, tiny_dataset
from conftest import run_cli as run
from conftest import tiny_llama


def one_error_line(result) -> str:
    """The one line a failed command printed (asserting it is one `error:` line, exit code 2)."""
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def leftovers(folder: Path, *keep: str) -> list[str]:
    """What is in `folder` besides `keep`: hidden staging folders included."""
    return sorted(entry.name for entry in folder.iterdir() if entry.name not in keep)


@pytest.fixture
def tiny(tmp_path):
    return tiny_dataset(tmp_path / "tiny", {"u1": ["a", "b", "c", "d"], "u2": ["b", "c", "a", "d"]})


# 1. Seeds are checked before any work.


@pytest.mark.parametrize("seeds", [["--seed", "-1"], ["--seeds", "1,-2"], ["--seed", str(2**64)]])
def test_a_bad_seed_is_refused_before_anything_trains(tiny, tmp_path, seeds):
    line = one_error_line(run("train", tiny.path, *seeds, "--out", tmp_path / "run"))
    assert "is not a seed" in line and "2^64-1" in line
    assert leftovers(tmp_path, "tiny") == []


def test_the_library_checks_every_seed_before_training():
    with pytest.raises(OptionError, match="--seeds: -2 is not a seed"):
        TrainOptions(seeds=[1, -2]).validate()
    TrainOptions(seeds=[0, 2**64 - 1]).validate()


# 2. A failure found after start-up leaves no work folder that refuses the corrected command.


@dataclass
class StepsStage(Stage):
    """Records `steps` steps in its work folder, one file each; raises at step `fail_at`, as a bad option found
    late (or a kill) would."""

    name = "steps"
    resumable = True

    source: Path
    steps: int
    out: Path
    fail_at: int | None = None

    def validate(self) -> None:
        pass

    def inputs(self):
        return {"source": self.source}

    def options(self):
        return {"steps": self.steps}

    def produce(self, run: StageRun):
        for step in range(self.steps):
            if step == self.fail_at:
                raise OptionError(f"step {step} failed")
            if run.work.read_json(f"step-{step}.json") is None:
                run.work.write_json(f"step-{step}.json", step)
        (run.folder / "done.json").write_text("{}")
        return {"steps": self.steps}


def test_a_failure_before_any_progress_removes_the_work_folder(tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("x")
    out = tmp_path / "a" / "b" / "out"  # its parents are made for this run, and go with it
    with pytest.raises(OptionError):
        run_stage(StepsStage(source, 3, out, fail_at=0))
    assert leftovers(tmp_path, "source.txt") == []
    assert run_stage(StepsStage(source, 4, out)).summary == {"steps": 4}  # other options: not refused


def test_a_failure_after_progress_keeps_the_work_folder_for_resume(tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("x")
    out = tmp_path / "out"
    with pytest.raises(OptionError):
        run_stage(StepsStage(source, 3, out, fail_at=2))
    assert sorted(p.name for p in work_folder_for(out).iterdir()) == ["run.json", "step-0.json", "step-1.json"]
    assert run_stage(StepsStage(source, 3, out), resume=True).summary == {"steps": 3}
    assert leftovers(tmp_path, "source.txt", "out") == []


def test_a_bad_model_leaves_nothing_so_the_next_command_meets_its_own_error(movielens, tmp_path):
    out = tmp_path / "profiles"
    line = one_error_line(run("profile", movielens.path, "--out", out, "--limit", "1", "--model", "no-such/model"))
    assert "--model no-such/model" in line
    assert leftovers(tmp_path) == []
    # Had the first run left OUT.partial, this one would be refused as "an unfinished run with other options".
    line = one_error_line(run("profile", movielens.path, "--out", out, "--users", "nobody"))
    assert "--users: unknown user 'nobody'" in line
    assert leftovers(tmp_path) == []


# 3. A read-only or full file system is one error line, and nothing is left.


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_an_unwritable_output_is_one_error_line_and_leaves_nothing(tmp_path, monkeypatch, code):
    source = tmp_path / "in" / "s.txt"
    source.parent.mkdir()
    source.write_text("1 1\n1 2\n2 1\n")

    def failing_write(table, where, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(curator.data.dataset.pq, "write_table", failing_write)
    out = tmp_path / "missing" / "parent" / "out"
    line = one_error_line(run("data", "import", source, "--format", "sequence", "--out", out))
    assert line == f"error: cannot write {out}: {os.strerror(code)}"
    assert leftovers(tmp_path, "in") == []


def test_an_unwritable_work_folder_is_one_error_line(tmp_path, monkeypatch):
    source = tmp_path / "source.txt"
    source.write_text("x")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "out.partial"))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(OutputError, match=f"cannot write {tmp_path / 'out'}: Read-only file system"):
        run_stage(StepsStage(source, 2, tmp_path / "out"))
    assert leftovers(tmp_path, "source.txt") == []


def test_a_full_disk_before_the_work_folder_has_its_identity_leaves_nothing(tmp_path, monkeypatch):
    source = tmp_path / "source.txt"
    source.write_text("x")

    def full(target, write):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(curator.run.workfolder, "atomic_write_file", full)
    with pytest.raises(OutputError, match="No space left on device"):
        run_stage(StepsStage(source, 2, tmp_path / "out"))
    assert leftovers(tmp_path, "source.txt") == []


def test_a_write_error_reported_as_another_error_is_still_found():
    """torch.save reports a failed write as a RuntimeError raised while handling the file's OSError."""
    failure = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    failure.__context__ = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(OutputError, match="^cannot write out: No space left on device$"):
        with output_errors(Path("out")):
            raise failure


def test_a_permission_error_on_another_file_names_that_file(tmp_path):
    with pytest.raises(OutputError, match="^/etc/secret: Permission denied$"):
        with output_errors(tmp_path / "out"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/etc/secret")


# 4. What a killed run left beside OUT goes when a later run of OUT runs; a live run's staging stays.


def test_a_killed_runs_staging_folder_is_removed_and_a_live_ones_kept(tmp_path):
    source = tmp_path / "s.txt"
    source.write_text("1 1\n1 2\n2 1\n")
    out = tmp_path / "out"
    dead = tmp_path / ".out.tmp-deadbeef"
    dead.mkdir()
    (dead / "interactions.parquet").write_bytes(b"PAR1")  # a kill -9 during the final write
    retired = tmp_path / ".out.old-deadbeef"  # a kill between the two renames of --overwrite
    retired.mkdir()
    live = Staging(out)  # another process filling OUT right now (its lock is held)
    try:
        imported(source, out, format="sequence")
        assert leftovers(tmp_path, "s.txt", "out") == [live.path.name]
    finally:
        live.close()
    assert leftovers(tmp_path, "s.txt", "out") == []


def test_the_staging_folder_of_a_process_killed_with_sigkill_is_removed(tmp_path):
    out = tmp_path / "out"
    filling = subprocess.Popen(
        [sys.executable, "-c", f"from curator.data.atomic import Staging; Staging({str(out)!r}); print(1, flush=True); "
         "import time; time.sleep(60)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert filling.stdout.readline().strip() == b"1"  # its staging folder is made and locked
    remove_stale_staging(out)
    assert len(leftovers(tmp_path)) == 1  # alive: kept
    filling.kill()
    filling.wait()
    remove_stale_staging(out)
    assert leftovers(tmp_path) == []


def test_a_resumed_run_removes_what_the_killed_one_left(tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("x")
    out = tmp_path / "out"
    with pytest.raises(OptionError):
        run_stage(StepsStage(source, 3, out, fail_at=2))
    (tmp_path / ".out.tmp-deadbeef").mkdir()
    run_stage(StepsStage(source, 3, out), resume=True)
    assert leftovers(tmp_path, "source.txt", "out") == []


# 5 and 6. Fields of megabytes, and Excel's byte-order mark.


def test_fields_of_megabytes_import(tmp_path):
    title, item = "t" * 3_000_000, "i" * 2_500_000
    (tmp_path / "ratings.csv").write_text(f"uid,iid,ts\n1,a,1\n1,{item},2\n2,a,3\n")
    (tmp_path / "items.csv").write_text(f"iid,title\na,{title}\n{item},short\n")
    dataset = imported(
        tmp_path / "ratings.csv",
        tmp_path / "out",
        format="csv",
        options={
            "mapping": "user=uid,item=iid,time=ts",
            "items_file": tmp_path / "items.csv",
            "items_mapping": "item=iid",
        },
    )
    assert dataset.items["title"].to_pylist()[:2] == [title, "short"]
    assert dataset.interactions["item_id"].to_pylist() == ["a", item, "a"]


def test_a_bad_field_of_megabytes_is_one_short_error_line(tmp_path):
    (tmp_path / "s.txt").write_text("1 2\n1 3\n2 " + "4" * 3_000_000 + "\n")
    line = one_error_line(run("data", "import", tmp_path / "s.txt", "--format", "sequence", "--out", tmp_path / "o"))
    assert "line 3, column item_id" in line and "(3,000,000 characters) is not a valid integer" in line
    assert len(line) < 300
    assert leftovers(tmp_path, "s.txt") == []


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    text = "uid,iid,ts,stars\n1,a,1,4\n1,b,2,5\n2,a,3,3\n"
    (tmp_path / "plain.csv").write_text(text, encoding="utf-8")
    (tmp_path / "excel.csv").write_text(text, encoding="utf-8-sig")
    options = {"mapping": "user=uid,item=iid,time=ts,rating=stars"}
    plain = imported(tmp_path / "plain.csv", tmp_path / "plain", format="csv", options=options)
    excel = imported(tmp_path / "excel.csv", tmp_path / "excel", format="csv", options=options)
    assert excel.content_hash == plain.content_hash


# 7. The default model's cache, deleted while in use: converted afresh, and --model is never blamed.


@pytest.fixture
def fake_default_model(tmp_path, monkeypatch, tokenizer):
    """The default model as a GGUF file whose conversion saves a tiny Llama; counts the conversions."""
    gguf = tmp_path / "default.gguf"
    gguf.write_bytes(b"GGUF fake")
    conversions = []

    def convert(source, target):
        conversions.append(target)
        tiny_llama(tokenizer).save_pretrained(target)
        tokenizer.save_pretrained(target)

    monkeypatch.setenv("CURATOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "default_gguf", lambda: gguf)
    monkeypatch.setattr(models, "convert_gguf", convert)
    return conversions


def test_a_converted_model_deleted_while_in_use_is_converted_again(fake_default_model):
    source = models.resolve_model(None)
    assert len(fake_default_model) == 1
    for weights in Path(source.location).glob("*.safetensors"):
        weights.unlink()  # the cache was deleted under the running command
    model, _ = models.load_causal_lm(source, {}, "cpu")
    assert len(fake_default_model) == 2 and model.config.num_hidden_layers == 2


def test_a_converted_model_that_still_does_not_load_blames_the_cache_not_the_option(fake_default_model, monkeypatch):
    source = models.resolve_model(None)
    monkeypatch.setattr(models, "convert_gguf", lambda gguf, target: None)  # the cache is gone for good
    shutil.rmtree(source.location)
    with pytest.raises(ModelError) as caught:
        models.load_causal_lm(source, {}, "cpu")
    assert "curator cache" in str(caught.value) and "--model" not in str(caught.value)


def test_a_cache_that_vanishes_during_the_conversion_is_named_not_the_option(tmp_path, monkeypatch, tokenizer):
    import transformers

    gguf = tmp_path / "default.gguf"
    gguf.write_bytes(b"GGUF fake")
    loaded = tiny_llama(tokenizer)
    loaded.config.quantization_config = {}  # as a GGUF-loaded model's
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *args, **kwargs: tokenizer)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *args, **kwargs: loaded)

    def cache_deleted(model, folder, **kwargs):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(folder))

    monkeypatch.setattr(type(loaded), "save_pretrained", cache_deleted)
    monkeypatch.setattr(models, "default_gguf", lambda: gguf)
    monkeypatch.setenv("CURATOR_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelError) as caught:
        models.resolve_model(None)
    message = str(caught.value)
    assert "curator cache" in message and "CURATOR_CACHE" in message and "--model" not in message


# 8. Ledgers prove themselves: revert and apply check every hash.


@pytest.fixture
def curated(movielens, tmp_path):
    users = movielens.users["user_id"].to_pylist()
    edits = [
        Edit(users[0], Action.REMOVE, position=0, score=0.95, threshold=0.9),
        Edit(users[1], Action.REPLACE, position=3, new_item="1", score=0.97, threshold=0.9),
        Edit(users[2], Action.REWEIGHT, new_weight=0.5),
        Edit(users[3], Action.DROP_USER),
    ]
    ledger = build_ledger(movielens.tables, edits, stage="denoise")
    return write_curated(tmp_path / "curated", movielens, ledger, "denoise", {"threshold": 0.9}, [], name="curated")


def test_revert_and_apply_give_back_both_datasets_exactly(movielens, curated, tmp_path):
    assert curated.manifest["ledger_hash"]
    result = run("data", "revert", curated.path, "--out", tmp_path / "reverted")
    assert result.exit_code == 0, result.output
    assert read_dataset(tmp_path / "reverted").content_hash == movielens.content_hash
    result = run("data", "apply", movielens.path, "--ledger", curated.path, "--out", tmp_path / "applied")
    assert result.exit_code == 0, result.output
    applied = read_dataset(tmp_path / "applied")
    assert applied.content_hash == curated.content_hash and applied.manifest["ledger_hash"]


def test_a_damaged_ledger_is_refused(movielens, curated, tmp_path):
    ledger = pq.read_table(curated.path / "ledger.parquet")
    damaged = ledger.set_column(
        ledger.column_names.index("timestamp"), "timestamp", pa.array([7] * len(ledger), pa.int64())
    )
    pq.write_table(damaged, curated.path / "ledger.parquet")
    line = one_error_line(run("data", "revert", curated.path, "--out", tmp_path / "reverted"))
    assert "does not match the ledger_hash" in line
    line = one_error_line(run("data", "apply", movielens.path, "--ledger", curated.path, "--out", tmp_path / "applied"))
    assert "does not match the ledger_hash" in line
    assert leftovers(tmp_path, "curated") == []


def test_a_ledger_that_does_not_undo_to_its_parent_is_refused(curated, tmp_path):
    manifest = json.loads((curated.path / "manifest.json").read_text())
    manifest["parent"]["content_hash"] = "0" * 64
    (curated.path / "manifest.json").write_text(json.dumps(manifest))
    line = one_error_line(run("data", "revert", curated.path, "--out", tmp_path / "reverted"))
    assert "does not give back the input it undoes" in line
    assert leftovers(tmp_path, "curated") == []


def test_a_ledger_applied_to_another_input_is_refused(curated, tiny, tmp_path):
    line = one_error_line(run("data", "apply", tiny.path, "--ledger", curated.path, "--out", tmp_path / "applied"))
    assert f"{tiny.path} is not the input {curated.path} was made from" in line
    line = one_error_line(run("data", "revert", tiny.path, "--out", tmp_path / "reverted"))
    assert "not a curated dataset" in line
    assert leftovers(tmp_path, "curated", "tiny") == []


# 9 and 10. What click rejects is one line too; messages name the option given and print on one line.


@pytest.mark.parametrize(
    "args, message",
    [
        (["denoise", "{data}", "--threshold", "abc", "--out", "{tmp}/x"], "Invalid value for '--threshold'"),
        (["train", "{data}", "--model", "bert4rec"], "'bert4rec' is not one of 'sasrec', 'gru4rec'"),
        (["profile", "{data}", "--stage", "foo", "--out", "{tmp}/x"], "'foo' is not one of"),
        (["train", "{data}", "--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["train"], "Missing argument"),
        (["--no-such-option"], "No such option: --no-such-option"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["data", "import", "{data}", "--out"], "Option '--out' requires an argument"),
    ],
)
def test_every_usage_error_is_one_line(tiny, tmp_path, args, message):
    line = one_error_line(run(*(arg.format(data=tiny.path, tmp=tmp_path) for arg in args)))
    assert message in line
    assert leftovers(tmp_path, "tiny") == []


def test_a_bit_flipped_parquet_is_one_printable_line(tiny, tmp_path):
    file = tiny.path / "interactions.parquet"
    data = bytearray(file.read_bytes())
    for k in range(8, len(data) - 8, 7):
        data[k] ^= 0x5A
    file.write_bytes(bytes(data))
    line = one_error_line(run("data", "info", tiny.path))
    assert "cannot read Parquet" in line and line.isprintable()


def test_one_line_escapes_what_does_not_print():
    assert one_line("bad\nbytes:\t\x0f\x00 [red]x[/]") == "bad bytes: \\x0f\\x00 [red]x[/]"


def test_brackets_in_a_message_are_not_taken_for_markup(tmp_path):
    line = one_error_line(run("data", "info", tmp_path / "[bold]x[/]"))
    assert "[bold]x[/]" in line


def test_brackets_in_names_and_paths_print_as_they_are(tmp_path):
    """Found by the fuzz suite: a dataset named `[/]` was written, then printing its name crashed."""
    source = tmp_path / "s.txt"
    source.write_text("1 1\n1 2\n2 1\n")
    out = tmp_path / "o[/]"
    result = run("data", "import", source, "--format", "sequence", "--out", out, "--name", "[/]x[bold]")
    assert result.exit_code == 0 and f"[/]x[bold] → {out}" in result.output, result.output
    shown = run("data", "info", out)
    assert shown.exit_code == 0 and "[/]x[bold]" in shown.output, shown.output


# 11. NaN and infinite ratings, and rows that repeat an earlier one: never without a word.


@pytest.fixture
def repeated(tmp_path):
    file = tmp_path / "in" / "ratings.csv"
    file.parent.mkdir()
    file.write_text("uid,iid,ts,stars\n1,a,1,5\n1,a,1,5\n1,b,2,nan\n2,a,3,inf\n2,b,4,\n2,b,4,\n")
    return file


def import_repeated(repeated, out, *options):
    return run(
        "data", "import", repeated, "--format", "csv", "--map", "user=uid,item=iid,time=ts,rating=stars", "--out", out,
        *options,
    )  # fmt: skip


def test_repeated_rows_are_kept_with_a_note_by_default(repeated, tmp_path):
    result = import_repeated(repeated, tmp_path / "kept")
    assert result.exit_code == 0, result.output
    assert "note: 2 row(s) repeat an earlier row exactly" in result.output
    assert "note: 2 rating(s) were NaN or infinite: stored as no rating" in result.output
    dataset = read_dataset(tmp_path / "kept")
    assert len(dataset.interactions) == 6 and any("repeat an earlier row" in n for n in dataset.manifest["notes"])
    assert dataset.interactions["rating"].to_pylist() == [5.0, 5.0, None, None, None, None]


def test_repeated_rows_dropped_or_refused_as_asked(repeated, tmp_path):
    result = import_repeated(repeated, tmp_path / "dropped", "--on-duplicates", "drop")
    assert result.exit_code == 0, result.output
    dropped = read_dataset(tmp_path / "dropped")
    assert dropped.interactions["item_id"].to_pylist() == ["a", "b", "a", "b"]
    assert dropped.manifest["config"]["on_duplicates"] == "drop"
    line = one_error_line(import_repeated(repeated, tmp_path / "refused", "--on-duplicates", "error"))
    assert "2 row(s) repeat an earlier row exactly" in line and "the first is data row 2" in line
    assert not (tmp_path / "refused").exists()
    line = one_error_line(import_repeated(repeated, tmp_path / "x", "--on-duplicates", "sometimes"))
    assert "'sometimes' is not one of 'keep', 'drop', 'error'" in line
