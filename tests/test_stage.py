"""The one envelope every stage runs in (curator.run.stage): fingerprints, no-op reruns, atomic output, work
folders and resume, shards' pending results."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from curator.data.schema import STAGE_FILE
from curator.errors import OptionError
from curator.run.stage import Pending, Stage, StageRun, run_stage
from curator.run.workfolder import work_folder_for


@dataclass(frozen=True)
class CountConfig:
    words: int = 2

    def validate(self) -> None:
        if self.words < 1:
            raise OptionError("--words must be at least 1")


@dataclass
class CountStage(Stage):
    """Counts the first `words` words of a text file, one word per step (a step is what a kill can lose)."""

    name = "count"
    resumable = True

    text: Path
    config: CountConfig
    out: Path
    fail_at: int | None = None  # the step that raises, as a kill would
    produced: list[int] = field(default_factory=list)  # the steps this object ran
    pending: bool = False

    def inputs(self):
        return {"text": self.text}

    def produce(self, run: StageRun):
        words = self.text.read_text().split()[: self.config.words]
        for step, word in enumerate(words):
            if run.work.read_json(f"step-{step}.json") is not None:
                continue  # done by the killed run
            if step == self.fail_at:
                raise KeyboardInterrupt
            self.produced.append(step)
            run.work.write_json(f"step-{step}.json", len(word))
        if self.pending:
            return Pending({"steps": len(words)})
        counts = [run.work.read_json(f"step-{step}.json") for step in range(len(words))]
        (run.folder / "counts.json").write_text(json.dumps(counts))
        return {"letters": sum(counts)}


@pytest.fixture
def text(tmp_path):
    file = tmp_path / "in.txt"
    file.write_text("one three five seven")
    return file


def test_identical_rerun_is_a_no_op_and_other_work_needs_overwrite(text, tmp_path):
    first = CountStage(text, CountConfig(), tmp_path / "out")
    assert run_stage(first).summary == {"letters": 8} and first.produced == [0, 1]
    record = json.loads((tmp_path / "out" / STAGE_FILE).read_text())
    assert record["stage"] == "count" and record["summary"] == {"letters": 8}

    again = CountStage(text, CountConfig(), tmp_path / "out")
    result = run_stage(again, command=["another", "command line"])  # the command is not part of the work
    assert result.already_done and result.summary == {"letters": 8} and again.produced == []

    forced = CountStage(text, CountConfig(), tmp_path / "out")
    assert not run_stage(forced, overwrite=True).already_done and forced.produced == [0, 1]  # --overwrite runs it

    with pytest.raises(OptionError, match="already exists"):
        run_stage(CountStage(text, CountConfig(words=3), tmp_path / "out"))
    other = CountStage(text, CountConfig(words=3), tmp_path / "out")
    assert run_stage(other, overwrite=True).summary == {"letters": 12}


def test_fingerprint_follows_input_content_options_and_versions(text, tmp_path):
    stage = CountStage(text, CountConfig(), tmp_path / "out")
    before = stage.fingerprint()
    assert CountStage(text, CountConfig(), tmp_path / "elsewhere").fingerprint() == before  # where is not what
    assert CountStage(text, CountConfig(words=3), tmp_path / "out").fingerprint() != before
    text.write_text("one three five eight")
    assert stage.fingerprint() != before


def test_a_killed_run_leaves_no_output_and_resumes_where_it_stopped(text, tmp_path):
    out = tmp_path / "out"
    killed = CountStage(text, CountConfig(words=4), out, fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_stage(killed)
    assert not out.exists() and killed.produced == [0, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.partial"]

    with pytest.raises(OptionError, match="--resume"):
        run_stage(CountStage(text, CountConfig(words=4), out))
    with pytest.raises(OptionError, match="other data or options"):
        run_stage(CountStage(text, CountConfig(words=3), out), resume=True)

    resumed = CountStage(text, CountConfig(words=4), out)
    assert run_stage(resumed, resume=True).summary == {"letters": 17} and resumed.produced == [2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out"]  # the work folder is gone
    assert sorted(p.name for p in out.iterdir()) == ["counts.json", STAGE_FILE]


def test_pending_shard_writes_no_output_and_keeps_the_work(text, tmp_path):
    result = run_stage(CountStage(text, CountConfig(), tmp_path / "out", pending=True))
    assert not result.finished and result.summary == {"steps": 2}
    assert not (tmp_path / "out").exists() and work_folder_for(tmp_path / "out").is_dir()
    assert not (work_folder_for(tmp_path / "out") / "output").exists()  # no half-made output either


def test_bad_config_and_overlapping_output_fail_before_any_work(text, tmp_path):
    bad = CountStage(text, CountConfig(words=0), tmp_path / "out")
    with pytest.raises(OptionError, match="--words"):
        run_stage(bad)
    overlapping = CountStage(text, CountConfig(), text / "out")
    with pytest.raises(OptionError, match="overlaps the input"):
        run_stage(overlapping)
    assert bad.produced == overlapping.produced == [] and sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_the_registry_names_every_stage_by_its_own_name():
    """An orchestrator finds each command's stage by name; every stage file's stages are registered."""
    import inspect

    from curator.stages import STAGES, stage_class

    for name in STAGES:
        stage = stage_class(name)
        assert issubclass(stage, Stage) and stage.name == name
    modules = {path.split(":")[0] for path in STAGES.values()}
    stage_files = sorted(Path(inspect.getfile(Stage)).parents[1].joinpath("stages").glob("[!_]*.py"))
    assert {f"curator.stages.{file.stem}" for file in stage_files} == modules
