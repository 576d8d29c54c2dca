"""The `curator` command line. Commands are thin: parse options, call into the library, print.

Every user error (a CuratorError raised anywhere below, or a value click rejects) becomes one line on stderr
and exit code 2.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from curator import __version__
from curator.errors import CuratorError, one_line

try:  # Typer 0.2x parses the command line with its own copy of click
    from typer._click import exceptions as parser_errors
except ImportError:  # earlier Typer, with click itself
    from click import exceptions as parser_errors

stderr = Console(stderr=True, highlight=False)

# How click >= 8.2 shows the help of a bare `curator` (or `curator data`): a usage error, not a mistake.
_HELP_ASKED = getattr(parser_errors, "NoArgsIsHelpError", ())


class _UserErrorsExitTwo(TyperGroup):
    """Every user mistake ends as one `error:` line on stderr and exit code 2: a value or option that click
    rejects while parsing (the top level's options here, a command's inside `invoke`), and a CuratorError
    raised anywhere below."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        with _one_error_line():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context):
        with _one_error_line():
            return super().invoke(ctx)


@contextmanager
def _one_error_line() -> Iterator[None]:
    """Turn the user errors raised inside into `_fail`."""
    try:
        yield
    except _HELP_ASKED:
        raise
    except parser_errors.ClickException as error:  # instead of click's usage block and boxed panel
        _fail(error.format_message())
    except CuratorError as error:
        _fail(str(error))


def _fail(message: str) -> NoReturn:
    """Print `message` as the one error line (printable, its brackets not taken for markup) and exit with 2."""
    stderr.print(f"[bold red]error:[/] {escape(one_line(message))}", markup=True, soft_wrap=True)
    raise typer.Exit(2) from None


app = typer.Typer(
    cls=_UserErrorsExitTwo,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # every command's too
    help="Curate recommendation data with a small local LLM, then prove it with SASRec.",
)


def _print_version(asked: bool) -> None:
    if asked:
        print(f"curator {__version__}")
        raise typer.Exit()


@app.callback()  # the top level's own options; its help is the app's
def _top_level_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


# Each command's module imports only typer, rich and the options' values at the top; its command imports the
# stage and the libraries behind it when it runs, so that `curator --help` or a mistyped option loads no torch.

from curator.cli import adapt as _adapt  # noqa: E402  (registers `curator adapt`)
from curator.cli import data as _data  # noqa: E402  (registers `curator data ...`)
from curator.cli import defend as _defend  # noqa: E402  (registers `curator defend`)
from curator.cli import denoise as _denoise  # noqa: E402  (registers `curator denoise`)
from curator.cli import evaluate as _evaluate  # noqa: E402  (registers `curator evaluate`)
from curator.cli import inject as _inject  # noqa: E402  (registers `curator inject`)
from curator.cli import profile as _profile  # noqa: E402  (registers `curator profile`, `curator profile-merge`)
from curator.cli import run as _run  # noqa: E402  (registers `curator run`, `curator report`)
from curator.cli import train as _train  # noqa: E402  (registers `curator train`)

app.add_typer(_data.app, name="data")
app.command("adapt")(_adapt.adapt)
app.command("defend")(_defend.defend)
app.command("denoise")(_denoise.denoise)
app.command("evaluate")(_evaluate.evaluate)
app.command("inject")(_inject.inject)
app.command("profile")(_profile.profile)
app.command("profile-merge")(_profile.merge)
app.command("report")(_run.report)
app.command("run")(_run.run)
app.command("train")(_train.train)


def main() -> None:
    app(prog_name="curator")
