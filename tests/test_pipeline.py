"""`curator run`'s pipeline files (checked, with positions), overrides, and the planner's decisions on real and
tiny data. The end-to-end run and its report: test_pipeline_run.py."""

import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from curator.cli.run import PLAIN_WIDTH
from curator.data.dataset import write_dataset
from curator.pipeline import plan, spec_for
from curator.pipeline.facts import adapter_fit, data_facts
from curator.pipeline.findings import _lower
from curator.pipeline.planner import make_plan
from curator.pipeline.spec import PipelineError, default_spec, load_spec

from builders import first_users, retitled, tiny_dataset
from conftest import run_cli


def write(tmp_path, text, name="p.yaml"):
    file = tmp_path / name
    file.write_text(text)
    return file


def test_a_pipeline_file_sets_each_section(tmp_path):
    file = write(
        tmp_path,
        "data: movielens-100k\nseed: 4\ndenoise:\n  threshold: 0.7\ntrain:\n  seeds: [3, 5]\n  epochs: 2\n"
        "defend:\n  budgets: [0.02]\n",
    )
    spec = load_spec(file)
    assert (spec.seed, spec.denoise.threshold, spec.train.seeds, spec.train.epochs) == (4, 0.7, (3, 5), 2)
    assert spec.defend.budgets == (0.02,) and spec.defend.fdr == 0.05  # the rest keeps its default


BAD_FILES = [
    ("data: movielens-100k\ndenoise:\n  treshold: 0.7\n", "p.yaml:3:3: unknown key 'denoise.treshold' (did you mean"),
    ("data: movielens-100k\ndenoize:\n  threshold: 0.7\n", "p.yaml:2:1: unknown key 'denoize' (did you mean"),
    ("data: movielens-100k\ntrain:\n  epochs: many\n", "p.yaml:3:11: 'train.epochs' must be an integer, got 'many'"),
    ("data: movielens-100k\ntrain:\n  seeds: 3\n", "p.yaml:3:10: 'train.seeds' must be a list of integers, got '3'"),
    ("data: movielens-100k\ndefend: [1, 2]\n", "p.yaml:2:9: 'defend' must be a mapping of keys"),
    ("data: no/such/folder\n", "p.yaml:1:1: 'data' no/such/folder: no such dataset folder"),
    ("data: [movielens\n", "p.yaml:2:1: not valid YAML"),
    ("seed: 1\nseed: 2\n", "p.yaml:2:1: 'seed' is given twice"),
]


@pytest.mark.parametrize("text, expected", BAD_FILES)
def test_a_bad_pipeline_file_names_the_key_and_its_position(tmp_path, text, expected):
    with pytest.raises(PipelineError) as error:
        load_spec(write(tmp_path, text))
    assert expected in str(error.value)


def test_overrides_set_keys_and_refuse_unknown_ones():
    spec = default_spec("movielens-100k", ["denoise.threshold=0.8", "train.seeds=[1, 2]", "inject.enabled=true"])
    assert (spec.denoise.threshold, spec.train.seeds, spec.inject.enabled) == (0.8, (1, 2), True)
    with pytest.raises(PipelineError, match=r"--set denoise.treshold: unknown key 'treshold' \(did you mean"):
        default_spec("movielens-100k", ["denoise.treshold=0.8"])
    with pytest.raises(PipelineError, match="--set train.epochs: 'train.epochs' must be an integer, got 'x'"):
        default_spec("movielens-100k", ["train.epochs=x"])
    with pytest.raises(PipelineError, match="expected section.key=value"):
        default_spec("movielens-100k", ["denoise.threshold"])


def test_a_bad_value_of_a_stage_option_names_its_section():
    with pytest.raises(PipelineError, match="pipeline section 'denoise': --threshold 1.5 is not a probability"):
        plan("movielens-100k", ["denoise.threshold=1.5"])


def test_the_command_refuses_a_bad_file_with_one_line_and_writes_nothing(tmp_path):
    file = write(tmp_path, "data: movielens-100k\ndenoise:\n  treshold: 0.7\n")
    result = run_cli("run", file, "--out", tmp_path / "run")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "p.yaml:3:3: unknown key 'denoise.treshold'" in lines[0]
    assert not (tmp_path / "run").exists()


def test_the_shipped_pipelines_are_valid():
    from importlib.resources import files

    shipped = sorted(p for p in (files("curator.pipeline") / "pipelines").iterdir() if p.name.endswith(".yaml"))
    assert len(shipped) >= 3
    for file in shipped:
        spec = spec_for(str(file))
        assert spec.data == "movielens-100k", file.name


def fit_of(dataset):
    return adapter_fit("denoise-ml100k", dataset, data_facts(dataset))


def test_the_shipped_adapter_fits_by_item_overlap_as_denoise_checks_it(tmp_path, movielens):
    from curator.denoise.catalog import check_catalog
    from curator.llm.adapters import adapter_folder

    fit = fit_of(movielens)
    assert fit.fits and fit.item_overlap == 1.0 and "100% of this data's items" in fit.reason
    users = movielens.users.slice(0, 50)
    interactions = movielens.interactions.filter(pc.is_in(movielens.interactions["user_id"], users["user_id"]))
    child = write_dataset(
        tmp_path / "child", interactions, movielens.items, users, name="child", source=None, command=[], config={},
        parent=movielens,
    )  # fmt: skip
    fit = fit_of(child)
    assert fit.fits and "an ancestor of this data" in fit.reason
    # The same rows without a recorded parent: still the adapter's catalog, which `curator denoise` accepts.
    orphan = first_users(movielens, 50, tmp_path / "orphan")
    assert fit_of(orphan).fits
    assert not check_catalog(adapter_folder("denoise-ml100k"), orphan, allow_foreign=False).foreign
    # The same ids and sequences under other titles: another catalog, for the planner as for denoise.
    other = retitled(orphan, tmp_path / "other")
    fit = fit_of(other)
    assert not fit.fits and fit.item_overlap == 0.0
    assert "made for another catalog" in fit.reason and "only 0% of this data's items" in fit.reason
    assert check_catalog(adapter_folder("denoise-ml100k"), other, allow_foreign=True).foreign


def test_the_plan_adapts_first_for_another_catalog(tmp_path, movielens):
    other = retitled(first_users(movielens, 50, tmp_path / "orphan"), tmp_path / "other")
    facts = data_facts(other)
    steps = make_plan(default_spec(str(other.path)), facts, fit_of(other), False).steps
    names = [step.name for step in steps if step.runs]
    assert names == [
        "adapt", "defend", "denoise", "train-input", "ranks-input", "train-curated", "ranks-curated", "report"
    ]  # fmt: skip
    adapt = next(step for step in steps if step.name == "adapt")
    assert any("adapted on this data's own training sequences" in reason for reason in adapt.reasons)
    denoise = next(step for step in steps if step.name == "denoise")
    assert denoise.reads == ["defend", "adapt"]  # fake users are screened first; the adapted denoiser scores


def test_without_item_text_the_text_stages_are_skipped_and_said_so(tmp_path):
    sequences = {f"u{u}": [f"i{(u * 7 + k) % 40}" for k in range(12)] for u in range(30)}
    data = tiny_dataset(tmp_path / "tiny", sequences)
    table = data.tables
    untitled = pa.table({"item_id": table.items["item_id"], "title": pa.nulls(table.items.num_rows, pa.string())})
    data = write_dataset(
        tmp_path / "untitled", table.interactions, untitled, table.users, name="untitled", source=None, command=[],
        config={},
    )  # fmt: skip
    facts = data_facts(data)
    assert not facts.has_text
    spec = default_spec(str(data.path), ["profile.enabled=true"])
    steps = {step.name: step for step in make_plan(spec, facts, fit_of(data), False).steps}
    assert not steps["profile"].runs and "have a title" in steps["profile"].reasons[0]
    assert steps["adapt"].runs and steps["adapt"].settings["use_text"] is False
    assert steps["defend"].settings["use_text"] is False
    assert any("collaborative signals only" in reason for reason in steps["defend"].reasons)


def test_the_plan_needs_something_that_curates():
    with pytest.raises(PipelineError, match="nothing curates the data"):
        plan("movielens-100k", ["defend.enabled=false", "denoise.enabled=false"])


def test_a_dry_run_writes_nothing_and_reads_an_existing_folder_as_it_is(tmp_path, movielens):
    planned = plan(str(movielens.path), ["inject.enabled=true"])
    data = planned.step("data")
    assert not data.runs and "already a dataset folder" in data.reasons[0]
    assert planned.step("inject").runs and planned.step("adapt").runs is False
    assert json.loads(json.dumps(planned.to_dict()))["data"]["users"] == 943


def test_a_gate_that_passes_nothing_says_what_lower_thresholds_would_pass():
    import numpy as np

    said = _lower(np.array([0.05, 0.2, 0.35, 0.6]), 0.9, "user")
    assert said.startswith("at 0.7 it would pass 0 users, at 0.5 it would pass 1 user, at 0.3 it would pass 2 users")
    assert "highest p: 0.600" in said


def test_the_dry_run_prints_the_plan_with_its_reasons_wrapped_where_stdout_is_not_a_terminal(tmp_path, movielens):
    result = run_cli("run", movielens.path, "--out", tmp_path / "run", "--dry-run", "--set", "inject.enabled=true")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= PLAIN_WIDTH  # the reasons wrap inside the table's last column
    table = " ".join(line.strip("│┃ ") for line in lines)
    assert "fake users are screened before" in table and "train-curated" in table
    assert not (tmp_path / "run").exists()


def test_the_live_view_shows_each_steps_state_and_the_running_stages_bar_with_its_eta(movielens):
    import io
    import re

    from rich.console import Console
    from rich.live import Live

    from curator.cli.progress import CliProgress, cli_bar
    from curator.cli.run import PipelineView

    planned = plan(str(movielens.path), ["inject.enabled=true"])
    terminal = Console(file=io.StringIO(), force_terminal=True, width=140)
    live = Live(console=terminal, auto_refresh=False)
    view = PipelineView(live, CliProgress(terminal, cli_bar(terminal)))
    view.planned(planned)
    planned.step("inject").status, planned.step("inject").seconds = "done", 2.0
    view.finished(planned.step("inject"))
    planned.step("defend").status = "running"
    view.started(planned.step("defend"))
    view.progress.start("defend: users", total=10)
    view.progress.advance("defend: users", 4)
    screen = Console(file=io.StringIO(), width=140, color_system=None)
    screen.print(live.renderable)
    text = screen.file.getvalue()
    assert re.search(r"✓\s+inject\s+done\s+2 s", text)
    assert re.search(r"▶\s+defend\s+running", text) and re.search(r"·\s+denoise\s+waiting", text)
    assert re.search(r"–\s+profile\s+skipped", text)
    assert re.search(r"defend: users .* 4/10 .*(\d+:\d\d:\d\d|-:--:--)", text)  # the bar, its count and its ETA


def test_a_run_folder_is_written_by_one_live_run_at_a_time(tmp_path):
    from curator.errors import OutputError
    from curator.report.state import run_is_live, run_lock

    run = tmp_path / "run"
    assert not run_is_live(run)
    with run_lock(run):
        assert run_is_live(run)
        with pytest.raises(OutputError, match="another `curator run` is writing this run folder"):
            with run_lock(run):
                pass
    assert not run_is_live(run) and run.is_dir()
    with pytest.raises(PipelineError):  # a run that fails before writing anything leaves no folder
        with run_lock(tmp_path / "failed"):
            raise PipelineError("nothing curates the data")
    assert not (tmp_path / "failed").exists()


def test_the_engine_key_reaches_the_stages_that_compute_in_chunks():
    from curator.pipeline.configs import execution
    from curator.run.executor import ExecutorConfig

    assert execution(default_spec("movielens-100k")) == ExecutorConfig("local")
    spec = default_spec("movielens-100k", ["engine=ray", "ray.workers=2", "ray.address=auto"])
    assert execution(spec) == ExecutorConfig("ray", address="auto", workers=2)
    with pytest.raises(PipelineError, match="pipeline section 'ray': --engine: 'spark' is not one of local, ray"):
        plan("movielens-100k", ["engine=spark"])
    with pytest.raises(PipelineError, match="pipeline section 'ray': --ray-address, --ray-cpus and --ray-workers"):
        plan("movielens-100k", ["ray.workers=2"])
