"""`curator report RUN`: one self-contained report.html (figures inline) and report.md of a `curator run` folder,
built only from what the run wrote (curator.report.sections), laid out by curator.report.document."""

from __future__ import annotations

import json
from pathlib import Path

from curator.errors import InputError
from curator.report.document import Section, write_files


def build_sections(run: Path) -> tuple[str, str, list[Section]]:
    """The report's title, subtitle and sections for run folder `run`."""
    from curator.report import sections as build

    if not (Path(run) / "plan.json").is_file():
        raise InputError(f"{run}: not a `curator run` folder (no plan.json)")
    outputs = build.RunOutputs(run)
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


def write_report(run: Path) -> tuple[Path, Path]:
    """Write RUN/report.html and RUN/report.md; returns their paths."""
    title, subtitle, sections = build_sections(Path(run))
    return write_files(Path(run), title, subtitle, sections)
