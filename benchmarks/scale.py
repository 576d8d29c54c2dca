"""`curator denoise`, or a part of its work, on one process and on Ray: speed, Ray's overhead, peak memory.

Each run is the real stage (`run_stage(DenoiseStage)`: load, collaborative evidence, the score pass, the
decide pass, the output) in a fresh child process, on MovieLens-100K (or `--data`, e.g. a synthetic
replica from benchmarks/synthetic.py) with the shipped adapter on SmolLM2-135M:

    local-1t   one process, one torch thread (what one Ray worker gets)
    local      one process, torch's default threads (every core)
    ray-1      --engine ray, 1 worker x 1 thread
    ray-2      --engine ray, 2 workers x 1 thread

The catalog is encoded once before the timed runs, by an untimed local warm-up (its vectors are then read
from the user cache by every run). For each run: wall seconds, users/s over
the whole stage, users/s of the score pass once its first chunk is back (the steady rate, without start-up),
the driver's peak RSS and the largest peak RSS of a Ray worker process (sampled every 0.2 s).

`--part evidence` times the denoiser's collaborative evidence alone (curator.denoise.evidence_chunks: the
item x item co-occurrence in row blocks, the five folds' SVDs), `--part fraud-features` the fake-user
detector's collaborative features of the data (curator.fraud.features_collaborative: the pair features and
the user-user products in blocks of users), each as the stages compute them on each engine: in a fresh
child, the data's training interactions, the executor opened and its workers up (in a real run they start
while the driver loads its model), then the part through it: seconds (`part_s`), and the driver's and the
largest Ray worker's peak RSS. Nothing is encoded, no adapter is read.

Machine notes: the runs share the machine with whatever else runs; compare runs of one invocation only.

    python -P benchmarks/scale.py [--part denoise|evidence|fraud-features] [--users 943] [--data DIR]
                                  [--out FILE.json]
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "local-1t": {"engine": "local", "threads": 1},
    "local": {"engine": "local", "threads": None},
    "ray-1": {"engine": "ray", "workers": 1},
    "ray-2": {"engine": "ray", "workers": 2},
}


class Timeline:
    """A Progress that remembers when each chunk of a task came back."""

    def __init__(self):
        self.times: dict[str, list[tuple[float, int]]] = {}

    def start(self, task, total, done=0):
        self.times[task] = [(time.perf_counter(), done)]

    def advance(self, task, amount=1, note="", counted=None):
        last = self.times[task][-1][1]
        self.times[task].append((time.perf_counter(), last + amount))

    def log(self, line):
        pass

    def steady_rate(self, task: str) -> float | None:
        """Steps per second from the first chunk back to the last."""
        marks = self.times.get(task, [])[1:]
        if len(marks) < 2:
            return None
        return (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])


class RaySampler(threading.Thread):
    """Peak RSS of the Ray worker processes of this machine (psutil, every 0.2 s)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.stop = 0, threading.Event()

    def run(self):
        import psutil

        while not self.stop.wait(0.2):
            for process in psutil.process_iter(["name", "memory_info"]):
                if (process.info["name"] or "").startswith("ray::") and process.info["memory_info"]:
                    self.peak = max(self.peak, process.info["memory_info"].rss)


def started(spec: dict) -> RaySampler:
    """This child set up as `spec` asks (its torch threads), and the sampler of the Ray workers' memory, running
    only when the run has Ray workers (it sees every Ray worker of the machine)."""
    import torch

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    sampler = RaySampler()
    if spec["engine"] == "ray":
        sampler.start()
    return sampler


def peaks(sampler: RaySampler) -> dict:
    """The peak RSS of this process (the driver) and of the largest Ray worker; stops the sampler."""
    sampler.stop.set()
    return {
        "driver_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "ray_worker_peak_rss_mib": round(sampler.peak / 2**20) or None,
    }


def child(args) -> dict:
    """One timed run (in this fresh process): its figures as JSON."""
    from curator.data.dataset import read_dataset
    from curator.denoise.config import DEFAULT_ADAPTER, DenoiseConfig
    from curator.denoise.denoiser import trained_quant
    from curator.llm.adapters import adapter_folder
    from curator.llm.config import EngineConfig
    from curator.run.executor import ExecutorConfig
    from curator.run.stage import run_stage
    from curator.stages.denoise import DenoiseStage

    spec = RUNS[args.child]
    sampler = started(spec)
    data = read_dataset(args.data)
    execution = ExecutorConfig(spec["engine"], workers=spec.get("workers"))
    engine = EngineConfig(quant=trained_quant(adapter_folder(DEFAULT_ADAPTER)))
    stage = DenoiseStage(data, DenoiseConfig(), args.work / args.child, engine, execution=execution)
    timeline = Timeline()
    start = time.perf_counter()
    run_stage(stage, overwrite=True, progress=timeline)
    wall = time.perf_counter() - start
    users = len(data.users)
    return {
        "run": args.child,
        "users": users,
        "interactions": len(data.interactions),
        "wall_s": round(wall, 2),
        "users_per_s": round(users / wall, 1),
        "score_pass_steady_users_per_s": timeline.steady_rate("users"),
        "decide_pass_steady_users_per_s": timeline.steady_rate("decisions"),
        **peaks(sampler),
    }


class Ready:
    """A worker that computes nothing: one chunk of it per worker brings a pool up."""

    def __init__(self, shared):
        pass

    def __call__(self, k):
        import pyarrow as pa

        return pa.table({"k": [k]})


def child_part(args) -> dict:
    """One part of the work (--part evidence or fraud-features) on --data through the run's engine, in this
    fresh process: its figures."""
    from curator.data.collaborative import training_interactions
    from curator.data.dataset import read_dataset
    from curator.denoise.config import DenoiserConfig
    from curator.denoise.context import CollaborativeStats
    from curator.fraud.features_collaborative import collaborative_features
    from curator.run.executor import ChunkJob, ExecutorConfig, open_executor

    spec = RUNS[args.child]
    sampler = started(spec)
    data = read_dataset(args.data)
    train = training_interactions(data)
    with open_executor(ExecutorConfig(spec["engine"], workers=spec.get("workers"))) as executor:
        # The executor hands each worker its first chunks in turn: 2 a worker reach every one of them.
        list(executor.run(ChunkJob(None, Ready), range(2 * (spec.get("workers") or 1))))
        start = time.perf_counter()
        if args.part == "evidence":
            stats = CollaborativeStats.of(train, DenoiserConfig().factor_rank, executor)
            figures = {"cooccurrence_nonzeros": int(stats.together.nnz)}
        else:
            figures = {"features": len(collaborative_features(data, executor).names)}
        seconds = time.perf_counter() - start
    return {
        "run": args.child,
        "users": len(data.users),
        "items": len(data.items),
        "training_interactions": len(train.item),
        **figures,
        "part_s": round(seconds, 2),
        **peaks(sampler),
    }


def run_child(name: str, data: Path, work: Path, part: str = "denoise") -> dict:
    done = subprocess.run(
        [sys.executable, "-P", __file__, "--child", name, "--part", part, "--data", str(data), "--work", str(work)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def benchmark_data(args) -> Path:
    """--data, or MovieLens-100K (its first --users users) made under --work."""
    if args.data:
        return args.data
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from denoise import dataset

    from curator.data.dataset import write_dataset

    movielens = dataset(args.work, "ml-100k")
    if args.users >= len(movielens.users):
        return movielens.path
    folder = args.work / "data" / f"ml-100k-first-{args.users}"
    if not (folder / "manifest.json").is_file():
        import pyarrow.compute as pc

        users = movielens.users.slice(0, args.users)
        rows = pc.is_in(movielens.interactions["user_id"], users["user_id"])
        write_dataset(folder, movielens.interactions.filter(rows), movielens.items, users,
                      name=folder.name, source=None, command=sys.argv, config={})  # fmt: skip
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=943)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-scale")
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    parser.add_argument("--cached", action="store_true", help="the catalog's vectors are cached: no warm-up run")
    parser.add_argument("--part", choices=("denoise", "evidence", "fraud-features"), default="denoise")
    parser.add_argument("--child", choices=list(RUNS))
    args = parser.parse_args()
    if args.child:
        print(json.dumps((child if args.part == "denoise" else child_part)(args)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    data = benchmark_data(args)
    if args.part == "denoise" and not args.cached:  # encodes the catalog into the user cache (if it is not there yet)
        warm = run_child("local-1t", data, args.work)
        print(f"warm-up (local-1t, catalog encoded if not cached): {warm['wall_s']} s", flush=True)
    results = []
    for name in args.runs.split(","):
        result = run_child(name, data, args.work, args.part)
        results.append(result)
        print(json.dumps(result), flush=True)
        shutil.rmtree(args.work / name, ignore_errors=True)
    timed = "wall_s" if args.part == "denoise" else "part_s"
    reference = next((r for r in results if r["run"] == "local-1t"), None)
    for result in results:
        if reference:
            result[f"{timed}_vs_local_1t"] = round(result[timed] / reference[timed], 3)
    report = {
        "benchmark": f"{args.part} --engine local|ray (benchmarks/scale.py --part {args.part})",
        "data": str(data),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_1min": os.getloadavg()[0]},
        "note": "ran beside other jobs on a shared 2-core machine: compare the runs of this file only",
        "runs": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
