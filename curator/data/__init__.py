"""Dataset folders: schema, loading and writing, importers, export, statistics, the ledger of edits, hashing, atomic
publication, item text and item sampling.

The names below load on first use (PEP 562): `import curator.data.import_config` (what the command line needs at
start-up) must not pull numpy and pyarrow in through this package.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it.
_EXPORTS = {
    "Dataset": "curator.data.dataset",
    "read_dataset": "curator.data.dataset",
    "tables_hash": "curator.data.dataset",
    "write_dataset": "curator.data.dataset",
    "export_recbole": "curator.data.export",
    "content_hash": "curator.data.hashing",
    "table_hash": "curator.data.hashing",
    "ImportConfig": "curator.data.import_config",
    "IMPORTERS": "curator.data.importers",
    "write_imported": "curator.data.importers",
    "order_interactions": "curator.data.ordering",
    "raw_interactions": "curator.data.ordering",
    "dataset_stats": "curator.data.stats",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # what type checkers and editors see
    from curator.data.dataset import Dataset, read_dataset, tables_hash, write_dataset  # noqa: F401
    from curator.data.export import export_recbole  # noqa: F401
    from curator.data.hashing import content_hash, table_hash  # noqa: F401
    from curator.data.import_config import ImportConfig  # noqa: F401
    from curator.data.importers import IMPORTERS, write_imported  # noqa: F401
    from curator.data.ordering import order_interactions, raw_interactions  # noqa: F401
    from curator.data.stats import dataset_stats  # noqa: F401


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'curator.data' has no attribute '{name}'")
    return getattr(import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return [*globals(), *__all__]
