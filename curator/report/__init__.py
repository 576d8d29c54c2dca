"""`curator report RUN`: one self-contained report.html (figures inline) and report.md of a `curator run` folder,
built only from what the run wrote (curator.report.sections), laid out by curator.report.document.

The report is keyed like a stage's output: REPORT_RECORD holds the fingerprint of what it was built from (the
plan with each step's real state, and this package's code), so a rerun of a finished run that changed nothing
finds the report current and does not render it again (`report_is_current`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from curator.errors import InputError
from curator.report.document import Section, write_files
from curator.report.state import FINISHED, run_is_live, step_state

PLAN_FILE = "plan.json"  # curator.pipeline.planner.PLAN_FILE
REPORT_RECORD = "report.json"
REPORT_FILES = ("report.html", "report.md")


def read_plan(run: Path) -> dict[str, Any]:
    if not (Path(run) / PLAN_FILE).is_file():
        raise InputError(f"{run}: not a `curator run` folder (no {PLAN_FILE})")
    return json.loads((Path(run) / PLAN_FILE).read_text(encoding="utf-8"))


def build_sections(run: Path) -> tuple[str, str, list[Section]]:
    """The report's title, subtitle and sections for run folder `run`."""
    from curator.report import sections as build

    outputs = build.RunOutputs(run, read_plan(run))
    ledger = build.ledger_rows(outputs)
    parts = [build.summary_section(outputs, ledger), build.plan_section(outputs), build.data_section(outputs)]
    if ledger is not None:
        parts.append(build.ledger_section(outputs, ledger))
    parts += [build.scores_section(outputs), build.detection_section(outputs)]
    parts += [build.training_section(outputs), build.groups_section(outputs, ledger)]
    data = outputs.plan["data"]
    title = f"curator report: {data['name']}"
    subtitle = f"run folder {Path(run).resolve()}; pipeline {json.dumps(outputs.plan['pipeline']['data'])}"
    return title, subtitle, [part for part in parts if part is not None]


def report_fingerprint(run: Path) -> str:
    """What the report of `run` is built from: the plan (every step's real state, not its timing: a rerun that
    reuses every step has the same report) and the code of this package."""
    run = Path(run)
    plan, live = read_plan(run), run_is_live(run)
    steps = []
    for step in plan["steps"]:
        if step["stage"] == "report":
            continue
        state = step_state(run, step, live)
        steps.append({**step, "status": "finished" if state in FINISHED else state, "seconds": None})
    code = hashlib.sha256()
    for file in sorted(Path(__file__).parent.glob("*.py")):
        code.update(file.read_bytes())
    identity = {**plan, "steps": steps, "code": code.hexdigest()}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def report_is_current(run: Path) -> bool:
    """Whether `run`'s report files were built from what the run holds now (nothing to render again)."""
    run = Path(run)
    record = run / REPORT_RECORD
    if not record.is_file() or not all((run / name).is_file() for name in REPORT_FILES):
        return False
    try:
        recorded = json.loads(record.read_text(encoding="utf-8")).get("fingerprint")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False
    return recorded == report_fingerprint(run)


def write_report(run: Path) -> tuple[Path, Path]:
    """Write RUN/report.html and RUN/report.md, and the record of what they were built from; returns their
    paths."""
    from curator.data.atomic import atomic_write_file

    run = Path(run)
    fingerprint = report_fingerprint(run)  # before reading: a step that ends meanwhile makes the record stale
    title, subtitle, sections = build_sections(run)
    paths = write_files(run, title, subtitle, sections)
    text = json.dumps({"fingerprint": fingerprint, "files": [path.name for path in paths]}, indent=2) + "\n"
    atomic_write_file(run / REPORT_RECORD, lambda staging: staging.write_text(text, encoding="utf-8"))
    return paths
