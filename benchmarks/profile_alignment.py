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

Reports test NDCG@10/HR@10 overall and on the tail (users whose target item has at most --tail-items training
interactions; users with at most --tail-users training interactions), each variant's mean ± std and its
paired difference to `none` per seed. Writes benchmarks/results/profile_alignment.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curator.data.dataset import Dataset, read_dataset
from curator.data.import_config import ImportConfig
from curator.llm.config import EngineConfig, generation_defaults
from curator.profile.config import PROFILE_FILE, STAGES, ProfileOptions
from curator.profile.output import in_dataset_order, write_profiled
from curator.run.stage import run_stage
from curator.stages.data_import import ImportStage
from curator.stages.profile import ProfileStage

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
    """`curator profile` on all of MovieLens-100K, resumed where an earlier invocation stopped; each
    invocation's wall time is recorded (a finished run is a no-op and records nothing)."""
    dataset = movielens(work)
    times_file = work / TIMES
    times = json.loads(times_file.read_text()) if times_file.is_file() else []
    started = time.perf_counter()
    result = run_stage(
        ProfileStage(dataset, ProfileOptions(), profile_engine(), work / PROFILED), resume=True, command=sys.argv
    )
    if not result.already_done:
        times.append(round(time.perf_counter() - started, 1))
        times_file.write_text(json.dumps(times))
    return {"counts": result.summary["counts"], "engine": result.summary["engine"], "seconds": times}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("profiles", "train", "all"), default="all")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-profile-alignment")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.phase in ("profiles", "all"):
        generated = generate_profiles(args.work)
        print(json.dumps(generated, indent=2))


if __name__ == "__main__":
    main()
