"""The dataset card: Hugging Face `datasets` loads each table of a dataset folder as its own config, the optional
tables (labels, ledger) included, with the rows and columns curator wrote."""

import pyarrow.parquet as pq
import yaml
from datasets import load_dataset

from curator.data.dataset import read_dataset
from curator.inject.config import InjectConfig

from builders import first_users, injected


def card_header(folder):
    return yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])


def load(folder, *config, cache):
    return load_dataset(str(folder), *config, split="train", cache_dir=str(cache))


def test_datasets_loads_every_table_of_a_folder_as_its_own_config(movielens, tmp_path):
    small = first_users(movielens, 30, tmp_path / "small")
    noisy, _ = injected(small, InjectConfig(noise=0.1, seed=1), tmp_path / "noisy")
    configs = {c["config_name"]: c["data_files"] for c in card_header(noisy.path)["configs"]}
    assert configs == {
        "interactions": "interactions.parquet",
        "items": "items.parquet",
        "users": "users.parquet",
        "labels_noise": "labels/noise.parquet",
    }
    tables = {"interactions": noisy.interactions, "items": noisy.items, "users": noisy.users}
    tables["labels_noise"] = pq.read_table(noisy.path / "labels" / "noise.parquet")
    for name, table in tables.items():
        loaded = load(noisy.path, name, cache=tmp_path / "hf")
        assert loaded.num_rows == len(table) and loaded.column_names == table.column_names, name
    assert load(noisy.path, "users", cache=tmp_path / "hf")["weight"] == noisy.users["weight"].to_pylist()
    assert load(noisy.path, cache=tmp_path / "hf").num_rows == len(noisy.interactions)  # the default config

    assert read_dataset(noisy.path).extras == ["labels"]  # the card is no extra a later stage would carry over
    assert f"made from `{small.path.resolve()}`" in (noisy.path / "README.md").read_text()
