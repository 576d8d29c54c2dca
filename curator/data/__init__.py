"""Dataset folders: schema, loading and writing, importers, export, statistics, the ledger of edits, hashing, atomic
publication, item text and item sampling."""

from curator.data.dataset import Dataset, load_dataset, tables_hash, write_dataset
from curator.data.export import export_recbole
from curator.data.hashing import content_hash, table_hash
from curator.data.importers import IMPORTERS, ImportConfig, write_imported
from curator.data.ordering import order_interactions, raw_interactions
from curator.data.stats import dataset_stats

__all__ = [
    "IMPORTERS",
    "Dataset",
    "content_hash",
    "dataset_stats",
    "export_recbole",
    "ImportConfig",
    "load_dataset",
    "order_interactions",
    "raw_interactions",
    "table_hash",
    "tables_hash",
    "write_dataset",
    "write_imported",
]
