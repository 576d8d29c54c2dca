"""The runner: the planned steps, each a Stage run through `run_stage`, in order.

Each step's output is `RUN/stages/<step>-<fingerprint>` where the fingerprint is the stage's (its inputs'
content hashes, its config, the versions that matter). So a rerun of a finished pipeline finds every output
recorded and runs nothing; a changed option gives its stage a new folder and, through its output's new content
hash, the stages after it; a killed run resumes inside the stage it hit (every step runs with `resume`: the
work folder of that very fingerprint is continued). `RUN/plan.json` is rewritten as steps start and finish, and
the run holds the lock of its folder while it lives (curator.report.state), so that a report read meanwhile tells
a running step from one a killed run left. The report is keyed the same way: rendered again only when what it is
built from changed (curator.report.report_is_current).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from curator.data.atomic import atomic_write_file
from curator.data.dataset import Dataset, read_dataset
from curator.data.schema import MANIFEST_FILE
from curator.pipeline import configs
from curator.pipeline.facts import adapter_fit, data_facts
from curator.pipeline.findings import step_findings
from curator.pipeline.planner import PLAN_FILE, Plan, Step, make_plan
from curator.pipeline.spec import PipelineSpec, data_path
from curator.run.progress import Progress, Silent
from curator.run.stage import Stage, run_stage

STAGES_FOLDER = "stages"


class Watcher(Protocol):
    """What shows a run as it goes (the command line's live view; nothing from a notebook by default)."""

    progress: Progress

    def planned(self, plan: Plan) -> None: ...

    def started(self, step: Step) -> None: ...

    def finished(self, step: Step) -> None: ...


class Quiet:
    progress: Progress = Silent()

    def planned(self, plan: Plan) -> None:
        pass

    def started(self, step: Step) -> None:
        pass

    def finished(self, step: Step) -> None:
        pass


@dataclass(frozen=True)
class RunResult:
    run: Path
    plan: Plan
    curated: Path | None  # the curated dataset folder (None after a dry run)
    report: Path | None


def run_pipeline(
    spec: PipelineSpec, run_dir: Path, *, dry_run: bool = False, watcher: Watcher | None = None
) -> RunResult:
    """Plan `spec`, write `run_dir/plan.json`, run the steps (unless `dry_run`) and write the report."""
    watcher = watcher or Quiet()
    configs.check_all(spec)  # before anything is written
    if dry_run:
        with tempfile.TemporaryDirectory(prefix="curator-plan-") as scratch:
            plan = PipelineRun(spec, Path(scratch), watcher).plan()
        watcher.planned(plan)
        return RunResult(run_dir, plan, None, None)
    from curator.report.state import run_lock

    with run_lock(Path(run_dir)):
        pipeline = PipelineRun(spec, run_dir, watcher)
        plan = pipeline.plan()
        watcher.planned(plan)
        return pipeline.execute(plan)


class PipelineRun:
    def __init__(self, spec: PipelineSpec, run_dir: Path, watcher: Watcher):
        self.spec, self.run_dir, self.watcher = spec, Path(run_dir), watcher
        self.outputs: dict[str, Any] = {}  # step name -> its output (a Dataset, or a folder)
        self.source: Dataset | None = None

    # planning

    def plan(self) -> Plan:
        """The plan, from the data (imported into the run folder first when it is a source)."""
        path = data_path(self.spec)
        imported = not (path / MANIFEST_FILE).is_file()
        step = Step("data", "import", imported, [])
        self.source = self._run(step, self._import_stage()) if imported else read_dataset(path)
        facts = data_facts(self.source)
        fit = adapter_fit(self.spec.denoise.adapter, self.source, facts) if self.spec.denoise.enabled else None
        plan = make_plan(self.spec, facts, fit, imported)
        source = plan.step("data")
        source.status = step.status if imported else "given"
        source.out = step.out if imported else str(path.resolve())  # an existing folder: where it is
        return plan

    # running

    def execute(self, plan: Plan) -> RunResult:
        self.outputs["data"] = self.source
        self._write(plan)
        for step in plan.steps[1:]:
            if not step.runs:
                step.status = "skipped"
                continue
            if step.stage == "report":
                self._report(plan, step)
                continue
            dataset = self._run(step, self._stage(step, plan), plan)
            self.outputs[step.name] = dataset
        curated = plan.step("train-curated").reads[0]
        return RunResult(self.run_dir, plan, self.outputs[curated].path, self.run_dir / "report.html")

    def _run(self, step: Step, stage: Stage, plan: Plan | None = None) -> Any:
        stage.out = self.run_dir / STAGES_FOLDER / f"{step.name}-{stage.fingerprint()[:12]}"
        step.out = str(stage.out.relative_to(self.run_dir))
        step.status = "running"
        if plan is not None:
            self._write(plan)
        self.watcher.started(step)
        started = time.perf_counter()
        command = ["curator", "run", "--step", step.name]
        result = run_stage(stage, resume=True, progress=self.watcher.progress, command=command)
        step.seconds = round(time.perf_counter() - started, 2)
        step.status = "reused" if result.already_done else "done"
        step.summary = result.summary
        step.findings = step_findings(step, result.out, self.spec)
        if plan is not None:
            self._write(plan)
        self.watcher.finished(step)
        return read_dataset(result.out) if (result.out / MANIFEST_FILE).is_file() else result.out

    def _report(self, plan: Plan, step: Step) -> None:
        """Write the report, unless the one there was built from the same outputs (a rerun that reused every
        step): then it is reused, like a stage's recorded output."""
        from curator.report import REPORT_FILES, report_is_current, write_report

        step.status = "running"
        self.watcher.started(step)
        started = time.perf_counter()
        self._write(plan)  # the report reads the finished plan
        current = report_is_current(self.run_dir)
        paths = [self.run_dir / name for name in REPORT_FILES] if current else write_report(self.run_dir)
        step.status, step.seconds = "reused" if current else "done", round(time.perf_counter() - started, 2)
        step.out = paths[0].name
        step.summary = {"files": [path.name for path in paths], "bytes": sum(p.stat().st_size for p in paths)}
        self._write(plan)
        self.watcher.finished(step)

    def _write(self, plan: Plan) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(plan.to_dict(), indent=2, ensure_ascii=False) + "\n"
        atomic_write_file(self.run_dir / PLAN_FILE, lambda staging: staging.write_text(text, encoding="utf-8"))

    # the stages, built from the spec through curator.pipeline.configs

    def _import_stage(self) -> Stage:
        from curator.data.importers import SHORTCUTS
        from curator.stages.data_import import ImportStage

        source = self.spec.data if self.spec.data in SHORTCUTS else str(data_path(self.spec))
        return ImportStage(source, configs.import_config(self.spec), self.run_dir)

    def _stage(self, step: Step, plan: Plan) -> Stage:
        """The Stage object of `step`, its inputs the outputs of the steps it reads."""
        from curator.stages import stage_class

        spec, inputs = self.spec, [self.outputs[name] for name in step.reads]
        has_text = plan.data["has_text"]
        placeholder = self.run_dir  # the real output folder is known once the fingerprint is
        if step.stage == "inject":
            return stage_class("inject")(inputs[0], configs.inject_config(spec), placeholder)
        if step.stage == "profile":
            options, engine = configs.profile_config(spec)
            return stage_class("profile")(inputs[0], options, engine, placeholder, execution=configs.execution(spec))
        if step.stage == "adapt":
            config = configs.adapt_config(spec, use_text=has_text)
            return stage_class("adapt")(inputs[0], config, placeholder, configs.adapt_engine(spec))
        if step.stage == "defend":
            config = configs.defend_config(spec, use_text=step.settings["use_text"])
            return stage_class("defend")(inputs[0], config, placeholder, execution=configs.execution(spec))
        if step.stage == "denoise":
            from curator.denoise.denoiser import trained_quant
            from curator.llm.adapters import adapter_folder

            adapter = str(inputs[1].resolve()) if len(inputs) > 1 else spec.denoise.adapter
            config = configs.denoise_config(spec, adapter)
            engine = configs.denoise_engine(spec, trained_quant(adapter_folder(adapter)))
            return stage_class("denoise")(inputs[0], config, placeholder, engine, execution=configs.execution(spec))
        if step.stage == "train":
            return stage_class("train")(inputs[0], configs.train_options(spec), placeholder)
        if step.stage == "ranks":
            from curator.pipeline.ranks import UserRanksStage

            train_run, dataset = inputs
            return UserRanksStage(dataset, train_run, configs.train_options(spec), placeholder)
        raise ValueError(f"no stage for step {step.name}")
