"""Fake-user defense on MovieLens-100K (EVALUATION.md section 3): detection, target exposure, clean quality.

    python -P benchmarks/fraud_defense.py                               # seeds 1,2,3, full budget
    python -P benchmarks/fraud_defense.py --seeds 1 --epochs 40 --patience 3 --max-len 50   # reduced budget
    python -P benchmarks/fraud_defense.py --detect-only   # detection alone: fraud_defense-detection.json
    python -P benchmarks/fraud_defense.py --seeds 1 --budgets 0.01 --model-seed-offsets 0,1000,2000  # 3 SASRec seeds

For each seed, budget (fraction of fake users) and attack type, `curator inject` builds the attacked
data. Our detector's evidence includes every LLM-derived signal: text coherence of the items (MiniLM
embeddings of the item text) and the LLM denoiser's noise probabilities (shipped denoise-ml100k adapter
on SmolLM2-135M). Detection, leave-one-attack-out: the calibrator is trained on simulated attacks of the
OTHER three types and evaluated on the attack it never saw; compared with the same detector without its
text input, without its denoiser input and without both (no LLM-derived input), and with PCA-VarSelect
(a ranking, not a probability). The defense is what `curator defend --user-threshold` does (calibrator
trained on all four simulated types, whose fakes promote targets of the simulation's own choosing: the p(fake)
gate, not the default --fdr decision, which benchmarks/fraud_unseen_kinds.py measures), with --threshold
and each action (drop, reweight); SASRec is trained on the attacked and on each defended data, and on
the clean data with and without the same defense: a defense that removes real users costs clean quality.

Every model is evaluated on the real users only, on the same histories (train + validation of the
clean data) and test targets, items indexed by the catalog: HR@10 / NDCG@10, and T-HR@50 / T-NDCG@50 of
the attack's targets over the real users who never interacted with them.

Resumable and cached under --work: datasets, detections and trained runs (keyed by the content hash of
the trained data, the seed and the training budget: a defense that removes exactly the fakes gives back
the clean data, and its run is the clean run). Prints a table and writes --out (JSON), which records the
budget used. Seeds (and model-seed offsets) can run in separate processes (same --work, own --out); a last
run over all of them then only reads the caches and writes the combined JSON.
"""

import argparse
import json
import platform
import sys
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from rich.console import Console
from rich.table import Table

from curator.data.atomic import atomic_output_dir
from curator.data.dataset import Dataset, read_dataset
from curator.data.import_config import ImportConfig
from curator.denoise.config import DEFAULT_ADAPTER
from curator.denoise.denoiser import trained_quant
from curator.devices import DEVICE_CHOICES
from curator.evaluation.detection import detection_report
from curator.evaluation.targets import never_interacted, target_exposure
from curator.fraud.baselines import pca_suspicion
from curator.fraud.calibrator import fit_calibrator, simulate_attacks
from curator.fraud.config import FRAUD_ACTIONS, SIMULATED_ATTACKS, DefenseConfig, DetectorConfig
from curator.fraud.defense import write_defended
from curator.fraud.denoiser_signal import DenoiserSignal
from curator.fraud.detector import Detection, judge
from curator.fraud.evidence import SIGNAL_INPUT, TEXT_INPUT, Evidence, user_evidence
from curator.fraud.features_text import item_vectors
from curator.inject.config import ATTACKS, FAKE_USERS_LABELS, TARGETS_LABELS, InjectConfig
from curator.llm.adapters import adapter_folder
from curator.llm.config import EngineConfig
from curator.llm.embeddings import TextEmbedder
from curator.run.stage import run_stage
from curator.stages.data_import import ImportStage
from curator.stages.inject import InjectStage
from curator.training import TrainOptions
from recsys.data import LeaveOneOut
from recsys.metrics import ranking_metrics, target_ranks
from recsys.scoring import score_matrix
from recsys.train import fit

ROOT = Path(__file__).resolve().parents[1]
# unseen-type variants: our detector without some of its LLM-derived inputs (the text input, from the
# MiniLM vectors of the items; the signal input, from the LLM denoiser, the one external signal here)
ABLATIONS = {
    "ours": (),
    "ours-no-text": (TEXT_INPUT,),
    "ours-no-denoiser": (SIGNAL_INPUT,),
    "ours-no-llm": (TEXT_INPUT, SIGNAL_INPUT),
}
DETECTORS = (*ABLATIONS, "pca-varselect", "ours-all-types")
EMBEDDING_MODEL = "all-MiniLM-L6-v2"
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


def train_options(args) -> TrainOptions:
    return TrainOptions(max_epochs=args.epochs, patience=args.patience, max_len=args.max_len, device=args.device)


class Trainer:
    """SASRec runs on dataset variants, evaluated on the clean data's real users."""

    def __init__(self, clean: Dataset, args, work: Path):
        self.args, self.work = args, work
        self.model_seed_offsets = [int(offset) for offset in args.model_seed_offsets.split(",")]
        self.num_items = len(clean.items)
        sequences = catalog_sequences(clean)
        self.real_users = clean.users["user_id"].to_pylist()
        evaluated = [k for k, s in enumerate(sequences) if len(s) >= 3]
        self.histories = [sequences[k][:-1] for k in evaluated]  # train + validation: what the test sees
        self.tests = torch.tensor([sequences[k][-1] for k in evaluated])
        self.whole = [sequences[k] for k in evaluated]  # "never interacted" counts the test target too

    def options(self) -> TrainOptions:
        return train_options(self.args)

    def run(self, dataset: Dataset, seed: int, targets: list[str]) -> dict:
        """HR/NDCG@10 of the real users' test targets and target exposure, for the model trained on
        `dataset` with `seed` plus each --model-seed-offsets, averaged; with several offsets, each run
        too under "runs"."""
        runs = [self._run_once(dataset, seed + offset, targets) for offset in self.model_seed_offsets]
        averaged = {key: mean([run[key] for run in runs]) for key in runs[0]}  # None: no target measured
        return {**averaged, "runs": runs} if len(runs) > 1 else runs[0]

    def _run_once(self, dataset: Dataset, seed: int, targets: list[str]) -> dict:
        """One trained model (cached by data hash, seed and budget)."""
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
        meta = {
            "best_epoch": result.best_epoch,
            "epochs": len(result.history),
            "seconds_per_epoch": result.seconds_per_epoch,
        }
        return score_matrix(model, self.histories, options.max_len), meta


class Detector:
    """Our detector on one dataset: the simulations and the data's evidence computed once, with every
    signal (LLM-derived ones included); calibrators fitted on subsets of the simulated types, and
    without the LLM-derived inputs for the ablation."""

    def __init__(self, dataset: Dataset, seed: int, vectors: np.ndarray, denoiser: DenoiserSignal):
        config = DetectorConfig(seed=seed)
        self.dataset, self.seed = dataset, seed
        self.simulations = simulate_attacks(dataset, config, vectors, (denoiser,))
        self.evidence = user_evidence(dataset, vectors, (denoiser,), seed)

    def judge(self, attacks: tuple[str, ...], without: tuple[str, ...] = ()) -> Detection:
        """p(fake) from a calibrator that learned from the simulated `attacks`, not reading the inputs
        `without`."""

        def inputs(evidence: Evidence) -> Evidence:
            names = [name for name in evidence.inputs.names if name not in without]
            return Evidence(evidence.features, evidence.inputs.select(names))

        simulations = [replace(s, evidence=inputs(s.evidence)) for s in self.simulations if s.attack in attacks]
        return judge(self.dataset, fit_calibrator(simulations, self.seed), inputs(self.evidence))


def write_defenses(
    dataset: Dataset, detection: Detection, seed: int, defense: DefenseConfig, out: dict[str, Path]
) -> None:
    """The defended data for each action, from our detector as `curator defend` runs it."""
    for action, folder in out.items():
        with atomic_output_dir(folder, overwrite=True) as staging:
            write_defended(
                staging,
                dataset,
                detection,
                DetectorConfig(seed=seed),
                replace(defense, action=action),
                name=folder.name,
                command=sys.argv,
                embedding_model=EMBEDDING_MODEL,
            )


def detection_results(detector: Detector, shipped: Detection, truth: np.ndarray, attack: str) -> dict:
    others = tuple(a for a in ATTACKS if a != attack)
    detections = {name: detector.judge(others, without) for name, without in ABLATIONS.items()}
    results = {
        name: {**detection_report(truth, d.probability), "estimated_prior": d.prior} for name, d in detections.items()
    }
    results["pca-varselect"] = detection_report(truth, pca_suspicion(detector.dataset, detector.seed))
    results["ours-all-types"] = {**detection_report(truth, shipped.probability), "estimated_prior": shipped.prior}
    for report in results.values():
        del report["reliability"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--budgets", default="0.01,0.05")
    parser.add_argument("--attacks", default=",".join(SIMULATED_ATTACKS), help=f"of {','.join(ATTACKS)}")
    parser.add_argument("--targets", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=200, help="most training epochs of a SASRec run")
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="where SASRec trains")
    parser.add_argument(
        "--clean-seeds",
        default="",
        help="more seeds for the clean-data cost alone (the clean "
        "data and its defended copies; the seeds of --seeds count too): it is the noisiest figure",
    )
    parser.add_argument(
        "--model-seed-offsets",
        default="0",
        help="every SASRec run is trained with the data's seed "
        "plus each of these, and its metrics averaged: at 1%% fakes the targets' pre-attack exposure "
        "is a hit or two per seed, which one model cannot measure to within 10%%",
    )
    parser.add_argument(
        "--detect-only",
        action="store_true",
        help="only the detections and the defended data (cached in --work): e.g. on this CPU, "
        "then the training where there is a GPU",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-fraud")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the JSON written (default: benchmarks/results/"
        "fraud_defense.json, or fraud_defense-detection.json with --detect-only)",
    )
    args = parser.parse_args()
    args.out = args.out or ROOT / "benchmarks" / "results" / (
        "fraud_defense-detection.json" if args.detect_only else "fraud_defense.json"
    )
    seeds = [int(s) for s in args.seeds.split(",")]
    clean_seeds = sorted(set(seeds) | {int(s) for s in args.clean_seeds.split(",") if s})
    budgets = [float(b) for b in args.budgets.split(",")]
    attacks = args.attacks.split(",")
    defense = DefenseConfig(fdr=None, user_threshold=args.threshold)
    work = args.work

    clean_dir = work / "data" / "ml-100k"
    clean = run_stage(ImportStage("movielens-100k", ImportConfig(), clean_dir), command=sys.argv).dataset()
    vectors_file = work / "item_vectors.npy"
    if not vectors_file.exists():
        np.save(vectors_file, item_vectors(clean, TextEmbedder()))
    vectors = np.load(vectors_file)
    trainer = Trainer(clean, args, work)
    # loads the LLM on its first use: a rerun over cached results never needs it
    engine = EngineConfig(quant=trained_quant(adapter_folder(DEFAULT_ADAPTER)))
    denoiser = DenoiserSignal(clean, DEFAULT_ADAPTER, engine)

    def defended_folders(name: str) -> dict[str, Path]:
        return {action: work / "data" / f"{name}-defended-{action}" for action in FRAUD_ACTIONS}

    def defended(name: str, dataset: Dataset, seed: int) -> dict[str, Dataset]:
        folders = defended_folders(name)
        if not all((folder / "manifest.json").exists() for folder in folders.values()):
            write_defenses(dataset, Detector(dataset, seed, vectors, denoiser).judge(ATTACKS), seed, defense, folders)
        return {action: read_dataset(folder) for action, folder in folders.items()}

    def clean_cost(seed: int) -> dict:
        """NDCG@10 of the clean data and of its defended copies, all trained with `seed`."""
        variants = defended(f"clean-s{seed}", clean, seed)
        quality = {
            "clean": trainer.run(clean, seed, [])["NDCG@10"],
            **{action: trainer.run(d, seed, [])["NDCG@10"] for action, d in variants.items()},
        }
        return {"seed": seed, "touched_users": touched_users(variants), "NDCG@10": quality}

    rows = []
    for seed in seeds:
        clean_defended = defended(f"clean-s{seed}", clean, seed)
        touched = touched_users(clean_defended)
        for budget in budgets:
            for attack in attacks:
                name = f"{attack}-{budget:g}-s{seed}"
                attacked_dir = work / "data" / name
                config = InjectConfig(attack=attack, fake_users=budget, targets=args.targets, seed=seed)
                attacked = run_stage(InjectStage(clean, config, attacked_dir), command=sys.argv).dataset()
                fakes = set(pq.read_table(attacked_dir / FAKE_USERS_LABELS)["user_id"].to_pylist())
                targets = pq.read_table(attacked_dir / TARGETS_LABELS)["item_id"].to_pylist()
                truth = np.isin(attacked.users["user_id"].to_pylist(), list(fakes))

                def detect_and_defend(attacked=attacked, seed=seed, name=name, truth=truth, attack=attack):
                    detector = Detector(attacked, seed, vectors, denoiser)
                    shipped = detector.judge(ATTACKS)
                    write_defenses(attacked, shipped, seed, defense, defended_folders(name))
                    return detection_results(detector, shipped, truth, attack)

                detection = cached_json(work / "detection" / f"{name}.json", detect_and_defend)
                attacked_defended = defended(name, attacked, seed)  # written above, or by an earlier run
                training = None
                if not args.detect_only:
                    training = {
                        "clean": trainer.run(clean, seed, targets),
                        "attacked": trainer.run(attacked, seed, targets),
                    }
                    for action in FRAUD_ACTIONS:
                        training[f"clean-defended-{action}"] = trainer.run(clean_defended[action], seed, targets)
                        training[f"defended-{action}"] = trainer.run(attacked_defended[action], seed, targets)
                rows.append(
                    {
                        "seed": seed,
                        "budget": budget,
                        "attack": attack,
                        "fake_users": len(fakes),
                        "targets": targets,
                        "unseen_attack": attack,
                        "detection": detection,
                        "training": training,
                        "clean_defense_touched_users": touched,
                    }
                )
                write(args, rows, [])
    if args.detect_only:
        for seed in clean_seeds:
            defended(f"clean-s{seed}", clean, seed)
        print_table(rows)
        return
    clean_costs = [clean_cost(seed) for seed in clean_seeds]
    write(args, rows, clean_costs)
    print_table(rows)
    print_clean_costs(clean_costs)


def touched_users(variants: dict[str, Dataset]) -> dict[str, int]:
    """Per action, how many users the defense edited (its ledger's users)."""
    return {action: len(pq.read_table(d.path / "ledger.parquet")["user_id"].unique()) for action, d in variants.items()}


def mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def group_mean(group: list[dict], *path: str) -> float | None:
    """The mean over the rows of `group` of the value at `path` (keys, outermost first)."""
    values = []
    for row in group:
        for key in path:
            row = row[key]
        values.append(row)
    return mean(values)


def print_table(rows: list[dict]) -> None:
    """Detection, and (unless the rows come from --detect-only) exposure and quality, per budget and attack."""
    trained = all(r["training"] is not None for r in rows)
    table = Table(
        title="fake-user defense, MovieLens-100K, SASRec (means over seeds). Detection: AUROC with "
        "the attack type unseen by the calibrator (leave-one-attack-out), and of the defense as "
        "shipped (all four types simulated), whose P/R @0.5 and decisions the defense uses"
    )
    columns = ["budget", "attack", *(f"AUROC {d}" for d in DETECTORS), "all-types P/R @0.5"]
    if trained:
        columns += [
            "T-HR@50 clean/attacked",
            *(f"T-HR@50 {a}" for a in FRAUD_ACTIONS),
            "NDCG@10 clean",
            *(f"clean NDCG@10 {a} (rel.)" for a in FRAUD_ACTIONS),
            "NDCG@10 attacked",
            *(f"NDCG@10 {a}" for a in FRAUD_ACTIONS),
        ]
    for column in columns:
        table.add_column(column, justify="right")
    groups = sorted({(r["budget"], r["attack"]) for r in rows}, key=lambda g: (g[0], ATTACKS.index(g[1])))
    for budget, attack in groups:
        group = [r for r in rows if (r["budget"], r["attack"]) == (budget, attack)]
        detection = partial(group_mean, group, "detection")  # detection(detector, metric)
        at = partial(group_mean, group, "detection", "ours-all-types", "thresholds", "0.5")  # at(metric)
        cells = [
            f"{budget:g}",
            attack,
            *(f"{detection(d, 'auroc'):.3f}" for d in DETECTORS),
            f"{at('precision'):.2f}/{at('recall'):.2f}",
        ]
        if trained:
            train = partial(group_mean, group, "training")  # train(variant, metric)
            clean = train("clean", "NDCG@10")
            cells += [
                "/".join(f"{train(v, 'T-HR@50'):.4f}" for v in ("clean", "attacked")),
                *(f"{train(f'defended-{a}', 'T-HR@50'):.4f}" for a in FRAUD_ACTIONS),
                f"{clean:.4f}",
                *(
                    f"{defended:.4f} ({defended / clean - 1:+.1%})"
                    for defended in (train(f"clean-defended-{a}", "NDCG@10") for a in FRAUD_ACTIONS)
                ),
                f"{train('attacked', 'NDCG@10'):.4f}",
                *(f"{train(f'defended-{a}', 'NDCG@10'):.4f}" for a in FRAUD_ACTIONS),
            ]
        table.add_row(*cells)
    console.print(table)


def relative_clean_costs(clean_costs: list[dict]) -> dict[str, dict[str, float]]:
    """Per action, mean and std over seeds of defended / undefended clean NDCG@10 - 1."""
    out = {}
    for action in FRAUD_ACTIONS:
        changes = [c["NDCG@10"][action] / c["NDCG@10"]["clean"] - 1 for c in clean_costs]
        out[action] = {"mean": float(np.mean(changes)), "std": float(np.std(changes)), "seeds": len(changes)}
    return out


def print_clean_costs(clean_costs: list[dict]) -> None:
    summary = relative_clean_costs(clean_costs)
    console.print(
        "clean NDCG@10 through the defense, relative to the undefended clean run (same seed), over "
        f"{len(clean_costs)} seeds: "
        + ", ".join(f"{action} {s['mean']:+.1%} ± {s['std']:.1%}" for action, s in summary.items())
    )


def write(args, rows: list[dict], clean_costs: list[dict]) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": ["python", *sys.argv],
        "data": "movielens-100k (recbole bundle)",
        "budget": {
            "seeds": args.seeds,
            "seeds_done": sorted({r["seed"] for r in rows}),
            "fake_user_budgets": args.budgets,
            "attacks": args.attacks,
            "targets": args.targets,
            "sasrec_max_epochs": args.epochs,
            "patience": args.patience,
            "max_len": args.max_len,
            "model_seed_offsets": args.model_seed_offsets,
            "full_budget": args.epochs >= 200 and args.max_len >= 200,
            "detect_only": args.detect_only,
        },
        "defense": {
            "threshold": args.threshold,
            "actions": list(FRAUD_ACTIONS),
            "detector": "as curator defend runs it: calibrator trained on all four simulated types "
            "(targets of the simulation's own choosing)",
        },
        "protocol": "detection AUROC leave-one-attack-out: the calibrator is trained on simulated attacks of "
        "the other three types (ours and its ablations); ours-all-types and the defense: all four types; "
        "SASRec metrics over the real users of the clean data, test targets of the clean data; "
        "T-HR/T-NDCG@50 over real users who never interacted with a target",
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "train_options": asdict(train_options(args)),
        "rows": rows,
        "clean_cost": {"seeds": clean_costs, "relative": relative_clean_costs(clean_costs) if clean_costs else None},
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
