"""Interaction-noise baselines on MovieLens-100K with `curator inject` noise (EVALUATION.md section 2).

    python benchmarks/denoise_baselines.py                  # 10% uniform and 10% popularity noise, seed 0
    python benchmarks/denoise_baselines.py --noise 0.2 --seed 1

Every training interaction of the noisy dataset is scored by each baseline; the scores are compared
with the injected ground truth: AUROC, precision / recall / F1 at 0.5 / 0.7 / 0.9, ECE. The baselines'
scores are ranks, not calibrated probabilities, so their threshold metrics and ECE say where a raw score
lands, not what a calibrated detector would deliver at that threshold; AUROC is the fair comparison.
Prints a table and writes benchmarks/results/denoise_baselines.json.
"""

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from curator.data.dataset import Dataset
from curator.data.import_config import ImportConfig
from curator.denoise.baselines import BASELINES, baseline_scores
from curator.denoise.scores import noise_truth
from curator.evaluation.detection import DEFAULT_THRESHOLDS, detection_report
from curator.inject.config import NOISE_DISTRIBUTIONS, NOISE_LABELS, InjectConfig
from curator.run.stage import run_stage
from curator.stages.data_import import ImportStage
from curator.stages.inject import InjectStage

ROOT = Path(__file__).resolve().parents[1]


def measure(clean: Dataset, noise: float, distribution: str, seed: int, work: Path) -> list[dict]:
    config = InjectConfig(noise=noise, noise_dist=distribution, seed=seed)
    noisy = run_stage(InjectStage(clean, config, work / f"noisy-{distribution}"), command=sys.argv).dataset()
    labels = pq.read_table(noisy.path / NOISE_LABELS)
    results = []
    for name in BASELINES:
        started = time.perf_counter()
        scores = baseline_scores(noisy, name, seed=seed)
        seconds = time.perf_counter() - started
        truth = noise_truth(scores, labels)
        report = detection_report(truth, scores["score"].to_numpy())
        results.append({"noise_dist": distribution, "baseline": name, "seconds": round(seconds, 2), **report})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        clean = run_stage(ImportStage("movielens-100k", ImportConfig(), work / "ml-100k"), command=sys.argv).dataset()
        results = []
        for distribution in NOISE_DISTRIBUTIONS:
            results += measure(clean, args.noise, distribution, args.seed, work)

    table = Table(
        title=f"noise baselines on MovieLens-100K, {args.noise:g} of training interactions, seed "
        f"{args.seed} (raw scores, not calibrated: P/R/F1 and ECE describe raw-score cut-offs)"
    )
    for column in ("noise", "baseline", "AUROC", *(f"P/R/F1 @{t:g}" for t in DEFAULT_THRESHOLDS), "ECE", "s"):
        table.add_column(column, justify="right")
    for r in results:
        at = r["thresholds"]
        table.add_row(
            r["noise_dist"],
            r["baseline"],
            f"{r['auroc']:.3f}",
            *(
                f"{at[f'{t:g}']['precision']:.2f}/{at[f'{t:g}']['recall']:.2f}/{at[f'{t:g}']['f1']:.2f}"
                for t in DEFAULT_THRESHOLDS
            ),
            f"{r['ece']:.3f}",
            f"{r['seconds']:.1f}",
        )
    Console(width=160).print(table)

    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / "denoise_baselines.json"
    out.write_text(
        json.dumps(
            {
                "command": ["python", *sys.argv],
                "data": "movielens-100k (recbole bundle)",
                "noise": args.noise,
                "seed": args.seed,
                "calibrated": False,
                "machine": {"platform": platform.platform(), "processor": platform.processor()},
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
