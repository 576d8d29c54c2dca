"""Denoising benchmark (EVALUATION.md section 2): detection against known noise, speed against a
generation-based detector, and what cleaning does to SASRec downstream.

    python -P benchmarks/denoise.py --part detection    # ML-100K uniform + popularity noise, Amazon Toys
    python -P benchmarks/denoise.py --part toys         # Toys: adapted on its train + valid windows, scored
                                                        # on the test windows (with and without the LLM part
                                                        # and the ID model: --variants)
    python -P benchmarks/denoise.py --part id-model     # the ID-model outlier alone (cross-fitted), against
                                                        # factor-window in the same run, ML-100K and Toys
    python -P benchmarks/denoise.py --part item-text    # ML-100K: the LLM part reading item fields vs LLM
                                                        # item profiles vs no LLM part, same recipe
    python -P benchmarks/denoise.py --part speed        # users/s: curator denoise vs generate-then-ground
    python -P benchmarks/denoise.py --part shares       # ML-100K with 0-20% noise: p at the adapter's
                                                        # share of noise vs restated at the estimated one
    python -P benchmarks/denoise.py --part downstream --threshold 0.5   # SASRec NDCG@10 on clean / noisy /
                                                                        # cleaned / clean-denoised (--seeds),
                                                                        # split into edited users and the rest

The denoiser is the shipped default adapter (trained on clean MovieLens-100K; the noise scored here is
drawn afresh with other seeds, and Toys is data it never saw). Ablations are adapters made with
`curator adapt --no-llm` / `--no-collab` (`--ablation-adapters`). Baselines run in the same process
on the same interactions. Resumable (datasets and runs are kept under --work). Writes
benchmarks/results/denoise-<part>.json (denoise-downstream-<threshold>.json).
"""

import argparse
import hashlib
import json
import platform
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from rich.console import Console
from rich.table import Table

from curator.data.collaborative import training_interactions
from curator.data.dataset import Dataset, read_dataset
from curator.data.import_config import ImportConfig
from curator.data.ledger import read_ledger
from curator.data.sequences import UserSequences, user_sequences
from curator.denoise import vector_cache
from curator.denoise.baselines import BASELINE_NAMES, baseline_scores
from curator.denoise.calibration import Calibration
from curator.denoise.cleaning import read_scores
from curator.denoise.config import DEFAULT_ADAPTER, AdaptConfig, DenoiseConfig, DenoiserConfig, IdModelConfig
from curator.denoise.denoiser import denoiser_meta, trained_quant
from curator.denoise.inference import load_model
from curator.denoise.report import evaluate_denoising
from curator.denoise.scores import noise_truth
from curator.evaluation.detection import DEFAULT_THRESHOLDS, detection_report
from curator.inject.config import NOISE_LABELS, InjectConfig
from curator.llm.adapters import adapter_folder
from curator.llm.config import EngineConfig
from curator.llm.generation import DecodingSettings
from curator.run.stage import run_stage
from curator.stages.adapt import AdaptStage
from curator.stages.data_import import ImportStage
from curator.stages.denoise import DenoiseStage
from curator.stages.inject import InjectStage
from curator.stages.train import TrainStage
from curator.training import TrainOptions
from recsys.data import LeaveOneOut
from recsys.metrics import ranking_metrics
from recsys.train import load_best, stage_ranks

ROOT = Path(__file__).resolve().parents[1]
TOYS = ROOT.parent / "shared" / "data" / "amazon-toys-llm4dsr"
NOISE_SEED = 1  # the default adapter was trained with seed 0 corruptions of clean data
NOISE_LEVEL = 0.1  # share of training interactions swapped in the detection and downstream data
console = Console()


def dataset(work: Path, name: str) -> Dataset:
    """The benchmark's datasets, made once under `work`."""
    folder = work / "data" / name
    if (folder / "manifest.json").is_file():
        return read_dataset(folder)
    if name == "ml-100k":
        return run_stage(ImportStage("movielens-100k", ImportConfig(), folder), command=sys.argv).dataset()
    if name.startswith("toys-noisy-"):
        splits = {"toys-noisy-train": "train,valid", "toys-noisy-test": "test"}[name]
        config = ImportConfig(format="llm4dsr", options={"variant": "noisy", "splits": splits})
        return run_stage(ImportStage(str(TOYS), config, folder), command=sys.argv).dataset()
    distribution, _, level = name.removeprefix("ml-100k-noise-").partition("-")
    clean = dataset(work, "ml-100k")
    config = InjectConfig(noise=float(level or NOISE_LEVEL), noise_dist=distribution, seed=NOISE_SEED)
    return run_stage(InjectStage(clean, config, folder), command=sys.argv).dataset()


def noisy_name(distribution: str, level: float) -> str:
    """MovieLens-100K with `level` of its training interactions swapped (NOISE_LEVEL's sets keep their names)."""
    return f"ml-100k-noise-{distribution}" + ("" if level == NOISE_LEVEL else f"-{level:g}")


def engine_for(adapter: str) -> EngineConfig:
    return EngineConfig(quant=trained_quant(adapter_folder(adapter)))


def denoised(
    work: Path,
    source: Dataset,
    adapter: str,
    threshold: float,
    tag: str,
    noise_share: float | str = "auto",
    allow_foreign: bool = False,
) -> tuple[Dataset, float]:
    """`curator denoise` of `source` (made once per adapter version), and the seconds it took (0 when reused)."""
    version = hashlib.sha256((adapter_folder(adapter) / "denoiser.json").read_bytes()).hexdigest()[:8]
    out = work / "denoised" / f"{source.path.name}-{tag}-{version}-{threshold:g}-share-{noise_share}"
    if (out / "manifest.json").is_file():
        return read_dataset(out), 0.0
    started = time.perf_counter()
    config = DenoiseConfig(
        threshold=threshold, adapter=adapter, noise_share=noise_share, allow_foreign_adapter=allow_foreign
    )
    result = run_stage(DenoiseStage(source, config, out, engine_for(adapter)), command=sys.argv, resume=True)
    return result.dataset(), time.perf_counter() - started


DETECTION_DATA = ("ml-100k-noise-uniform", "ml-100k-noise-popularity", "toys-noisy-test")


def detection(args, work: Path) -> dict:
    adapters = {"denoiser": args.adapter, **dict(a.split("=", 1) for a in args.ablation_adapters)}
    results = {}
    for name in args.datasets:
        noisy = dataset(work, name)
        rows = {}
        for tag, adapter in adapters.items():
            # The MovieLens adapters on Toys: out of their domain on purpose (p is marked uncalibrated there).
            out, _ = denoised(work, noisy, adapter, args.threshold, tag, allow_foreign=name.startswith("toys"))
            report = evaluate_denoising(
                out,
                noisy,
                read_scores(out),
                work / "reports" / f"{name}-{tag}",
                baselines=BASELINE_NAMES if tag == "denoiser" and args.baselines else (),
            )
            rows[tag] = report["denoiser"]
            if tag == "denoiser":
                rows |= report["baselines"]
        results[name] = rows
        print_detection(name, rows)
    return results


# The file's noise is random catalog items (shared/data/README.md): the adapter is told so (`curator adapt
# --noise-dist uniform`), as a user who knows their noise would. 480 LoRA steps after the warm-up, not the
# default 80: chosen on the card's report users (AUROC 0.761 -> 0.772); the rest are curator adapt's defaults.
TOYS_ADAPT = AdaptConfig(noise_dist="uniform", max_steps=880, seed=0)
# The Toys adapters: the whole denoiser and its ablations (the same recipe without a part)
TOYS_VARIANTS = {
    "denoise-toys": DenoiserConfig(),
    "denoise-toys-no-llm": DenoiserConfig(use_text=False),
    "denoise-toys-no-id": DenoiserConfig(use_id_model=False),
    "denoise-toys-no-llm-no-id": DenoiserConfig(use_text=False, use_id_model=False),
}


def toys(args, work: Path) -> dict:
    """Toys' own adapters (`--variants`, TOYS_VARIANTS): trained on the train + valid windows (self-made
    corruptions; the labels are never read), scored on the test windows, which they never saw, against the
    baselines on the same interactions (computed with the first variant)."""
    train, test = dataset(work, "toys-noisy-train"), dataset(work, "toys-noisy-test")
    results, cards = {}, {}
    for tag in args.variants:
        # No "." in the folder's name: peft names the adapter after it, and refuses dots.
        adapter = work / "adapters" / f"{tag}-{args.toys_steps}-id-lr-{args.id_lr:g}".replace(".", "_")
        if not (adapter / "denoiser.json").is_file():
            id_model = replace(TOYS_ADAPT.id_model, learning_rate=args.id_lr)
            config = replace(TOYS_ADAPT, max_steps=args.toys_steps, denoiser=TOYS_VARIANTS[tag], id_model=id_model)
            run_stage(AdaptStage(train, config, adapter, EngineConfig(quant="none")), command=sys.argv, resume=True)
        cards[tag] = {k: v for k, v in denoiser_meta(adapter).items() if k not in ("calibration", "curve")}
        out, _ = denoised(work, test, str(adapter), args.threshold, tag)
        report = evaluate_denoising(
            out,
            test,
            read_scores(out),
            work / "reports" / f"toys-test-{tag}",
            baselines=BASELINE_NAMES if tag == args.variants[0] and args.baselines else (),
        )
        results[tag] = report["denoiser"]
        results |= report["baselines"]
    print_detection("toys-noisy-test, adapted on the train + valid windows", results)
    return {"detection": results, "adapter_cards": cards}


# The item-text adapters: the default recipe without the ID model's part (which reads no text, and would cost
# each variant the same 800 steps on a 2-core CPU), the LLM part reading each item's text fields or its title
# and LLM profile summary, and without the LLM part as the reference of its contribution
ITEM_TEXT_VARIANTS = {
    "fields": DenoiserConfig(use_id_model=False),
    "profiles": DenoiserConfig(item_text="profiles", use_id_model=False),
    "no-llm": DenoiserConfig(use_text=False, use_id_model=False),
}


def with_item_profiles(work: Path, source: Dataset, profiles: Path) -> Dataset:
    """`source` with the item profiles file `profiles` in it. An item's profile reads only the item's own
    metadata (curator.profile.tasks), so the clean data's profiles are the noisy data's too: what `curator
    profile --stage items` would write on either."""
    folder = work / "data" / f"{source.path.name}-profiled"
    if not (folder / "manifest.json").is_file():
        shutil.copytree(source.path, folder, dirs_exist_ok=True)
        (folder / "profiles").mkdir(exist_ok=True)
        shutil.copyfile(profiles, folder / "profiles" / "items.parquet")
    return read_dataset(folder)


def item_text(args, work: Path) -> dict:
    """Does the LLM part read LLM item profiles better than the items' own fields? ITEM_TEXT_VARIANTS, each
    adapted on clean MovieLens-100K with its profiles (--item-profiles, e.g. the profile_alignment
    benchmark's), scored on the detection data (the same profiles) against its known noise."""
    profiles = args.item_profiles.resolve()
    if not profiles.is_file():
        raise SystemExit(f"--item-profiles {profiles}: no such file (benchmarks/profile_alignment.py writes one)")
    table = pq.read_table(profiles, columns=["status"])
    clean = with_item_profiles(work, dataset(work, "ml-100k"), profiles)
    results = {
        "item_profiles": {
            "file": str(profiles),
            "sha256": hashlib.sha256(profiles.read_bytes()).hexdigest(),
            "profiles": len(table),
            "valid": sum(status != "failed" for status in table["status"].to_pylist()),
        },
        "adapter_cards": {},
    }
    adapters = {}
    for tag, denoiser in ITEM_TEXT_VARIANTS.items():
        adapter = work / "adapters" / f"ml-100k-item-text-{tag}"
        if not (adapter / "denoiser.json").is_file():
            config = replace(AdaptConfig(), denoiser=denoiser)
            run_stage(AdaptStage(clean, config, adapter, EngineConfig(quant="none")), command=sys.argv, resume=True)
        meta = denoiser_meta(adapter)
        results["adapter_cards"][tag] = {k: v for k, v in meta.items() if k not in ("calibration", "curve")}
        adapters[tag] = str(adapter)
    for name in ("ml-100k-noise-uniform", "ml-100k-noise-popularity"):
        noisy = with_item_profiles(work, dataset(work, name), profiles)
        rows = {}
        for tag, adapter in adapters.items():
            out, _ = denoised(work, noisy, adapter, args.threshold, f"item-text-{tag}")
            report = evaluate_denoising(out, noisy, read_scores(out), work / "reports" / f"{noisy.path.name}-{tag}")
            rows[tag] = report["denoiser"]
        results[name] = rows
        print_detection(f"{name}, the LLM part reading item fields / profiles / nothing", rows)
    return results


def id_model(args, work: Path) -> dict:
    """The ID-model outlier alone (the `id-model` baseline: curator.denoise.id_model, cross-fitted over
    users) on the detection data, with factor-window, the denoiser's strongest collaborative feature alone,
    computed in the same run as the reference for both AUROC and seconds."""
    results = {}
    for name in ("ml-100k-noise-uniform", "ml-100k-noise-popularity", "toys-noisy-test"):
        noisy = dataset(work, name)
        labels = pq.read_table(noisy.path / NOISE_LABELS)
        rows = {}
        for baseline in ("factor-window", "id-model"):
            started = time.perf_counter()
            scores = baseline_scores(noisy, baseline, seed=0)
            report = detection_report(noise_truth(scores, labels), scores["score"].to_numpy())
            rows[baseline] = {**report, "seconds": round(time.perf_counter() - started, 1)}
        results[name] = rows
        print_detection(name, rows)
    return {"id_model_config": asdict(IdModelConfig()), "torch_threads": torch.get_num_threads(), "detection": results}


NOISE_LEVELS = (0.02, 0.05, NOISE_LEVEL, 0.2)


def shares(args, work: Path) -> dict:
    """`--noise-share`: p at the share of noise the adapter was calibrated on, and restated at the share
    estimated from the data (auto, the default), on MovieLens-100K without injected noise and with
    NOISE_LEVELS of it, both kinds."""
    fitted = Calibration.from_dict(denoiser_meta(adapter_folder(args.adapter))["calibration"]).share
    names = ["ml-100k", *(noisy_name(d, level) for d in ("popularity", "uniform") for level in NOISE_LEVELS)]
    results = {}
    for name in names:
        data = dataset(work, name)
        results[name] = {}
        for tag, share in (("fitted", fitted), ("auto", "auto")):
            out, _ = denoised(work, data, args.adapter, args.threshold, "denoiser", noise_share=share)
            scores = read_scores(out)
            row = {
                "share": out.manifest["config"]["share_of_noise"]["used"],
                "flagged": {f"{t:g}": int((scores["score"].to_numpy() >= t).sum()) for t in DEFAULT_THRESHOLDS},
            }
            if name != "ml-100k":
                row |= evaluate_denoising(out, data, scores, work / "reports" / f"{name}-share-{tag}", baselines=())[
                    "denoiser"
                ]
            results[name][tag] = row
    table = Table(title=f"p at the adapter's share of noise ({fitted:.1%}) -> restated at the estimated share")
    for column in ("data", "estimated share", "flagged @0.5", "flagged @0.9", "precision @0.9", "ECE"):
        table.add_column(column, justify="right")
    for name, row in results.items():
        fit, auto = row["fitted"], row["auto"]
        precision = (
            f"{fit['thresholds']['0.9']['precision']:.3f} -> {auto['thresholds']['0.9']['precision']:.3f}"
            if "thresholds" in fit
            else ""
        )
        ece = f"{fit['ece']:.4f} -> {auto['ece']:.4f}" if "ece" in fit else ""
        table.add_row(
            name,
            f"{auto['share']:.4f}",
            f"{fit['flagged']['0.5']} -> {auto['flagged']['0.5']}",
            f"{fit['flagged']['0.9']} -> {auto['flagged']['0.9']}",
            precision,
            ece,
        )
    console.print(table)
    return {"fitted_share": fitted, "data": results}


def print_detection(name: str, rows: dict) -> None:
    table = Table(title=f"{name}: noise detection (baselines' scores are ranks, not probabilities)")
    for column in ("detector", "AUROC", *(f"P/R/F1 @{t:g}" for t in DEFAULT_THRESHOLDS), "ECE", "repl. top-1/hit@10"):
        table.add_column(column, justify="right")
    for detector, r in rows.items():
        at, repl = r["thresholds"], r.get("replacement") or {}
        table.add_row(
            detector,
            f"{r['auroc']:.3f}",
            *(
                f"{at[f'{t:g}']['precision']:.2f}/{at[f'{t:g}']['recall']:.2f}/{at[f'{t:g}']['f1']:.2f}"
                for t in DEFAULT_THRESHOLDS
            ),
            f"{r['ece']:.3f}",
            f"{repl['top1']:.2f}/{repl['hit@10']:.2f}" if repl.get("count") else "-",
        )
    console.print(table)


GENERATION_PROMPT = (
    "Here are the {n} most recent items of a user, oldest first:\n{items}\n"
    "One of them was added by mistake and does not fit the others. Reply with its exact title."
)


def generation_detector_users_per_second(noisy: Dataset, adapter: str, users: int, batch_size: int) -> dict:
    """LLM4DSR-style detection: generate the noisy item's title for the user's 10 most recent training items,
    then ground it to the window item with the closest title. Timed on `users` users."""
    from difflib import SequenceMatcher

    engine, _ = load_model(adapter, engine_for(adapter))
    sequences = training_interactions(noisy).sequences()
    titles = noisy.items["title"].to_pylist()
    prompts, windows = [], []
    for user in range(users):
        window = sequences[user][-10:]
        listing = "\n".join(f"{k + 1}. {titles[item]}" for k, item in enumerate(window))
        prompts.append(
            engine.chat_prompt(
                "You find the odd item in a list.", GENERATION_PROMPT.format(n=len(window), items=listing)
            )
        )
        windows.append(window)
    started = time.perf_counter()
    with engine.adapter(None):
        answers = engine.generate(prompts, DecodingSettings(max_new_tokens=32), batch_size=batch_size)
    grounded = [
        max(w, key=lambda item: SequenceMatcher(None, titles[item], a.text).ratio()) for w, a in zip(windows, answers)
    ]
    seconds = time.perf_counter() - started
    return {"users": users, "seconds": seconds, "users_per_second": users / seconds, "grounded": len(grounded)}


def speed(args, work: Path) -> dict:
    """users/s of `curator denoise` with the catalog encoded in the run (cold: an empty item-vector cache)
    and served from the cache (warm: a second threshold, a resumed run), and of generate-then-ground; the
    median of `--repeats` rounds, since a shared CPU's speed drifts between minutes."""
    noisy = dataset(work, "ml-100k-noise-popularity")
    cache = work / "speed" / "item-vectors"
    vector_cache.cache_folder = lambda: cache  # a private cache: the user's may already hold these vectors
    out = work / "speed" / "denoised"
    stage = DenoiseStage(
        noisy, DenoiseConfig(threshold=args.threshold, adapter=args.adapter), out, engine_for(args.adapter)
    )
    rounds = {"cold": [], "warm": [], "generation": []}
    for _ in range(args.repeats):
        shutil.rmtree(cache, ignore_errors=True)
        for run in ("cold", "warm"):
            shutil.rmtree(out, ignore_errors=True)  # else the same run again is a no-op
            started = time.perf_counter()
            run_stage(stage, command=sys.argv)
            rounds[run].append(len(noisy.users) / (time.perf_counter() - started))
        rounds["generation"].append(
            generation_detector_users_per_second(noisy, args.adapter, args.generation_users, args.batch_size)[
                "users_per_second"
            ]
        )
    median = {name: float(np.median(values)) for name, values in rounds.items()}
    ratio = {run: median[run] / median["generation"] for run in ("cold", "warm")}
    console.print(
        f"curator denoise {median['cold']:.2f} users/s cold, {median['warm']:.2f} warm; "
        f"generate-then-ground {median['generation']:.3f} users/s; "
        f"ratio {ratio['cold']:.1f}x cold, {ratio['warm']:.1f}x warm (medians of {args.repeats})"
    )
    return {
        "users_per_second": median,
        "rounds": rounds,
        "ratio": ratio,
        "users": {"curator_denoise": len(noisy.users), "generation_detector": args.generation_users},
        "includes": "curator denoise: model load, item vectors (cold only), scoring, decisions, writing; "
        "generation: the generation calls and grounding",
    }


def downstream(args, work: Path) -> dict:
    clean = dataset(work, "ml-100k")
    noisy = dataset(work, "ml-100k-noise-popularity")
    cleaned, clean_denoised = f"cleaned@{args.threshold:g}", f"clean-denoised@{args.threshold:g}"
    variants = {
        "clean": clean,
        "noisy": noisy,
        cleaned: denoised(work, noisy, args.adapter, args.threshold, "denoiser")[0],
        clean_denoised: denoised(work, clean, args.adapter, args.threshold, "denoiser")[0],
    }
    options = TrainOptions(max_len=args.max_len, max_epochs=args.epochs, patience=args.patience, seeds=args.seeds)
    results = {}
    for name, data in variants.items():
        summary = run_stage(
            TrainStage(data, replace(options), work / "runs" / name), resume=True, command=sys.argv
        ).summary
        results[name] = {
            "test": summary["test"],
            "seconds_per_epoch": summary["seconds_per_epoch"],
            "ndcg_per_seed": {s["seed"]: s["test"]["NDCG@10"] for s in summary["seeds"]},
            "edits": data.manifest["notes"][-1] if (data.path / "ledger.parquet").is_file() else None,
        }
    ndcg = {name: r["test"]["NDCG@10"]["mean"] for name, r in results.items()}
    gap = ndcg["clean"] - ndcg["noisy"]
    results[cleaned]["recovery"] = (ndcg[cleaned] - ndcg["noisy"]) / gap if gap else None
    cost_on_clean = ndcg[clean_denoised] / ndcg["clean"] - 1
    table = Table(title=f"SASRec NDCG@10 on MovieLens-100K (seeds {args.seeds}, max_len {args.max_len})")
    for column in ("data", "NDCG@10", "HR@10", "recovery"):
        table.add_column(column, justify="right")
    for name, r in results.items():
        test = r["test"]
        table.add_row(
            name,
            f"{test['NDCG@10']['mean']:.4f} ± {test['NDCG@10']['std']:.4f}",
            f"{test['HR@10']['mean']:.4f} ± {test['HR@10']['std']:.4f}",
            f"{r['recovery']:.2f}" if r.get("recovery") is not None else "",
        )
    console.print(table)
    console.print(f"denoising the clean data changes NDCG@10 by {100 * cost_on_clean:+.2f}%")
    by_users = {
        after: edited_and_untouched(work, variants[before], before, variants[after], after, options)
        for before, after in (("clean", clean_denoised), ("noisy", cleaned))
    }
    table = Table(title="NDCG@10 of the users the denoiser edited and of the others (before -> after)")
    for column in ("data", "edited users", "edited: NDCG@10", "untouched: NDCG@10"):
        table.add_column(column, justify="right")
    for name, split in by_users.items():
        table.add_row(
            name,
            str(split["edited_users"]),
            *(f"{split[group][0]:.4f} -> {split[group][1]:.4f}" for group in ("edited", "untouched")),
        )
    console.print(table)
    return {
        "variants": results,
        "cost_on_clean": cost_on_clean,
        "by_users": by_users,
        "options": {"max_len": args.max_len, "max_epochs": args.epochs, "patience": args.patience, "seeds": args.seeds},
    }


def edited_and_untouched(
    work: Path, before: Dataset, before_name: str, after: Dataset, after_name: str, options: TrainOptions
) -> dict:
    """Test NDCG@10 of the users `curator denoise` edited and of all the others, for the models trained on
    `before` and on `after` with each seed ([before, after] per group). The others' data is the same in
    both: their change is what another training trajectory does by itself (with fewer items in use,
    items are indexed differently, and the same seed draws other initial weights)."""
    edited = set(read_ledger(after)["user_id"].to_pylist())
    runs = [(user_sequences(data), work / "runs" / name) for data, name in ((before, before_name), (after, after_name))]
    per_seed = {}
    for seed in options.seeds:
        ranks = [_test_ranks(sequences, run_dir / f"seed-{seed}", seed, options) for sequences, run_dir in runs]
        per_seed[seed] = {
            "edited": [_ndcg_at_10(r, lambda user: user in edited) for r in ranks],
            "untouched": [_ndcg_at_10(r, lambda user: user not in edited) for r in ranks],
        }
    return {
        "edited_users": len(edited),
        "seeds": per_seed,
        **{group: np.mean([s[group] for s in per_seed.values()], axis=0).tolist() for group in ("edited", "untouched")},
    }


def _test_ranks(sequences: UserSequences, seed_dir: Path, seed: int, options: TrainOptions) -> dict[str, int]:
    """Each evaluated user's 0-based test rank under the best weights of the run in `seed_dir`."""
    split = LeaveOneOut(sequences.sequences, sequences.num_items, sequences.weights)
    model = load_best(options.build_model(sequences.num_items, seed), seed_dir)
    ranks = stage_ranks(model, split, "test", options.train_config(seed))
    return {sequences.user_ids[k]: int(rank) for k, rank in zip(split.evaluated, ranks)}


def _ndcg_at_10(ranks: dict[str, int], chosen) -> float:
    return ranking_metrics(np.array([rank for user, rank in ranks.items() if chosen(user)]), (10,))["NDCG@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part",
        choices=("detection", "toys", "id-model", "item-text", "speed", "downstream", "shares"),
        required=True,
    )
    parser.add_argument("--adapter", default=DEFAULT_ADAPTER)
    parser.add_argument(
        "--ablation-adapters",
        nargs="*",
        default=[],
        metavar="TAG=ADAPTER",
        help="e.g. no-llm=adapters/x no-collab=adapters/y",
    )
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument(
        "--variants", nargs="*", choices=list(TOYS_VARIANTS), default=list(TOYS_VARIANTS), help="toys: adapters"
    )
    parser.add_argument(
        "--no-baselines", dest="baselines", action="store_false", help="detection, toys: the adapters only"
    )
    parser.add_argument(
        "--toys-steps", type=int, default=TOYS_ADAPT.max_steps, help="toys: the adapters' steps, warm-up included"
    )
    parser.add_argument(
        "--id-lr", type=float, default=IdModelConfig.learning_rate, help="toys: the ID model's learning rate"
    )
    parser.add_argument("--datasets", nargs="*", choices=DETECTION_DATA, default=list(DETECTION_DATA))
    parser.add_argument(
        "--item-profiles",
        type=Path,
        default=ROOT / "runs" / "bench-profile-alignment" / "profiled" / "profiles" / "items.parquet",
        help="item-text: MovieLens-100K's item profiles (default: benchmarks/profile_alignment.py's)",
    )
    parser.add_argument("--generation-users", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="speed: rounds (medians are reported)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 3])
    # downstream: the full budget docs/denoise.md's figures are measured at
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path.home() / "curator-bench" / "denoise")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    work = args.work
    parts = {
        "detection": detection,
        "toys": toys,
        "id-model": id_model,
        "item-text": item_text,
        "speed": speed,
        "downstream": downstream,
        "shares": shares,
    }
    result = parts[args.part](args, work)
    args.results.mkdir(parents=True, exist_ok=True)
    suffix = f"-{args.threshold:g}" if args.part == "downstream" else ""
    out = args.results / f"denoise-{args.part}{suffix}.json"
    out.write_text(
        json.dumps(
            {
                "command": ["python", "-P", *sys.argv],
                "adapter": args.adapter,
                "threshold": args.threshold,
                "machine": {
                    "platform": platform.platform(),
                    "processor": platform.processor(),
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                },
                "result": result,
            },
            indent=2,
            default=float,
        )
        + "\n"
    )
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
