"""Typed errors. Raised deep in the code; turned into a one-line message and exit code 2 by the CLI."""


class CuratorError(Exception):
    """A problem the user can fix (bad input, bad option, missing file). Never a bug."""


class InputError(CuratorError):
    """An input file or folder is missing, unreadable or malformed."""


class OptionError(CuratorError):
    """A command-line option has a value that cannot be used."""
