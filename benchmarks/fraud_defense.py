"""Fake-user defense on MovieLens-100K (EVALUATION.md section 3): detection, target exposure, clean quality.

    python -P benchmarks/fraud_defense.py                               # seeds 1,2,3, full budget
    python -P benchmarks/fraud_defense.py --seeds 1 --epochs 20 --max-len 50   # reduced budget

For each seed, budget (fraction of fake users) and attack type, `curator inject` builds the attacked
data. Detection, leave-one-attack-out: the calibrator of `curator defend` is trained on simulated
attacks of the OTHER three types and evaluated on the attack it never saw; compared with the same
detector without its LLM-derived text signals, and with PCA-VarSelect (a ranking, not a probability).
The defended data (our detector, --action at --threshold) and the attacked data are each trained with
SASRec; so are the clean data and the clean data after the defense (calibrator trained on all four
types): a defense that removes real users costs clean quality.

Every model is evaluated on the real users only, on the same histories (train + validation of the
clean data) and test targets, items indexed by the catalog: HR@10 / NDCG@10, and T-HR@50 / T-NDCG@50 of
the attack's targets over the real users who never interacted with them.

Resumable and cached under --work: datasets, detections and trained runs (keyed by the content hash of
the trained data, the seed and the training budget: a defense that removes exactly the fakes gives back
the clean data, and its run is the clean run). Prints a table and writes --out (JSON), which records the
budget used.
"""

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from rich.console import Console
from rich.table import Table

from curator.data.dataset import Dataset, load_dataset
from curator.data.importers import import_dataset
from curator.evaluation.detection import DEFAULT_THRESHOLDS, detection_report
from curator.evaluation.targets import never_interacted, target_exposure
from curator.fraud.baselines import pca_suspicion
from curator.fraud.config import DefenseConfig, DetectorConfig
from curator.fraud.defend import defend
from curator.fraud.detector import detect
from curator.fraud.features_text import item_vectors
from curator.llm.embeddings import TextEmbedder
from curator.stages.inject import FAKE_USERS_LABELS, TARGETS_LABELS, InjectConfig, inject
from curator.stages.inject_attacks import ATTACKS
from curator.training import TrainOptions
from recsys.data import LeaveOneOut
from recsys.metrics import ranking_metrics, target_ranks
from recsys.scoring import score_matrix
from recsys.train import fit

ROOT = Path(__file__).resolve().parents[1]
DETECTORS = ("ours", "ours-no-text", "pca-varselect")
console = Console(width=200)


def cached_json(path: Path, compute):
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2))
    tmp.replace(path)
    return value


def catalog_sequences(dataset: Dataset) -> list[np.ndarray]:
    """Per user, 1-based indices into the items table (the same index in every variant of the data)."""
    index = pc.index_in(dataset.interactions["item_id"], dataset.items["item_id"].combine_chunks()).to_numpy() + 1
    return np.split(index.astype(np.int64), dataset.sequence_bounds()[1:-1])


class Trainer:
    """SASRec runs on dataset variants, evaluated on the clean data's real users."""

    def __init__(self, clean: Dataset, args, work: Path):
        self.args, self.work = args, work
        self.num_items = len(clean.items)
        sequences = catalog_sequences(clean)
        self.real_users = clean.users["user_id"].to_pylist()
        evaluated = [k for k, s in enumerate(sequences) if len(s) >= 3]
        self.histories = [sequences[k][:-1] for k in evaluated]  # train + validation: what the test sees
        self.tests = torch.tensor([sequences[k][-1] for k in evaluated])
        self.whole = [sequences[k] for k in evaluated]  # "never interacted" counts the test target too

    def options(self) -> TrainOptions:
        return TrainOptions(max_epochs=self.args.epochs, patience=self.args.patience, max_len=self.args.max_len)

    def run(self, dataset: Dataset, seed: int, targets: list[str]) -> dict:
        """HR/NDCG@10 of the real users' test targets and target exposure, for the model trained on
        `dataset` with `seed` (cached by data hash, seed and budget)."""
        key = f"{dataset.content_hash[:16]}-s{seed}-e{self.args.epochs}-p{self.args.patience}-l{self.args.max_len}"
        run_dir = self.work / "runs" / key
        scores_file = run_dir / "scores.pt"
        if scores_file.exists():
            scores, meta = torch.load(scores_file)
        else:
            scores, meta = self._train(dataset, seed, run_dir)
            torch.save((scores, meta), scores_file)
        items = dataset.items["item_id"].to_pylist()
        columns = [items.index(target) + 1 for target in targets]
        ranks = target_ranks(scores, self.tests).numpy()
        quality = {k: v for k, v in ranking_metrics(ranks, (10,)).items() if not k.startswith("MRR")}
        exposure = target_exposure(scores, columns, never_interacted(self.whole, columns))
        return {**quality, **exposure, **meta}

    def _train(self, dataset: Dataset, seed: int, run_dir: Path):
        weights = dataset.users["weight"].to_numpy().astype(np.float32)
        split = LeaveOneOut(catalog_sequences(dataset), self.num_items, weights)
        options = self.options()
        model = options.build_model(self.num_items, seed)
        config = options.train_config(seed)
        console.log(f"training {run_dir.name} ({len(dataset.users)} users)")
        result = fit(model, split, config, run_dir, resume=True)
        meta = {"best_epoch": result.best_epoch, "epochs": len(result.history),
                "seconds_per_epoch": result.seconds_per_epoch}
        return score_matrix(model, self.histories, options.max_len), meta


def detection_results(attacked: Dataset, truth: np.ndarray, attack: str, seed: int, vectors: np.ndarray,
                      defense: DefenseConfig, defended_dir: Path) -> dict:
    others = tuple(a for a in ATTACKS if a != attack)
    results = {}
    started = time.perf_counter()
    defended = defend(attacked, DetectorConfig(attacks=others, seed=seed), defense, vectors, defended_dir,
                      command=sys.argv, embedding_model="all-MiniLM-L6-v2", overwrite=True)
    results["ours"] = {**detection_report(truth, defended.detection.probability, thresholds=DEFAULT_THRESHOLDS),
                       "estimated_prior": defended.detection.prior, "seconds": time.perf_counter() - started}
    started = time.perf_counter()
    ablation = detect(attacked, DetectorConfig(attacks=others, use_text=False, seed=seed), None)
    results["ours-no-text"] = {**detection_report(truth, ablation.probability), "estimated_prior": ablation.prior,
                               "seconds": time.perf_counter() - started}
    results["pca-varselect"] = detection_report(truth, pca_suspicion(attacked, seed))
    for report in results.values():
        del report["reliability"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--budgets", default="0.01,0.05")
    parser.add_argument("--attacks", default=",".join(ATTACKS))
    parser.add_argument("--targets", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--action", default="drop", choices=("drop", "reweight"))
    parser.add_argument("--epochs", type=int, default=200, help="most training epochs of a SASRec run")
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-fraud")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fraud_defense.json")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    budgets = [float(b) for b in args.budgets.split(",")]
    attacks = args.attacks.split(",")
    defense = DefenseConfig(user_threshold=args.threshold, action=args.action)
    work = args.work

    clean_dir = work / "data" / "ml-100k"
    clean = load_dataset(clean_dir) if (clean_dir / "manifest.json").exists() else \
        import_dataset("movielens-100k", clean_dir, command=sys.argv)
    vectors_file = work / "item_vectors.npy"
    if not vectors_file.exists():
        np.save(vectors_file, item_vectors(clean, TextEmbedder()))
    vectors = np.load(vectors_file)
    trainer = Trainer(clean, args, work)

    rows = []
    for seed in seeds:
        clean_defended_dir = work / "data" / f"clean-defended-{args.action}-s{seed}"
        if not (clean_defended_dir / "manifest.json").exists():
            defend(clean, DetectorConfig(seed=seed), defense, vectors, clean_defended_dir, command=sys.argv,
                   embedding_model="all-MiniLM-L6-v2", overwrite=True)
        clean_defended = load_dataset(clean_defended_dir)
        dropped_or_reweighted = len(pq.read_table(clean_defended_dir / "ledger.parquet")["user_id"].unique())
        for budget in budgets:
            for attack in attacks:
                name = f"{attack}-{budget:g}-s{seed}"
                attacked_dir = work / "data" / name
                attacked = load_dataset(attacked_dir) if (attacked_dir / "manifest.json").exists() else inject(
                    clean, InjectConfig(attack=attack, fake_users=budget, targets=args.targets, seed=seed),
                    attacked_dir, command=sys.argv)[0]
                fakes = set(pq.read_table(attacked_dir / FAKE_USERS_LABELS)["user_id"].to_pylist())
                targets = pq.read_table(attacked_dir / TARGETS_LABELS)["item_id"].to_pylist()
                truth = np.isin(attacked.users["user_id"].to_pylist(), list(fakes))
                defended_dir = work / "data" / f"{name}-defended-{args.action}"
                detection = cached_json(
                    work / "detection" / f"{name}-{args.action}-t{args.threshold:g}.json",
                    lambda: detection_results(attacked, truth, attack, seed, vectors, defense, defended_dir))
                training = {
                    "clean": trainer.run(clean, seed, targets),
                    "clean-defended": trainer.run(clean_defended, seed, targets),
                    "attacked": trainer.run(attacked, seed, targets),
                    "defended": trainer.run(load_dataset(defended_dir), seed, targets),
                }
                rows.append({"seed": seed, "budget": budget, "attack": attack, "fake_users": len(fakes),
                             "targets": targets, "unseen_attack": attack, "detection": detection,
                             "training": training, "clean_defense_touched_users": dropped_or_reweighted})
                write(args, rows)
    print_table(rows)


def mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def print_table(rows: list[dict]) -> None:
    table = Table(title="fake-user defense, MovieLens-100K, SASRec (means over seeds); detection: calibrator "
                        "never saw the attack type (leave-one-attack-out)")
    for column in ("budget", "attack", *(f"AUROC {d}" for d in DETECTORS), "ours P/R/F1 @0.5",
                   "T-HR@50 clean/attacked/defended", "NDCG@10 clean/defended (clean data)",
                   "NDCG@10 attacked/defended"):
        table.add_column(column, justify="right")
    groups = sorted({(r["budget"], r["attack"]) for r in rows}, key=lambda g: (g[0], ATTACKS.index(g[1])))
    for budget, attack in groups:
        group = [r for r in rows if (r["budget"], r["attack"]) == (budget, attack)]
        detection = lambda d, key: mean([r["detection"][d][key] for r in group])  # noqa: E731
        at = lambda key: mean([r["detection"]["ours"]["thresholds"]["0.5"][key] for r in group])  # noqa: E731
        train = lambda variant, key: mean([r["training"][variant][key] for r in group])  # noqa: E731
        table.add_row(
            f"{budget:g}", attack, *(f"{detection(d, 'auroc'):.3f}" for d in DETECTORS),
            f"{at('precision'):.2f}/{at('recall'):.2f}/{at('f1'):.2f}",
            "/".join(f"{train(v, 'T-HR@50'):.4f}" for v in ("clean", "attacked", "defended")),
            "/".join(f"{train(v, 'NDCG@10'):.4f}" for v in ("clean", "clean-defended")),
            "/".join(f"{train(v, 'NDCG@10'):.4f}" for v in ("attacked", "defended")),
        )
    console.print(table)


def write(args, rows: list[dict]) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": ["python", *sys.argv],
        "data": "movielens-100k (recbole bundle)",
        "budget": {"seeds": args.seeds, "seeds_done": sorted({r["seed"] for r in rows}), "fake_user_budgets": args.budgets, "attacks": args.attacks,
                   "targets": args.targets, "sasrec_max_epochs": args.epochs, "patience": args.patience,
                   "max_len": args.max_len, "full_budget": args.epochs >= 200 and args.max_len >= 200},
        "defense": {"threshold": args.threshold, "action": args.action},
        "protocol": "detection leave-one-attack-out: the calibrator is trained on simulated attacks of the "
                    "other three types; SASRec metrics over the real users of the clean data, test targets "
                    "of the clean data; T-HR/T-NDCG@50 over real users who never interacted with a target",
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "train_options": asdict(TrainOptions(max_epochs=args.epochs, patience=args.patience, max_len=args.max_len)),
        "rows": rows,
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
