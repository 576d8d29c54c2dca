"""Where `--engine ray`'s fixed cost goes: the phases of a run that does no work, each timed.

A stage on Ray pays, beside its work: importing Ray, starting a local Ray (`ray.init`), and for each pass
(catalog encoding, score pass, decide pass) workers that start, import torch and curator's scoring modules,
and read the shared inputs. This script times those phases with a worker that only imports what the
denoiser's workers import and returns an empty table, in two passes through one executor (as `curator
denoise` makes), and, for reference, a fresh Python importing the same modules (what one worker pays at
least). The figures depend on the machine's load: compare them with each other and with the reference of
the same run only.

    python -P benchmarks/ray_overhead.py [--workers 1] [--address auto] [--out benchmarks/results/ray_overhead.json]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER_MODULES = "curator.denoise.inference, curator.denoise.cleaning"  # what the denoise workers unpickle


class ImportingWorker:
    """Imports what a denoise worker imports; each chunk: an empty table."""

    def __init__(self, shared):
        import curator.denoise.cleaning  # noqa: F401
        import curator.denoise.inference  # noqa: F401

    def __call__(self, k):
        import pyarrow as pa

        return pa.table({"chunk": [k]})


def timed_pass(executor, chunks: int) -> dict:
    from curator.run.executor import ChunkJob

    started = time.perf_counter()
    first = None
    for _ in executor.run(ChunkJob(None, ImportingWorker), range(chunks)):
        first = first or time.perf_counter() - started
    return {"first_chunk_s": round(first, 2), "all_chunks_s": round(time.perf_counter() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--address", help="join this running Ray (e.g. auto, after `ray start --head`)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ray_overhead.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the workers unpickle ImportingWorker from this module
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")])

    started = time.perf_counter()
    fresh = subprocess.run([sys.executable, "-c", f"import {WORKER_MODULES}"], env=os.environ, check=True)
    reference = round(time.perf_counter() - started, 2)
    del fresh

    phases = {}
    started = time.perf_counter()
    import ray  # noqa: F401

    phases["import_ray_s"] = round(time.perf_counter() - started, 2)
    from curator.run.executor import ExecutorConfig, open_executor

    started = time.perf_counter()
    executor = open_executor(ExecutorConfig("ray", address=args.address, workers=args.workers))
    phases["open_executor_s"] = round(time.perf_counter() - started, 2)  # ray.init (and what the executor starts)
    with executor:
        phases["first_pass"] = timed_pass(executor, args.chunks)
        phases["second_pass"] = timed_pass(executor, args.chunks)
        started = time.perf_counter()
    phases["close_s"] = round(time.perf_counter() - started, 2)
    report = {
        "benchmark": "the fixed cost of --engine ray, by phase (benchmarks/ray_overhead.py)",
        "workers": args.workers,
        "ray": args.address or "started by the run",
        "chunks_per_pass": args.chunks,
        "fresh_python_importing_the_worker_modules_s": reference,
        "phases": phases,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_1min": os.getloadavg()[0]},
        "note": "ran beside other jobs on a shared 2-core machine: compare the figures of this file only",
    }
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
