"""`curator run` end to end on a slice of MovieLens-100K (small limits): the plan it writes, a rerun that runs
nothing, one changed option that reruns only what depends on it, and the report with every section and figure."""

import base64
import json
import re

import pyarrow.compute as pc
import pytest

from curator.data.dataset import write_dataset

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
    assert "an ancestor of this data" in " ".join(steps["adapt"]["reasons"])
    assert steps["denoise"]["reads"] == ["defend"] and steps["defend"]["reads"] == ["inject"]
    assert any("estimated share of fake users" in finding for finding in steps["defend"]["findings"])
    assert any("share of noise" in finding for finding in steps["denoise"]["findings"])
    for name in ("inject", "defend", "denoise", "train-input", "train-curated"):
        assert (root / "run" / steps[name]["out"] / "stage.json").is_file()
        assert steps[name]["out"].startswith(f"stages/{name}-")
    assert "report: " in output and "curated dataset: " in output


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


def test_a_rerun_runs_nothing_and_a_changed_option_reruns_only_what_depends_on_it(finished):
    root, pipeline, _ = finished
    run = root / "run"
    assert run_cli("run", pipeline, "--out", run).exit_code == 0
    assert {name for name, status in statuses(run).items() if status == "done"} == {"report"}
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
