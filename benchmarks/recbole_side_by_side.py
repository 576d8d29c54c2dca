"""RecBole's SASRec and `curator train` on the same data, one after the other in one run.

    python benchmarks/recbole_side_by_side.py            # MovieLens-100K, seed 0
    python benchmarks/recbole_side_by_side.py --smoke    # one epoch each: both sides run, no figures to keep
    python benchmarks/recbole_side_by_side.py --rescore MODEL.pth   # the saved RecBole model of the result, again

RecBole 1.2.1 cannot share curator's environment (it pins numpy < 2, pandas < 2.3, scipy < 1.14 and imports
pkg_resources, gone from setuptools 81), so it gets a virtualenv of its own under the curator cache
(`--venv`, made on first use: torch 2.13.0 first, then RecBole and its pins). Only the data crosses, as the atomic
files `curator data export --format recbole` writes. Each side trains in a process of its own (peak memory is the
process's), SASRec with full cross-entropy over all items, 50 most recent items, batch 256, 2 blocks, 1 head,
64 dims, dropout 0.1, Adam 1e-3, early stopping on validation NDCG@10 (patience 5).

Reported per side: wall seconds from the start of training to the end of the validation of the best epoch, the
whole process's wall seconds, the best epoch, test HR@10 / NDCG@10 as that tool computes them (curator ranks all
items but the user's earlier ones, ties counted against the model; RecBole's sequential full ranking keeps the
user's earlier items among the candidates and counts ties for the model), RecBole's model also under curator's
rules (the same protocol for both), and the peak resident memory. The goal this checks (issue 32): curator
reaches its best validation >= 10x sooner at an equal or better test NDCG@10 (under one protocol). Figures only
count from an otherwise idle machine. Writes benchmarks/results/recbole_side_by_side.json (with --smoke: nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "recbole_side_by_side.json"
RECBOLE_PINS = ["recbole==1.2.1", "numpy<2", "pandas<2.3", "scipy<1.14", "setuptools<81"]
TORCH = "torch==2.13.0"
DATA_NAME = "ml-100k"

# One set of hyper-parameters for both sides (RecBole's names on the left are its config keys).
MAX_LEN, BATCH, HIDDEN, LAYERS, HEADS, DROPOUT, LR, PATIENCE = 50, 256, 64, 2, 1, 0.1, 1e-3, 5

# Runs inside RecBole's virtualenv: argv[1] is a JSON of the settings; prints one JSON line of results.
RECBOLE_RUNNER = """
import json, resource, sys, time
from collections import defaultdict
import torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.model.sequential_recommender import SASRec
from recbole.quick_start import load_data_and_model
from recbole.trainer import Trainer
from recbole.utils import init_seed


def own_protocol(result):
    # RecBole's test figures as its Trainer.evaluate reports them
    return {"HR@10": float(result["hit@10"]), "NDCG@10": float(result["ndcg@10"])}


@torch.no_grad()
def curator_protocol(model, dataset, test):
    # Test HR@10 / NDCG@10 under curator's rules: every other item of the user filtered out, ties counted against
    # the model (RecBole's sequential full ranking filters nothing and counts ties for it)
    uid, iid = dataset.uid_field, dataset.iid_field
    seen = defaultdict(set)
    for user, item in zip(dataset.inter_feat[uid].tolist(), dataset.inter_feat[iid].tolist()):
        seen[user].add(item)
    hits = gains = users = 0.0
    model.eval()
    for interaction, _, rows, targets in test:
        scores = model.full_sort_predict(interaction.to(model.device)).view(len(rows), -1).cpu()  # (B, items)
        scores[:, 0] = -float("inf")  # the padding item
        for row, (user, target) in enumerate(zip(interaction[uid].tolist(), targets.tolist())):
            scores[row, list(seen[user] - {target})] = -float("inf")
        wanted = scores[rows, targets][:, None]
        rank = (scores > wanted).sum(1) + (scores == wanted).sum(1)  # 1 = first
        hits += float((rank <= 10).sum())
        gains += float(((rank <= 10) / torch.log2(rank + 1.0)).sum())
        users += len(rows)
    return {"HR@10": hits / users, "NDCG@10": gains / users}


settings = json.loads(sys.argv[1])
if settings.get("rescore"):  # the saved best model of an earlier run, scored again; no training
    config, model, dataset, train, valid, test = load_data_and_model(settings["rescore"])
    config.compatibility_settings()  # numpy's removed aliases (np.float, ...) that Config() restores, unpickling not
    result = Trainer(config, model).evaluate(test, load_best_model=False, show_progress=False)
    print(json.dumps({"test": own_protocol(result), "test_curator_protocol": curator_protocol(model, dataset, test)}))
    sys.exit()
config = Config(model="SASRec", dataset=settings["dataset"], config_dict=settings["config"])
init_seed(config["seed"], config["reproducibility"])
dataset = create_dataset(config)
train, valid, test = data_preparation(config, dataset)
model = SASRec(config, train.dataset).to(config["device"])
trainer = Trainer(config, model)
epochs = []
started = time.monotonic()
trainer.fit(train, valid, saved=True, show_progress=False,
            callback_fn=lambda epoch, score: epochs.append((epoch + 1, float(score), time.monotonic() - started)))
best = max(epochs, key=lambda e: e[1])  # the first epoch with the best validation NDCG@10
result = trainer.evaluate(test, load_best_model=True, show_progress=False)
print(json.dumps({
    "best_epoch": best[0], "epochs": len(epochs), "seconds_to_best": best[2], "valid_ndcg10": best[1],
    "test": own_protocol(result),
    "test_curator_protocol": curator_protocol(trainer.model, dataset, test),
    "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "saved_model": trainer.saved_model_file,
}))
"""


def recbole_venv(folder: Path) -> Path:
    """The python of RecBole's virtualenv in `folder`, made on first use."""
    python = folder / "bin" / "python"
    if (folder / ".installed").is_file():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, TORCH], check=True)  # first: RecBole's `torch>=1.10` must not pull another build
    subprocess.run([*pip, *RECBOLE_PINS], check=True)
    (folder / ".installed").touch()
    return python


def export_movielens(work: Path) -> Path:
    """MovieLens-100K imported by curator and exported as RecBole atomic files: the folder RecBole reads."""
    dataset, atomic = work / DATA_NAME, work / "atomic"
    curator = [sys.executable, "-m", "curator"]
    if not (dataset / "manifest.json").is_file():
        subprocess.run([*curator, "data", "import", "movielens-100k", "--out", str(dataset)], check=True)
    if not (atomic / DATA_NAME / f"{DATA_NAME}.inter").is_file():
        subprocess.run(
            [*curator, "data", "export", str(dataset), "--format", "recbole", "--name", DATA_NAME]
            + ["--out", str(atomic / DATA_NAME), "--overwrite"],
            check=True,
        )
    return atomic


def recbole_process(python: Path, work: Path, settings: dict) -> dict:
    """RECBOLE_RUNNER in RecBole's virtualenv, in `work`: its JSON line, and the process's wall seconds."""
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}  # RecBole's own torch.load of its checkpoint
    started = time.monotonic()
    # In `work`: RecBole writes its logs (log/, log_tensorboard/) into the folder it runs in.
    done = subprocess.run(
        [str(python), "-c", RECBOLE_RUNNER, json.dumps(settings)], env=env, cwd=work, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"RecBole failed:\n{done.stderr[-4000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "process_seconds": time.monotonic() - started}


def run_recbole(python: Path, atomic: Path, work: Path, epochs: int, seed: int, device: str) -> dict:
    config = {
        "data_path": str(atomic),
        "checkpoint_dir": str(work / "recbole-saved"),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "MAX_ITEM_LIST_LENGTH": MAX_LEN,
        "train_batch_size": BATCH,
        "eval_batch_size": BATCH,
        "hidden_size": HIDDEN,
        "inner_size": 4 * HIDDEN,
        "n_layers": LAYERS,
        "n_heads": HEADS,
        "hidden_dropout_prob": DROPOUT,
        "attn_dropout_prob": DROPOUT,
        "learning_rate": LR,
        "epochs": epochs,
        "stopping_step": PATIENCE,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["Hit", "NDCG"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        "seed": seed,
        "reproducibility": True,
        "use_gpu": device == "cuda",
        "show_progress": False,
    }
    return recbole_process(python, work, {"dataset": DATA_NAME, "config": config})


def rescore(python: Path, work: Path, model_file: Path) -> None:
    """RESULT's RecBole side gains its saved best model's test figures under curator's protocol; its figures
    under RecBole's own are computed again and must be those RESULT holds (the same model)."""
    result = json.loads(RESULT.read_text())
    again = recbole_process(python, work, {"rescore": str(model_file)})
    if again["test"] != result["recbole"]["test"]:
        sys.exit(f"{model_file} is not the model of {RESULT}: test {again['test']} vs {result['recbole']['test']}")
    result["recbole"] |= {"test_curator_protocol": again["test_curator_protocol"], "saved_model": str(model_file)}
    RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"recbole under curator's protocol: {again['test_curator_protocol']}; wrote {RESULT}")


def curator_side(dataset: Path, out: Path, epochs: int, seed: int, device: str) -> dict:
    """`curator train` as a stage in this process, with the wall time at the end of every epoch's validation."""
    from curator.data import read_dataset
    from curator.run.progress import Silent
    from curator.run.stage import run_stage
    from curator.stages.train import TrainStage
    from curator.training import TrainOptions

    class EpochClock(Silent):
        def __init__(self):
            self.started, self.ends = time.monotonic(), []

        def log(self, line: str) -> None:  # one line per epoch, after its validation
            self.ends.append(time.monotonic() - self.started)

    options = TrainOptions(
        seeds=[seed], max_epochs=epochs, patience=PATIENCE, batch_size=BATCH, lr=LR, max_len=MAX_LEN,
        hidden=HIDDEN, layers=LAYERS, heads=HEADS, dropout=DROPOUT, device=device,
    )  # fmt: skip
    clock = EpochClock()
    summary = run_stage(TrainStage(read_dataset(dataset), options, out), overwrite=True, progress=clock).summary
    seed_result = summary["seeds"][0]
    best = seed_result["best_epoch"]
    return {
        "best_epoch": best,
        "epochs": seed_result["epochs"],
        "seconds_to_best": clock.ends[best - 1],
        "valid_ndcg10": seed_result["valid"]["NDCG@10"],
        "test": {"HR@10": seed_result["test"]["HR@10"], "NDCG@10": seed_result["test"]["NDCG@10"]},
        "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_curator(work: Path, epochs: int, seed: int, device: str) -> dict:
    args = ["--curator-side", "--work", str(work), "--epochs", str(epochs), "--seed", str(seed), "--device", device]
    started = time.monotonic()
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"curator train failed:\n{done.stderr[-4000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "process_seconds": time.monotonic() - started}


def main() -> None:
    from curator.llm.models import cache_root

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=cache_root() / "recbole-side-by-side", help="data and runs")
    parser.add_argument("--venv", type=Path, default=None, help="RecBole's virtualenv [default: CACHE/recbole-1.2.1]")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--smoke", action="store_true", help="one epoch each; nothing written")
    parser.add_argument("--rescore", type=Path, default=None, help="a saved RecBole model of the result: rescore it")
    parser.add_argument("--curator-side", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    epochs = 1 if args.smoke else args.epochs
    if args.curator_side:
        side = curator_side(args.work / DATA_NAME, args.work / "curator-run", epochs, args.seed, args.device)
        print(json.dumps(side))
        return

    args.work.mkdir(parents=True, exist_ok=True)
    python = recbole_venv(args.venv or cache_root() / "recbole-1.2.1")
    if args.rescore:
        rescore(python, args.work, args.rescore)
        return
    atomic = export_movielens(args.work)
    recbole = run_recbole(python, atomic, args.work, epochs, args.seed, args.device)
    curator = run_curator(args.work, epochs, args.seed, args.device)
    result = {
        "data": DATA_NAME,
        "seed": args.seed,
        "device": args.device,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "settings": {
            "max_len": MAX_LEN,
            "batch": BATCH,
            "hidden": HIDDEN,
            "layers": LAYERS,
            "heads": HEADS,
            "dropout": DROPOUT,
            "lr": LR,
            "patience": PATIENCE,
            "max_epochs": epochs,
        },  # fmt: skip
        "recbole": recbole,
        "curator": curator,
        "speedup_to_best": recbole["seconds_to_best"] / curator["seconds_to_best"],
        "command": " ".join(["python", "benchmarks/recbole_side_by_side.py", *sys.argv[1:]]),
    }
    for side in ("recbole", "curator"):
        r = result[side]
        print(
            f"{side:8} best epoch {r['best_epoch']:3d} of {r['epochs']:3d}, {r['seconds_to_best']:8.1f} s to best "
            f"validation, test HR@10 {r['test']['HR@10']:.4f} NDCG@10 {r['test']['NDCG@10']:.4f}, "
            f"peak {r['peak_memory_mib']:.0f} MiB"
        )
    ours = recbole["test_curator_protocol"]
    print(f"recbole under curator's protocol: test HR@10 {ours['HR@10']:.4f} NDCG@10 {ours['NDCG@10']:.4f}")
    print(f"time to best validation: curator {result['speedup_to_best']:.1f}x sooner")
    if not args.smoke:
        RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
