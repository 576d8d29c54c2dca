"""Typed errors. Raised deep in the code; turned into a one-line message and exit code 2 by the CLI."""


class CuratorError(Exception):
    """A problem the user can fix (bad input, bad option, missing file). Never a bug."""


class InputError(CuratorError):
    """An input file or folder is missing, unreadable or malformed."""


class OptionError(CuratorError):
    """A command-line option has a value that cannot be used."""


class ModelError(CuratorError):
    """A model, tokenizer, embedding model or adapter cannot be found or loaded."""


class LedgerError(CuratorError):
    """A ledger of edits does not fit its dataset, or edits what may never be edited (a validation or test
    target: only training interactions are curated)."""
