"""Profile alignment benchmark (issue 31): do LLM profiles, aligned with SASRec's item representations, help?

    nice -n 10 python -P benchmarks/profile_alignment.py --phase profiles   # generate (hours on a CPU; resumable)
    python -P benchmarks/profile_alignment.py                               # profiles as far as they go, then train

MovieLens-100K (1,682 items, 943 users). Phase `profiles`: `curator profile` on the whole dataset with the CPU
default (SmolLM2-135M-Instruct, unquantized, bfloat16 where the CPU has bfloat16 instructions), cached in
--work: a finished run is a no-op, a killed one resumes from its last chunk; the wall time of every
invocation is added up in `profile-times.json`. Phase `train` (the default runs both): SASRec+ on the same
split, paired over --seeds, with
- none: no alignment;
- text: RLMRec-Con alignment with MiniLM embeddings of each item's raw text (title | year | genres);
- items: the same with the LLM item profiles' embeddings;
- items+users: the same, plus the sequence representation aligned with the LLM user profiles.
When the profile run has not finished, the variants that need profiles train on the chunks it has finished
(items without a profile are left out of the alignment term) and the JSON says so (`profiles.partial`).

Reports test NDCG@10/HR@10 overall and on the tail (users whose test item has at most each of --tail-items
training interactions; users with at most each of --tail-users training interactions; on MovieLens-100K every
user has at least 18, so the issue's "at most 10" group is empty), each variant's mean ± std and its paired
difference to `none` (per seed, then mean ± std). Writes benchmarks/results/profile_alignment-MODEL-KIND.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from rich.console import Console
from rich.table import Table

from curator.data.dataset import Dataset, read_dataset
from curator.data.import_config import ImportConfig
from curator.data.sequences import user_sequences
from curator.llm.config import EngineConfig, generation_defaults
from curator.profile.config import PROFILE_FILE, STAGES, ProfileOptions
from curator.profile.output import in_dataset_order, write_profiled
from curator.run.progress import Silent
from curator.run.stage import run_stage
from curator.stages.data_import import ImportStage
from curator.stages.profile import ProfileStage
from curator.stages.train import TrainStage
from curator.training import TrainOptions, seed_folder
from recsys.data import LeaveOneOut
from recsys.metrics import ranking_metrics
from recsys.train import load_best, stage_ranks

ROOT = Path(__file__).resolve().parents[1]
PROFILED = "profiled"  # the profile run's output folder in --work (its work folder: profiled.partial)
TIMES = "profile-times.json"


def movielens(work: Path) -> Dataset:
    stage = ImportStage("movielens-100k", ImportConfig(), work / "data" / "ml-100k")
    return run_stage(stage, command=sys.argv).dataset()


def profile_engine() -> EngineConfig:
    """The CPU default of `curator profile` (curator.llm.config.generation_defaults)."""
    defaults = generation_defaults("cpu")
    return EngineConfig(quant=defaults.quant, dtype=defaults.dtype, device="cpu")


def generate_profiles(work: Path) -> dict:
    """`curator profile` on all of MovieLens-100K, resumed where an earlier invocation stopped. Each invocation
    that has work to do records when it started and when it ended (a killed one: its last finished chunk)."""
    dataset = movielens(work)
    stage = ProfileStage(dataset, ProfileOptions(), profile_engine(), work / PROFILED)
    times = invocations(work)  # the killed ones' ends resolved now, while their chunks are in the work folder
    invocation = {"started": time.time(), "ended": None}
    if not (work / PROFILED / "stage.json").is_file():
        (work / TIMES).write_text(json.dumps([*times, invocation]))
    result = run_stage(stage, resume=True, command=sys.argv)
    if not result.already_done:
        invocation["ended"] = time.time()
        (work / TIMES).write_text(json.dumps([*times, invocation]))
    return {"counts": result.summary["counts"], "engine": result.summary["engine"], **profile_time(work)}


def invocations(work: Path) -> list[dict]:
    """The profile run's invocations, {started, ended} in seconds since the epoch; one that was killed (or is
    still running) ends at its last finished chunk."""
    times = json.loads((work / TIMES).read_text()) if (work / TIMES).is_file() else []
    written = sorted(f.stat().st_mtime for f in (work / f"{PROFILED}.partial").glob("*/chunk-*.parquet"))
    for k, invocation in enumerate(times):
        if invocation["ended"] is None:
            before = times[k + 1]["started"] if k + 1 < len(times) else float("inf")
            mine = [t for t in written if invocation["started"] <= t < before]
            invocation["ended"] = max(mine, default=invocation["started"])
    return times


def profile_time(work: Path) -> dict:
    """Wall time of the profile run, summed over its invocations."""
    seconds = [round(i["ended"] - i["started"], 1) for i in invocations(work)]
    return {"invocation_seconds": seconds, "wall_seconds": round(sum(seconds), 1)}


def finished_chunks(work: Path, dataset: Dataset) -> dict[str, pa.Table]:
    """stage -> the profiles the profile run has finished so far: its output's when it is done, else the
    chunks in its work folder."""
    done = work / PROFILED
    tables = {}
    for stage in STAGES:
        if (done / PROFILE_FILE[stage]).is_file():
            tables[stage] = pq.read_table(done / PROFILE_FILE[stage])
            continue
        files = sorted((work / f"{PROFILED}.partial" / stage).glob("chunk-*.parquet"))
        if files:
            tables[stage] = in_dataset_order(pa.concat_tables(pq.read_table(f) for f in files), stage, dataset)
    return tables


def profiled_dataset(work: Path, dataset: Dataset) -> tuple[Dataset, dict]:
    """The dataset folder the profile variants train on, and what it holds: the profile run's output when it
    finished, else the dataset with the chunks finished so far (a partial folder, rewritten when more exist)."""
    tables = finished_chunks(work, dataset)
    coverage = {
        stage: {"profiled": len(tables.get(stage, [])), "of": len(dataset.items if stage == "items" else dataset.users)}
        for stage in STAGES
    }
    partial = any(c["profiled"] < c["of"] for c in coverage.values())
    if not partial:
        return read_dataset(work / PROFILED), {"partial": False, "coverage": coverage}
    folder = work / "profiled-partial-{}-{}".format(*(coverage[s]["profiled"] for s in STAGES))
    if not folder.is_dir():
        note = "partial: the profiles a running `curator profile` had finished ({})".format(
            ", ".join(f"{c['profiled']} of {c['of']} {s}" for s, c in coverage.items())
        )
        write_profiled(folder, dataset, tables, command=sys.argv, notes=[note], config={})
    return read_dataset(folder), {"partial": True, "coverage": coverage}


VARIANTS = {  # name -> (the dataset it trains on: plain or profiled, TrainOptions' alignment fields)
    "none": ("plain", {"align": "none"}),
    "text": ("plain", {"align": "text"}),
    "items": ("profiled", {"align": "profiles", "align_users": False}),
    "items+users": ("profiled", {"align": "profiles", "align_users": True}),
}


def train_variant(name: str, dataset: Dataset, options: TrainOptions, work: Path) -> tuple[dict, Path]:
    """One variant's `curator train` run over all seeds (cached and resumable in --work)."""
    out = work / "runs" / name
    progress = EpochLog(name)
    return run_stage(TrainStage(dataset, options, out), resume=True, progress=progress, command=sys.argv).summary, out


class EpochLog(Silent):
    """One console line per epoch, with the variant's name."""

    def __init__(self, name: str):
        self.name, self.console = name, Console()

    def log(self, line: str) -> None:
        self.console.log(f"{self.name} {line}")


def test_ranks(dataset: Dataset, options: TrainOptions, run_dir: Path) -> dict[int, np.ndarray]:
    """seed -> each evaluated user's 0-based test rank under the seed's best weights."""
    data = user_sequences(dataset)
    split = LeaveOneOut(data.sequences, data.num_items, data.weights)
    ranks = {}
    for seed in options.seeds:
        config = options.train_config(seed)
        model = load_best(options.build_model(data.num_items, seed), seed_folder(run_dir, seed))
        ranks[seed] = stage_ranks(model, split, "test", config)
    return ranks


def groups(dataset: Dataset, tail_items: list[int], tail_users: list[int]) -> dict[str, np.ndarray]:
    """Group name -> which evaluated users (bool, in split.evaluated order) belong to it: all; users whose test
    item has at most each of `tail_items` training interactions; users with at most each of `tail_users`
    training interactions. Training interactions: every user's sequence without its validation and test items."""
    data = user_sequences(dataset)
    split = LeaveOneOut(data.sequences, data.num_items, data.weights)
    train = split.train_sequences()
    item_counts = np.bincount(np.concatenate(train), minlength=data.num_items + 1)
    _, targets = split.histories_and_targets("test")
    lengths = np.array([len(train[u]) for u in split.evaluated])
    found = {"all": np.ones(len(targets), dtype=bool)}
    for limit in tail_items:
        found[f"items<={limit}"] = item_counts[targets] <= limit
    for limit in tail_users:
        found[f"users<={limit}"] = lengths <= limit
    return found


def paired(ranks: dict[str, dict[int, np.ndarray]], members: dict[str, np.ndarray], seeds: list[int]) -> dict:
    """Per group and variant: NDCG@10 and HR@10 per seed, mean ± std, and the paired difference to `none`."""
    out = {}
    for group, member in members.items():
        out[group] = {"users": int(member.sum())}
        if not member.any():
            continue
        per_seed = {
            variant: {seed: ranking_metrics(by_seed[seed][member], (10,)) for seed in seeds}
            for variant, by_seed in ranks.items()
        }
        for variant, metrics in per_seed.items():
            entry = {}
            for metric in ("NDCG@10", "HR@10"):
                values = np.array([metrics[seed][metric] for seed in seeds])
                base = np.array([per_seed["none"][seed][metric] for seed in seeds])
                entry[metric] = {
                    "per_seed": values.round(5).tolist(),
                    "mean": float(values.mean()),
                    "std": float(values.std()),
                    "diff_to_none_mean": float((values - base).mean()),
                    "diff_to_none_std": float((values - base).std()),
                    "relative_to_none": float((values - base).mean() / base.mean()) if base.mean() else None,
                    "seeds_above_none": int((values > base).sum()),
                }
            out[group][variant] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("profiles", "train", "all"), default="all")
    parser.add_argument("--seeds", default="1,2,3,4,5,6")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--model", choices=("sasrec", "gru4rec"), default="sasrec")
    parser.add_argument("--align-kind", choices=("con", "gen"), default="con")
    parser.add_argument("--align-weight", type=float, default=0.1)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--tail-items", default="5,20")
    parser.add_argument("--tail-users", default="10,30")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-profile-alignment")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    result: dict = {"command": " ".join(["python", *sys.argv])}
    if args.phase in ("profiles", "all"):
        result["profile_run"] = generate_profiles(args.work)
        print(json.dumps(result["profile_run"], indent=2))
    if args.phase == "profiles":
        return
    if args.phase == "train":
        result["profile_run"] = profile_time(args.work)

    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    plain = movielens(args.work)
    datasets = {"plain": plain}
    if any(VARIANTS[v][0] == "profiled" for v in variants):
        datasets["profiled"], result["profiles"] = profiled_dataset(args.work, plain)
    base = TrainOptions(
        model=args.model,
        seeds=seeds,
        max_epochs=args.epochs,
        patience=args.patience,
        lr=args.lr,
        max_len=args.max_len,
        align_kind=args.align_kind,
        align_weight=args.align_weight,
        device="cpu",
    )
    summaries, ranks = {}, {}
    for variant in variants:
        folder, fields = VARIANTS[variant]
        options = replace(base, **fields)
        tag = f"{variant}-{args.model}-{args.align_kind}-w{args.align_weight}-len{args.max_len}"
        tag += f"-p{args.patience}-lr{args.lr}"
        if folder == "profiled":
            tag += f"-{result['profiles']['coverage']['items']['profiled']}i"
        summaries[variant], run_dir = train_variant(tag, datasets[folder], options, args.work)
        ranks[variant] = test_ranks(datasets[folder], options, run_dir)
    members = groups(plain, *([int(n) for n in limits.split(",")] for limits in (args.tail_items, args.tail_users)))
    result["metrics"] = paired(ranks, members, seeds)
    result["runs"] = {
        variant: {key: summaries[variant][key] for key in ("options", "aligned_to", "seconds_per_epoch", "seeds")}
        for variant in variants
    }
    result["machine"] = {
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "torch": torch.__version__,
    }

    table = Table(title=f"{args.model} on MovieLens-100K, test, mean ± std over seeds {args.seeds} (paired to none)")
    for column in ("group", "users", "variant", "NDCG@10", "vs none", "HR@10", "vs none"):
        table.add_column(column, justify="right")
    for group, entry in result["metrics"].items():
        for variant in variants:
            if variant not in entry:
                continue
            cells = []
            for metric in ("NDCG@10", "HR@10"):
                m = entry[variant][metric]
                relative = m["relative_to_none"]
                cells += [
                    f"{m['mean']:.4f} ± {m['std']:.4f}",
                    f"{m['diff_to_none_mean']:+.4f} ± {m['diff_to_none_std']:.4f}"
                    + (f" ({relative:+.1%}, {m['seeds_above_none']}/{len(seeds)})" if relative is not None else ""),
                ]
            table.add_row(group, str(entry["users"]), variant, *cells)
    Console(width=160).print(table)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"profile_alignment-{args.model}-{args.align_kind}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
