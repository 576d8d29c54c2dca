"""`curator run` end to end on a slice of MovieLens-100K (small limits): the plan it writes, a rerun that runs
nothing (not even the report), one changed option that reruns only what depends on it, the report with every
section and figure (and each step's real state while a run is in progress or after it was killed), a kill -9
inside a stage that the next run continues to the same numbers, and the default pipeline on data without labels."""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curator.data.dataset import write_dataset
from curator.report import report_is_current, write_report
from curator.report.state import run_lock

from conftest import run_cli

pytestmark = pytest.mark.e2e

USERS = 80
SECTIONS = ("summary", "plan", "data", "ledger", "scores", "detection", "training", "groups")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, movielens):
    root = tmp_path_factory.mktemp("pipeline")
    users = movielens.users.slice(0, USERS)
    interactions = movielens.interactions.filter(pc.is_in(movielens.interactions["user_id"], users["user_id"]))
    write_dataset(
        root / "ml-slice", interactions, movielens.items, users, name="ml-slice", source=None, command=[], config={},
        parent=movielens,  # a slice of the catalog the shipped adapter was made for: no adapting
    )  # fmt: skip
    pipeline = root / "small.yaml"
    pipeline.write_text(
        "data: ml-slice\n"
        "seed: 0\n"
        "inject: {enabled: true, noise: 0.1, attack: bandwagon, fake_users: 0.05, targets: 1}\n"
        "defend: {budgets: [0.05], targets: 2}\n"
        "denoise: {threshold: 0.5}\n"
        "train: {seeds: [0, 1], epochs: 2, patience: 2, max_len: 20}\n"
    )
    result = run_cli("run", pipeline, "--out", root / "run")
    assert result.exit_code == 0, result.output
    return root, pipeline, result.output


def statuses(run):
    plan = json.loads((run / "plan.json").read_text())
    return {step["name"]: step["status"] for step in plan["steps"]}


def test_the_plan_records_what_ran_and_why(finished):
    root, _, output = finished
    plan = json.loads((root / "run" / "plan.json").read_text())
    steps = {step["name"]: step for step in plan["steps"]}
    assert plan["data"]["users"] == USERS and plan["adapter"]["fits"]
    assert [s["name"] for s in plan["steps"] if s["runs"]] == [
        "inject", "defend", "denoise", "train-input", "ranks-input", "train-curated", "ranks-curated", "report"
    ]  # fmt: skip
    assert all(steps[name]["status"] == "done" for name in steps if steps[name]["runs"])
    fit = " ".join(steps["adapt"]["reasons"])
    assert "100% of this data's items" in fit and "an ancestor of this data" in fit
    assert steps["denoise"]["reads"] == ["defend"] and steps["defend"]["reads"] == ["inject"]
    assert any("estimated share of fake users" in finding for finding in steps["defend"]["findings"])
    assert any("share of noise" in finding for finding in steps["denoise"]["findings"])
    for name in ("inject", "defend", "denoise", "train-input", "train-curated"):
        assert (root / "run" / steps[name]["out"] / "stage.json").is_file()
        assert steps[name]["out"].startswith(f"stages/{name}-")
    assert "report: " in output and "curated dataset: " in output
    # Not a terminal: a plain line as each step starts and ends, and the stages' own progress lines with an ETA.
    assert "defend: running (defend)" in output and re.search(r"denoise: done in [\d.]+ s", output)
    assert re.search(r"[\d,]+/[\d,]+ \(\d+%\), .*(ETA \d+:\d\d:\d\d|done in)", output)


def test_the_report_has_every_section_and_figure(finished):
    root, _, _ = finished
    page = (root / "run" / "report.html").read_text()
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page, anchor
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    # lengths, popularity, p(noise), p(fake), two reliability diagrams, training curves
    assert len(images) == 7
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing fetched
    markdown = (root / "run" / "report.md").read_text()
    for title in (
        "Summary",
        "Plan and reasons",
        "Data card",
        "Ledger",
        "Detection quality",
        "Training",
        "Per user group",
    ):
        assert f"## {title}" in markdown
    linked = re.findall(r"\]\((report_files/[^)]+\.png)\)", markdown)
    assert len(linked) == 7 and all((root / "run" / link).is_file() for link in linked)
    # One std over seeds (the sample std) in the plan's findings and in the report: the same numbers read the same.
    steps = {step["name"]: step for step in json.loads((root / "run" / "plan.json").read_text())["steps"]}
    for variant in ("input", "curated"):
        said = re.search(r"test NDCG@10 (\d\.\d{4} ± \d\.\d{4})", " ".join(steps[f"train-{variant}"]["findings"]))
        assert f"{variant} {said.group(1)}" in markdown
    assert "Detection against the labels: noisy interactions: AUROC of p(noise)" in markdown  # beside the effect


def test_a_rerun_runs_nothing_and_a_changed_option_reruns_only_what_depends_on_it(finished):
    root, pipeline, _ = finished
    run = root / "run"
    page = (run / "report.html").stat()
    assert run_cli("run", pipeline, "--out", run).exit_code == 0
    assert {name for name, status in statuses(run).items() if status == "done"} == set()
    assert statuses(run)["report"] == "reused"  # built from the same outputs: not rendered again
    assert (run / "report.html").stat().st_mtime_ns == page.st_mtime_ns
    # The defense reruns; no user reaches p(fake) 0.4 either, so its output is the same data, which every later
    # stage already holds (their folders are keyed by their input's content): they are reused.
    result = run_cli("run", pipeline, "--out", run, "--set", "defend.user_threshold=0.4")
    assert result.exit_code == 0, result.output
    status = statuses(run)
    assert status["defend"] == "done" and status["inject"] == "reused"
    assert [status[name] for name in ("denoise", "train-input", "train-curated")] == ["reused"] * 3
    assert len(list((run / "stages").glob("defend-*"))) == 2  # the first threshold's output is kept


def test_report_on_a_folder_that_is_not_a_run_is_one_error_line(tmp_path):
    result = run_cli("report", tmp_path)
    assert result.exit_code == 2 and "not a `curator run` folder" in result.output


def with_states(run, **states):
    """Rewrite `run`'s plan.json with these steps' statuses (as a run that got that far leaves it)."""
    plan = json.loads((run / "plan.json").read_text())
    for step in plan["steps"]:
        step["status"] = states.get(step["name"].replace("-", "_"), step["status"])
    (run / "plan.json").write_text(json.dumps(plan))


def row(page, step):
    """The plan table's status cell of `step` in report.html."""
    return re.search(rf"<td>{step}</td><td>yes</td><td>([^<]+)</td>", page).group(1)


def test_a_report_read_while_the_run_is_in_progress_shows_each_steps_real_state(finished, tmp_path):
    root, _, _ = finished
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    with_states(run, train_curated="running", ranks_curated="waiting", report="waiting")
    with run_lock(run):  # as the live `curator run` holds it
        write_report(run)
        page = (run / "report.html").read_text()
    assert row(page, "train-curated") == "running" and row(page, "ranks-curated") == "waiting"
    assert row(page, "denoise") in ("done", "reused")
    assert "The run is in progress: 5 of 7 steps finished (now: train-curated)" in page
    assert "Training: not finished yet (train-input: " in page and '<section id="training">' not in page
    # The same plan with no live run: the process was killed inside train-curated, and later steps never ran.
    write_report(run)
    page = (run / "report.html").read_text()
    assert row(page, "train-curated") == "interrupted" and row(page, "ranks-curated") == "not run"
    assert "The run stopped before its end: 5 of 7 steps finished" in page
    assert report_is_current(run)
    with_states(run, train_curated="done", ranks_curated="done")
    assert not report_is_current(run)  # the steps finished since: the report is rendered again


def test_a_kill_9_inside_a_stage_resumes_inside_it_to_the_numbers_of_an_uninterrupted_run(finished, tmp_path):
    root, pipeline, _ = finished
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    uninterrupted = {name: out for name, out in outs(run).items() if name in ("train-curated", "ranks-curated")}
    for name in uninterrupted.values():  # train-curated and what follows it are still to run
        shutil.rmtree(run / name)
    repo = Path(__file__).resolve().parents[1]
    with open(tmp_path / "killed.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "curator", "run", str(pipeline), "--out", str(run)],
            env={**os.environ, "PYTHONPATH": str(repo)}, cwd=repo, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        checkpoint = None
        deadline = time.monotonic() + 600
        while checkpoint is None and process.poll() is None and time.monotonic() < deadline:
            checkpoint = next(iter(run.glob("stages/train-curated-*.partial/**/checkpoint.pt")), None)
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)  # kill -9 once the stage has recorded progress (an epoch)
        process.wait()
    assert checkpoint is not None, (tmp_path / "killed.log").read_text()
    assert statuses(run)["train-curated"] == "running"
    write_report(run)  # the report says where the run stands
    assert row((run / "report.html").read_text(), "train-curated") == "interrupted (resumable)"
    # A file in the killed run's seed folder: it comes out in the output only if the next run continues that
    # very work folder (a run that started the stage again would make a new one).
    (checkpoint.parent / "left-by-the-killed-run").write_text("")

    result = run_cli("run", pipeline, "--out", run)
    assert result.exit_code == 0, result.output
    assert statuses(run)["train-curated"] == "done" and statuses(run)["report"] == "done"
    # The stage it hit has the fingerprint of the uninterrupted run's (ranks-curated's differs: its input, the
    # stage's output, now holds the marker file).
    assert outs(run)["train-curated"] == uninterrupted["train-curated"]
    output = run / uninterrupted["train-curated"]
    assert (output / checkpoint.parent.name / "left-by-the-killed-run").is_file()
    expected = root / "run" / uninterrupted["train-curated"] / "metrics.json"
    assert per_seed_test(output / "metrics.json") == per_seed_test(expected)
    ranks = pq.read_table(run / outs(run)["ranks-curated"] / "user_ranks.parquet")
    assert ranks.equals(pq.read_table(root / "run" / uninterrupted["ranks-curated"] / "user_ranks.parquet"))


def outs(run):
    plan = json.loads((run / "plan.json").read_text())
    return {step["name"]: step["out"] for step in plan["steps"] if step["out"]}


def per_seed_test(file):
    return {seed["seed"]: seed["test"] for seed in json.loads(file.read_text())["seeds"]}


def test_the_default_pipeline_on_data_without_labels_has_every_section_but_detection(finished, tmp_path):
    root, _, _ = finished
    small = ["defend.budgets=[0.05]", "defend.targets=2", "train.seeds=[0, 1]", "train.epochs=2", "train.max_len=20"]
    result = run_cli("run", root / "ml-slice", "--out", tmp_path / "run", *[x for o in small for x in ("--set", o)])
    assert result.exit_code == 0, result.output
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    steps = {step["name"]: step for step in plan["steps"]}
    assert not steps["inject"]["runs"] and "no known truth" in steps["inject"]["reasons"][0]
    assert "no labels, so no detection metrics" in steps["report"]["reasons"][0]
    assert all(steps[name]["status"] == "done" for name in ("defend", "denoise", "train-curated", "report"))
    page = (tmp_path / "run" / "report.html").read_text()
    for anchor in SECTIONS:
        assert (f'<section id="{anchor}">' in page) == (anchor != "detection"), anchor
    assert "Detection against the labels" not in page and "reliability" not in page.lower()
    # lengths, popularity, p(noise), p(fake), training curves
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 5
