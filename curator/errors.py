"""Typed errors. Raised deep in the code; turned into a one-line message and exit code 2 by the CLI."""


class CuratorError(Exception):
    """A problem the user can fix (bad input, bad option, missing file). Never a bug."""


class InputError(CuratorError):
    """An input file or folder is missing, unreadable or malformed."""


class OptionError(CuratorError):
    """A command-line option has a value that cannot be used."""


class OutputError(CuratorError):
    """The output cannot be written where it was asked for (a read-only or full file system, no permission)."""


class ModelError(CuratorError):
    """A model, tokenizer, embedding model or adapter cannot be found or loaded."""


class LedgerError(CuratorError):
    """A ledger of edits does not fit its dataset, or edits what may never be edited (a validation or test
    target: only training interactions are curated), or does not match the hashes that prove it."""


def one_line(message: str) -> str:
    """`message` as one printable line: line breaks and runs of white space become one space, other
    characters that do not print become their escape. Messages quote the user's data, and a damaged file
    can put any bytes there."""
    text = " ".join(message.split())
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)
