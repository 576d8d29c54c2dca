"""The main command end to end: `curator run` on a pipeline (default: the README's, MovieLens-100K with a labelled
10% noise and a 1% attack), as a user runs it, in subprocesses.

    python -P benchmarks/run_pipeline.py                                  # everything below
    python -P benchmarks/run_pipeline.py --set train.epochs=3 --kill-after 60
    python -P benchmarks/run_pipeline.py --rerun-of RUN   # only the rerun no-op of a finished run folder, 3 times
    python -P benchmarks/run_pipeline.py --warm-of WORK   # only a warm run, with the caches of an earlier --work

Measures, in one run and on one machine:
- cold: a fresh run folder and an empty model/vector cache (CURATOR_CACHE points at a new folder: the GGUF is
  converted again, the item vectors computed again);
- rerun: the same command on the finished cold run folder (every stage and the report recorded: nothing should
  run), also as a ratio to the reference workload below;
- warm: a fresh run folder with the caches the cold run filled, to the end; its test metrics and curated tables
  must equal the cold run's;
- warm, with a kill -9: a fresh run folder, the caches filled by the cold run, killed with SIGKILL after
  --kill-after seconds and then run again to the end; its wall time is the two together, and its test metrics
  and curated tables must equal the cold run's (a kill changes nothing);
- the report's size.
A reference workload (a fixed matrix product loop) is timed before and after, so that wall times taken on a shared
machine can be read against it. Prints a summary and writes benchmarks/results/run_pipeline.json.
"""

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PIPELINE = ROOT / "curator" / "pipeline" / "pipelines" / "movielens-demo.yaml"


def reference_seconds() -> float:
    """A fixed CPU workload, as the yardstick of how busy the machine is."""
    torch.manual_seed(0)
    a = torch.randn(512, 512)
    started = time.perf_counter()
    for _ in range(200):
        a = torch.tanh(a @ a.T / 512)
    return time.perf_counter() - started


def curator_run(pipeline: Path, out: Path, overrides: list[str], env: dict, kill_after: float | None = None):
    """Run `curator run` in a subprocess; (seconds, exit code). With `kill_after`, SIGKILL it then."""
    command = [sys.executable, "-m", "curator", "run", str(pipeline), "--out", str(out)]
    for override in overrides:
        command += ["--set", override]
    started = time.perf_counter()
    log = open(out.parent / f"{out.name}.log", "a")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        code = process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        code = process.wait()
    finally:
        log.close()
    return time.perf_counter() - started, code


def outcome(run: Path) -> dict:
    """What must be equal between two runs of one pipeline: test metrics per seed and the tables' hashes."""
    plan = json.loads((run / "plan.json").read_text())
    steps = {step["name"]: step for step in plan["steps"]}
    result = {
        "statuses": {name: step["status"] for name, step in steps.items()},
        "seconds": {name: step["seconds"] for name, step in steps.items() if step["seconds"] is not None},
    }
    for name in ("train-input", "train-curated"):
        metrics = json.loads((run / steps[name]["out"] / "metrics.json").read_text())
        result[name] = {seed["seed"]: seed["test"] for seed in metrics["seeds"]}
    curated = steps["train-curated"]["reads"][0]
    result["curated_hash"] = json.loads((run / steps[curated]["out"] / "manifest.json").read_text())["content_hash"]
    return result


def same_outcome(first: dict, second: dict) -> bool:
    """Whether two runs' outcomes (`outcome`) hold the same test metrics and curated tables."""
    return all(first[key] == second[key] for key in ("train-input", "train-curated", "curated_hash"))


def warm(pipeline: Path, work: Path, overrides: list[str], env: dict) -> dict:
    """A fresh run folder in `work` with the caches of its cold run, uninterrupted: its seconds and whether its
    outcome equals the cold run's."""
    run = work / "run-warm"
    seconds, code = curator_run(pipeline, run, overrides, env)
    assert code == 0, f"warm run failed: see {run}.log"
    again = outcome(run)
    equal = same_outcome(outcome(work / "run-cold"), again)
    print(f"warm: {seconds:.0f} s; equal to the cold run: {equal}", flush=True)
    return {"warm_seconds": round(seconds, 1), "warm_step_seconds": again["seconds"], "warm_equal_to_cold": equal}


def write_part(args, name: str, figures: dict) -> None:
    """The figures of a part measured alone (--warm-of, --rerun-of), printed and written beside --results as
    `name`."""
    record = {
        "command": [Path(sys.executable).name, *sys.argv],
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "result": figures,
    }
    results = args.results.with_name(name)
    results.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"wrote {results}")


def warm_only(args) -> None:
    """A warm run on the work folder of an earlier full benchmark, between two timings of the reference workload,
    to benchmarks/results/run_pipeline_warm.json."""
    env = {**os.environ, "CURATOR_CACHE": str(args.warm_of / "cache"), "PYTHONPATH": str(ROOT)}
    reference_before = reference_seconds()
    figures = warm(args.pipeline, args.warm_of, args.overrides, env)
    figures["reference_seconds"] = {"before": round(reference_before, 2), "after": round(reference_seconds(), 2)}
    write_part(args, "run_pipeline_warm.json", figures)


def rerun_only(args) -> None:
    """The rerun no-op of a finished run folder, three times between two timings of the reference workload, to
    benchmarks/results/run_pipeline_rerun.json (the caches are the user's: a rerun reads no model)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    reference_before = reference_seconds()
    seconds = []
    for _ in range(3):
        took, code = curator_run(args.pipeline, args.rerun_of, args.overrides, env)
        assert code == 0, f"the rerun failed: see {args.rerun_of}.log"
        seconds.append(round(took, 2))
    reference_after = reference_seconds()
    ran = sorted(name for name, status in outcome(args.rerun_of)["statuses"].items() if status == "done")
    figures = {
        "rerun_seconds": seconds,
        "rerun_ran": ran,
        "reference_seconds": {"before": round(reference_before, 2), "after": round(reference_after, 2)},
        "rerun_to_reference": round(min(seconds) / max(reference_before, reference_after), 2),
    }
    write_part(args, "run_pipeline_rerun.json", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", type=Path, default=DEFAULT_PIPELINE)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value")
    parser.add_argument("--kill-after", type=float, default=200.0, help="seconds before the kill -9")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "run_pipeline.json")
    parser.add_argument("--rerun-of", type=Path, default=None, help="a finished run folder: time its rerun only")
    parser.add_argument("--warm-of", type=Path, default=None, help="an earlier --work: time a warm run only")
    args = parser.parse_args()
    if args.rerun_of is not None:
        rerun_only(args)
        return
    if args.warm_of is not None:
        warm_only(args)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="curator-run-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CURATOR_CACHE": str(work / "cache"), "PYTHONPATH": str(ROOT)}

    reference_before = reference_seconds()
    figures = {}
    cold = work / "run-cold"
    seconds, code = curator_run(args.pipeline, cold, args.overrides, env)
    assert code == 0, f"cold run failed: see {cold}.log"
    figures["cold_seconds"] = round(seconds, 1)
    figures["cold_step_seconds"] = outcome(cold)["seconds"]
    print(f"cold: {seconds:.0f} s", flush=True)
    seconds, code = curator_run(args.pipeline, cold, args.overrides, env)
    assert code == 0
    figures["rerun_seconds"] = round(seconds, 2)
    figures["rerun_to_reference"] = round(seconds / reference_before, 1)
    figures["rerun_ran"] = sorted(name for name, status in outcome(cold)["statuses"].items() if status == "done")
    print(f"rerun: {seconds:.1f} s; steps that ran: {figures['rerun_ran']}", flush=True)
    figures |= warm(args.pipeline, work, args.overrides, env)

    killed = work / "run-warm-killed"
    seconds_killed, code = curator_run(args.pipeline, killed, args.overrides, env, kill_after=args.kill_after)
    at = json.loads((killed / "plan.json").read_text()) if (killed / "plan.json").is_file() else {"steps": []}
    running = [step["name"] for step in at["steps"] if step["status"] == "running"]
    seconds_resumed, code = curator_run(args.pipeline, killed, args.overrides, env)
    assert code == 0, f"resumed run failed: see {killed}.log"
    first, resumed = outcome(cold), outcome(killed)
    equal = same_outcome(first, resumed)
    figures["warm_killed_and_resumed_seconds"] = round(seconds_killed + seconds_resumed, 1)
    figures["kill"] = {
        "killed_after_seconds": args.kill_after,
        "killed_in_step": running[0] if running else None,
        "resumed_seconds": round(seconds_resumed, 1),
        "equal_to_uninterrupted": equal,
    }
    print(f"kill -9 in {figures['kill']['killed_in_step']}, resumed: equal to the uninterrupted run: {equal}")

    report = cold / "report.html"
    figures["report_bytes"] = report.stat().st_size
    figures["reference_seconds"] = {"before": round(reference_before, 2), "after": round(reference_seconds(), 2)}
    record = {
        "command": [Path(sys.executable).name, *sys.argv],
        "pipeline": str(args.pipeline.relative_to(ROOT)) if args.pipeline.is_relative_to(ROOT) else str(args.pipeline),
        "overrides": args.overrides,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_at_end": os.getloadavg(),
        },
        "result": figures,
        "metrics": {k: first[k] for k in ("train-input", "train-curated")},
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
