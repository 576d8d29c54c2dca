"""`curator run DATA|PIPELINE.yaml --out RUN` (the whole curation, planned with reasons) and `curator report RUN`.

The live view: on a terminal, the steps (done / running / waiting) above the running stage's progress bars (with
its ETA); elsewhere, a plain line when a step starts and ends and the stage's own progress lines (with theirs).
The plan is printed first, as a table: as wide as the terminal, or PLAIN_WIDTH columns where stdout is not one
(a log, a pipe), its reasons wrapped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from curator.cli.output import console as output_console

console = output_console()

PLAIN_WIDTH = 110  # columns of the plan table where stdout is not a terminal
MARKS = {"done": "✓", "reused": "✓", "given": "✓", "running": "▶", "waiting": "·", "skipped": "–"}


def plan_table(plan) -> Table:
    table = Table(title="plan", show_lines=False, expand=False)
    table.add_column("step")
    table.add_column("runs")
    table.add_column("why")
    for step in plan.steps:
        why = " ".join(reason.rstrip(".") + "." for reason in step.reasons)
        table.add_row(step.name, "yes" if step.runs else "no", why)
    return table


def steps_table(plan) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 1))
    for step in plan.steps:
        state = step.status if step.runs else "skipped"
        seconds = f"{step.seconds:.0f} s" if step.seconds is not None else ""
        table.add_row(MARKS.get(state, "?"), step.name, state, seconds, (step.findings or [""])[-1])
    return table


class PipelineView:
    """The command line's Watcher: live steps and bars on a terminal, plain lines elsewhere."""

    def __init__(self, live: Live | None, progress):
        self.live, self.progress, self.plan = live, progress, None

    def planned(self, plan) -> None:
        self.plan = plan
        console.print(plan_table(plan), width=None if console.is_terminal else PLAIN_WIDTH)
        self._refresh()

    def started(self, step) -> None:
        if self.live is None:
            self.progress.console.print(f"{step.name}: running ({step.stage})", markup=False)
        else:  # the bars shown are the running stage's only
            for task in list(self.progress.bar.task_ids):
                self.progress.bar.remove_task(task)
            self.progress.tasks.clear()
        self._refresh()

    def finished(self, step) -> None:
        if self.live is None:
            said = "; ".join(step.findings)
            reused = " (already done: reused)" if step.status == "reused" else ""
            line = f"{step.name}: {step.status} in {step.seconds or 0:.1f} s{reused}" + (f" — {said}" if said else "")
            self.progress.console.print(line, markup=False, soft_wrap=True)
        self._refresh()

    def _refresh(self) -> None:
        if self.live is not None and self.plan is not None:
            self.live.update(Group(steps_table(self.plan), self.progress.bar))


def run(
    target: Annotated[
        str, typer.Argument(help="A dataset folder, a bundled dataset (movielens-100k), or a pipeline file (.yaml).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (plan.json, stages/, report.html).")],
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Override a pipeline key, e.g. --set denoise.threshold=0.7 (repeatable)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan and its reasons, run nothing.")] = False,
):
    """Plan the curation from the data (with a reason for each decision), run the stages in order with their
    fingerprints as cache keys (a rerun is a no-op; a killed run resumes), train on input and curated data with
    the same seeds, and write the report."""
    from curator.pipeline import spec_for

    spec = spec_for(target, set_ or [])  # checked before anything runs: a bad file writes nothing
    from curator.cli.progress import CliProgress, cli_bar
    from curator.pipeline.runner import run_pipeline

    errors = output_console(stderr=True)
    if dry_run:
        run_pipeline(spec, out, dry_run=True, watcher=PipelineView(None, CliProgress(errors, None)))
        return
    bar = cli_bar(errors) if errors.is_terminal else None
    live = Live(console=errors, refresh_per_second=4, transient=False) if bar is not None else None
    view = PipelineView(live, CliProgress(errors, bar))
    if live is None:
        result = run_pipeline(spec, out, watcher=view)
    else:
        with live:
            result = run_pipeline(spec, out, watcher=view)
    console.print(f"plan and reasons: {out / 'plan.json'}", soft_wrap=True)
    console.print(f"curated dataset: {result.curated}", soft_wrap=True)
    console.print(f"report: {result.report} (and {out / 'report.md'})", soft_wrap=True)


def report(run_dir: Annotated[Path, typer.Argument(help="A `curator run` folder.")]):
    """Write RUN/report.html (self-contained) and RUN/report.md from the run's outputs."""
    from curator.report import write_report

    html_file, md_file = write_report(run_dir)
    console.print(f"wrote {html_file} ({html_file.stat().st_size / 1024:.0f} KiB) and {md_file}", soft_wrap=True)
