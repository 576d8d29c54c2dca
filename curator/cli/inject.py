"""`curator inject DATA`: simulated noise and/or a poisoning attack, ground truth kept apart in labels/."""

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from curator.cli.choices import choices
from curator.cli.output import console as output_console
from curator.inject.config import ATTACKS, DEFAULT_NOISE, NOISE_DISTRIBUTIONS, InjectConfig

console = output_console()

NoiseDist = choices("NoiseDist", NOISE_DISTRIBUTIONS)
Attack = choices("Attack", ATTACKS)


def inject(
    data: Annotated[Path, typer.Argument(help="Dataset folder to inject into (it is not modified).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset folder to create.")],
    noise: Annotated[
        Optional[float],
        typer.Option(
            help=f"Fraction of training interactions to replace by catalog items (default {DEFAULT_NOISE} "
            "when no --attack is given)."
        ),
    ] = None,
    noise_dist: Annotated[
        NoiseDist, typer.Option(help="How replacements are drawn: uniformly, or in proportion to training popularity.")
    ] = "uniform",
    attack: Annotated[Optional[Attack], typer.Option(help="Add fake users promoting target items.")] = None,
    fake_users: Annotated[float, typer.Option(help="Fake users, as a fraction of the real users.")] = 0.01,
    targets: Annotated[int, typer.Option(help="Number of unpopular target items the attack promotes.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out folder.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
):
    """Replace a fraction of training interactions (never validation/test targets) and/or add fake users.

    The ground truth goes to OUT/labels/, apart from the tables, so that no stage reads it by accident.
    """
    config = InjectConfig(
        noise=DEFAULT_NOISE if noise is None and attack is None else noise,
        noise_dist=NoiseDist(noise_dist).value,
        attack=Attack(attack).value if attack else None,
        fake_users=fake_users,
        targets=targets,
        seed=seed,
    )
    config.validate()  # before reading the data: a bad option costs nothing
    from curator.data.dataset import read_dataset  # the data's libraries: once the options are known to be good
    from curator.run.stage import run_stage
    from curator.stages.inject import InjectStage

    result = run_stage(
        InjectStage(read_dataset(data), config, out), overwrite=overwrite, command=["curator", *sys.argv[1:]]
    )
    summary = {"out": str(out), **result.summary}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    if result.already_done:
        console.print(f"{out} already holds this injection: nothing to do", highlight=False)
    if "noise" in summary:
        console.print(
            f"noise: replaced {summary['noise']['replaced']:,} training interactions "
            f"({summary['noise']['distribution']} draws)"
        )
    if "attack" in summary:
        console.print(
            f"attack: {summary['attack']['fake_users']} fake users ({summary['attack']['attack']}) "
            f"promoting {summary['attack']['targets']} target items"
        )
    console.print(f"wrote {out}; ground truth in {', '.join(summary['labels'])} (kept apart from the tables)")
