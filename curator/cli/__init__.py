"""The `curator` command line. Commands are thin: parse options, call into the library, print.

Every CuratorError raised anywhere below becomes one line on stderr and exit code 2.
"""

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from curator.errors import CuratorError

stderr = Console(stderr=True, highlight=False)


class _UserErrorsExitTwo(TyperGroup):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CuratorError as error:
            stderr.print(f"[bold red]error:[/] {error}", markup=True, soft_wrap=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_UserErrorsExitTwo,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Curate recommendation data with a small local LLM, then prove it with SASRec.",
)

from curator.cli import adapt as _adapt  # noqa: E402  (registers `curator adapt`)
from curator.cli import data as _data  # noqa: E402  (registers `curator data ...`)
from curator.cli import defend as _defend  # noqa: E402  (registers `curator defend`)
from curator.cli import denoise as _denoise  # noqa: E402  (registers `curator denoise`)
from curator.cli import evaluate as _evaluate  # noqa: E402  (registers `curator evaluate`)
from curator.cli import inject as _inject  # noqa: E402  (registers `curator inject`)
from curator.cli import profile as _profile  # noqa: E402  (registers `curator profile`, `curator profile-merge`)
from curator.cli import train as _train  # noqa: E402  (registers `curator train`)

app.add_typer(_data.app, name="data")
app.command("adapt")(_adapt.adapt)
app.command("defend")(_defend.defend)
app.command("denoise")(_denoise.denoise)
app.command("evaluate")(_evaluate.evaluate)
app.command("inject")(_inject.inject)
app.command("profile")(_profile.profile)
app.command("profile-merge")(_profile.merge)
app.command("train")(_train.train)


def main() -> None:
    app(prog_name="curator")
