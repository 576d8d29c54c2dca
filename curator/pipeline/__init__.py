"""The orchestrated pipeline (`curator run`): a pipeline file (curator.pipeline.spec), a plan with a reason for
every decision taken from the data (curator.pipeline.planner), and the runner that takes the stages through
`run_stage` with their fingerprints as cache keys (curator.pipeline.runner).

From Python (a notebook, a script):

    from curator.pipeline import run
    result = run("movielens-100k", "runs/demo", overrides=["inject.enabled=true"])
    result.plan.steps           # what ran and why
    result.report               # runs/demo/report.html
    result.curated              # the curated dataset folder

`run` takes a dataset folder, a bundled dataset's name, or a pipeline file (`.yaml`); `plan` is the dry run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from curator.pipeline.planner import Plan, Step
from curator.pipeline.runner import RunResult, Watcher, run_pipeline
from curator.pipeline.spec import PipelineError, PipelineSpec, default_spec, load_spec

__all__ = ["Plan", "PipelineError", "PipelineSpec", "RunResult", "Step", "plan", "run", "spec_for"]


def spec_for(target: str | Path, overrides: Sequence[str] = ()) -> PipelineSpec:
    """The pipeline for `target`: a pipeline file (.yaml/.yml) as written, or the default pipeline on a dataset
    folder or bundled dataset; `overrides` are "section.key=value"."""
    if str(target).endswith((".yaml", ".yml")):
        return load_spec(Path(target), list(overrides))
    return default_spec(str(target), list(overrides))


def run(
    target: str | Path, out: str | Path, overrides: Sequence[str] = (), watcher: Watcher | None = None
) -> RunResult:
    """Run the pipeline for `target` into run folder `out` (see the module docstring)."""
    return run_pipeline(spec_for(target, overrides), Path(out), watcher=watcher)


def plan(target: str | Path, overrides: Sequence[str] = ()) -> Plan:
    """The plan `run` would follow, with its reasons; nothing is written."""
    return run_pipeline(spec_for(target, overrides), Path("."), dry_run=True).plan
