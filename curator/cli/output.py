"""The consoles commands print through (results on stdout, errors, progress and logs on stderr), and the
formats of figures more than one command shows.

Where a stream is not a terminal (a file, a pipe, a CI log), rich has no width to measure and falls back to 80
columns, cutting tables and wrapping lines; there, lines and tables keep their full width instead.
"""

from __future__ import annotations

import sys

from rich.console import Console

UNBOUNDED = 100_000  # columns: wider than anything a command prints


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr): as wide as the terminal, or unbounded where the stream is not one.
    Markup is off: what commands print holds user text (paths, names, notes) whose brackets are not markup;
    a line that styles a word asks for markup and escapes the rest."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, markup=False, width=None if stream.isatty() else UNBOUNDED)


def precision(at: dict) -> str:
    """A detector's precision at a threshold (a `threshold_metrics` entry); "–" where it flagged nothing, which
    leaves precision undefined (it is stored as 0)."""
    return f"{at['precision']:.2f}" if at["flagged"] else "–"
