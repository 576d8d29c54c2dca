"""`curator defend DATA --out DIR`: find fake users, drop or down-weight them through the ledger."""

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from curator.cli.choices import choices
from curator.cli.engine_options import (
    ENGINE_HELP,
    MODEL_HELP,
    RAY_ADDRESS_HELP,
    RAY_CPUS_HELP,
    RAY_THREADS_HELP,
    RAY_WORKERS_HELP,
    Device,
    EngineKind,
    execution,
)
from curator.cli.output import console as output_console
from curator.errors import OptionError
from curator.fraud.config import (
    DEFAULT_FDR,
    FRAUD_ACTIONS,
    SIMULATED_ATTACKS,
    DefendConfig,
    DefenseConfig,
    DetectorConfig,
)
from curator.inject.config import ATTACKS
from curator.llm.config import EngineConfig

console = output_console()

FraudAction = choices("FraudAction", FRAUD_ACTIONS)


def _floats(text: str, option: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise OptionError(f"{option} '{text}': expected comma-separated numbers") from None


def defend(
    data: Annotated[Path, typer.Argument(help="Dataset folder to defend (it is not modified).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to create.")],
    fdr: Annotated[
        Optional[float],
        typer.Option(
            help="Act on the users Benjamini-Hochberg picks at this false-discovery rate, against a null fitted on "
            "the bulk of the users' suspicion scores: on average at most about this share of them real, whatever "
            "kind of fake the others are, where the real users' tail is like their bulk "
            f"(the default, at {DEFAULT_FDR:g}; measured in docs/fraud.md)."
        ),
    ] = None,
    user_threshold: Annotated[
        Optional[float],
        typer.Option(
            help="Instead of --fdr: act on users whose calibrated probability of being fake is at least this "
            "(calibrated on the simulated kinds of fakes only; no share of real users is promised)."
        ),
    ] = None,
    fraud_action: Annotated[
        FraudAction,
        typer.Option(
            help="drop: remove the user; reweight: set users.weight to ((1 - p) / (1 - threshold)) ** gamma times "
            "its weight (curator train applies it to the loss)."
        ),
    ] = "drop",
    gamma: Annotated[float, typer.Option(help="Exponent of the reweight curve.")] = 2.0,
    simulate: Annotated[
        str, typer.Option(help=f"Attack types the calibrator learns from, simulated on the data ({','.join(ATTACKS)}).")
    ] = ",".join(SIMULATED_ATTACKS),
    budgets: Annotated[
        str, typer.Option(help="Simulated fakes as fractions of the users, one copy each.")
    ] = "0.01,0.05",
    targets: Annotated[int, typer.Option(help="Target items of each simulated attack.")] = 5,
    text: Annotated[
        bool, typer.Option(help="Use the LLM-derived text signals (--no-text: collaborative signals only).")
    ] = True,
    embedding_model: Annotated[
        Optional[str],
        typer.Option(
            help="Sentence-transformers model for item text (default all-MiniLM-L6-v2); item profiles' "
            "embeddings are used instead when the dataset has them."
        ),
    ] = None,
    denoiser: Annotated[
        Optional[str],
        typer.Option(
            help="Also use how noisy each user's sequence looks to the LLM denoiser (mean and max p(noise) of "
            "`curator denoise`) as a signal: a denoise adapter trained on this data, e.g. denoise-ml100k "
            "for MovieLens-100K."
        ),
    ] = None,
    model: Annotated[Optional[str], typer.Option(help=f"The --denoiser's base model: {MODEL_HELP}")] = None,
    device: Annotated[Device, typer.Option(help="Where the --denoiser's model runs.")] = "auto",
    engine: Annotated[
        EngineKind, typer.Option(help=f"For the users' blocks of evidence and the --denoiser signal. {ENGINE_HELP}")
    ] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help=RAY_ADDRESS_HELP)] = None,
    ray_cpus: Annotated[Optional[int], typer.Option(help=RAY_CPUS_HELP)] = None,
    ray_workers: Annotated[Optional[int], typer.Option(help=RAY_WORKERS_HELP)] = None,
    ray_threads: Annotated[int, typer.Option(help=RAY_THREADS_HELP)] = 1,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
):
    """Score every user's probability of being fake (a calibrator trained on simulated attacks of the
    data itself) and drop or down-weight the users picked at the false-discovery rate --fdr (default), or
    those at or above --user-threshold; every change goes to the ledger, the per-user scores to
    OUT/user_scores.parquet. The output says what the decision promises, and whether it kept it where the
    data holds injected fakes' labels."""
    config = DefendConfig(
        detector=DetectorConfig(
            attacks=tuple(simulate.split(",")),
            budgets=_floats(budgets, "--budgets"),
            targets=targets,
            use_text=text,
            seed=seed,
        ),
        defense=DefenseConfig(
            fdr=DEFAULT_FDR if fdr is None and user_threshold is None else fdr,  # the default decision
            user_threshold=user_threshold,
            action=FraudAction(fraud_action).value,
            gamma=gamma,
        ),
        embedding_model=embedding_model,
        denoiser=denoiser,
    )
    config.validate()  # before reading the data: a bad option costs nothing
    executor = execution(engine, ray_address, ray_cpus, ray_workers, ray_threads)
    # Loaded once the options are known to be good (torch, scikit-learn, the data's libraries).
    from curator.cli.progress import cli_progress
    from curator.data.dataset import read_dataset
    from curator.fraud.defense import USER_SCORES_FILE
    from curator.run.stage import run_stage
    from curator.stages.defend import DefendStage

    denoiser_engine = _denoiser_engine(denoiser, model, Device(device).value)
    stage = DefendStage(read_dataset(data), config, out, denoiser_engine, execution=executor)
    with cli_progress() as progress:
        result = run_stage(stage, overwrite=overwrite, progress=progress, command=["curator", *sys.argv[1:]])
    summary = {"out": str(out), **result.summary}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    if result.already_done:
        console.print(f"{out} already holds this defense: nothing to do", highlight=False)
    edits = ", ".join(f"{count} {action}" for action, count in summary["edits"].items() if count) or "no edits"
    console.print(
        f"{summary['flagged']} of {summary['users']} users acted on "
        f"(estimated share of fakes {summary['estimated_prior']:.3f}): {edits}; wrote {out} "
        f"(ledger.parquet, {USER_SCORES_FILE})\npromise: {summary['promise']['text']}",
        highlight=False,
        soft_wrap=True,
    )
    if "kept" in summary:
        console.print(f"check against {summary['kept']['labels']}: {_kept_line(summary['kept'])}", highlight=False)


def _kept_line(kept: dict) -> str:
    line = (
        f"{kept['fakes_acted_on']} of {kept['fakes']} fakes and {kept['real_acted_on']} real users acted on "
        f"(real share {kept['real_share']:.1%})"
    )
    if "within_fdr" in kept:
        line += "; within the rate" if kept["within_fdr"] else "; NOT within the rate in this run"
    return line


def _denoiser_engine(denoiser: str | None, model: str | None, device: str) -> EngineConfig | None:
    """The engine the --denoiser adapter runs on (its base model quantized as it was trained), or None."""
    if not denoiser:
        return None
    from curator.denoise.denoiser import trained_quant
    from curator.llm.adapters import adapter_folder

    return EngineConfig(model=model, quant=trained_quant(adapter_folder(denoiser, "--denoiser")), device=device)
