"""Importers on real files: MovieLens-100K (recbole wheel), Amazon Beauty, LLM4DSR windows, raw
MovieLens and CSV samples written from real lines."""

import ast
import html
import json
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curator.data.dataset import read_dataset
from curator.data.importers.movielens import ML100K_GENRES
from curator.data.importers.recbole import bundled_movielens_100k
from curator.data.stats import dataset_stats
from curator.errors import InputError, OptionError

from builders import imported
from conftest import NEEDS_SHARED_DATA, SHARED_DATA

BEAUTY = SHARED_DATA / "amazon-beauty" / "beauty.txt"
TOYS = SHARED_DATA / "amazon-toys-llm4dsr"
ML100K = bundled_movielens_100k()


def sequences(dataset):
    """user_id -> list of item ids in position order."""
    bounds = dataset.sequence_bounds()
    items = dataset.interactions["item_id"].to_pylist()
    return {user: items[a:b] for user, a, b in zip(dataset.users["user_id"].to_pylist(), bounds[:-1], bounds[1:])}


def test_movielens_100k_counts_titles_and_manifest(movielens):
    assert movielens.manifest["counts"] == {"users": 943, "items": 1682, "interactions": 100000}
    assert movielens.name == "ml-100k"
    assert movielens.manifest["source"]["format"] == "recbole"
    assert [Path(f["path"]).name for f in movielens.manifest["source"]["files"]] == [
        "ml-100k.inter",
        "ml-100k.item",
        "ml-100k.user",
    ]
    items = movielens.items
    assert items.column_names == ["item_id", "title", "release_year", "genres"]
    first = items.slice(0, 1).to_pylist()[0]
    assert first == {
        "item_id": "1",
        "title": "Toy Story",
        "release_year": "1995",
        "genres": "Animation Children's Comedy",
    }
    assert movielens.users.column_names == ["user_id", "weight", "age", "gender", "occupation", "zip_code"]
    user_8 = next(row for row in movielens.users.to_pylist() if row["user_id"] == "8")
    assert user_8["zip_code"] == "05201"  # kept as text, leading zero intact
    assert read_dataset(movielens.path).content_hash == movielens.content_hash


def test_movielens_100k_order_is_time_then_file_order(movielens):
    # Rebuild the expected order independently: for each user, stable sort of its file rows by timestamp.
    lines = (ML100K.with_suffix(".inter")).read_text().splitlines()[1:]
    rows = [line.split("\t") for line in lines]
    expected: dict[str, list[tuple[int, str]]] = {}
    for user, item, _, timestamp in rows:
        expected.setdefault(user, []).append((int(float(timestamp)), item))
    for user in expected:
        expected[user] = [item for _, item in sorted(expected[user], key=lambda pair: pair[0])]  # sorted() is stable
    assert list(expected) == movielens.users["user_id"].to_pylist()  # users in order of first appearance
    assert sequences(movielens) == expected
    stats = dataset_stats(movielens)
    assert stats["ties_share"] > 0.5  # half of the rows tie on time, so file order really decides
    # A concrete tie: user 196's rows at the same second keep their file order.
    user_rows = [(int(float(t)), i) for u, i, _, t in rows if u == "196"]
    times = [t for t, _ in user_rows]
    tied = next(t for t in times if times.count(t) > 1)
    in_file = [i for t, i in user_rows if t == tied]
    seq = sequences(movielens)["196"]
    assert [i for i in seq if i in in_file] == in_file


@NEEDS_SHARED_DATA
def test_beauty_sequence_file(tmp_path):
    started = time.perf_counter()
    dataset = imported(str(BEAUTY), tmp_path / "beauty", format="sequence")
    assert time.perf_counter() - started < 10
    assert dataset.manifest["counts"] == {"users": 40226, "items": 54542, "interactions": 353962}
    assert any("synthetic" in note for note in dataset.manifest["notes"])
    assert dataset.items["title"].null_count == 54542
    assert dataset.interactions["rating"].null_count == 353962
    # Each user's items keep file order: compare the first user's sequence with the file.
    first_lines = BEAUTY.read_text().splitlines()[:200]
    user = first_lines[0].split()[0]
    expected = [line.split()[1] for line in first_lines if line.split()[0] == user]
    assert sequences(dataset)[user][: len(expected)] == expected


@pytest.fixture(scope="module")
def toys_noisy(tmp_path_factory):
    return imported(
        str(TOYS), tmp_path_factory.mktemp("toys") / "noisy", format="llm4dsr", options={"variant": "noisy"}
    )


def read_windows(variant):
    import pandas as pd

    frames = [pd.read_csv(TOYS / f"{variant}_{split}.csv") for split in ("train_5000", "valid", "test")]
    return [
        (str(u), [str(i) for i in ast.literal_eval(ids)])
        for frame in frames
        for u, ids in zip(frame.user_id, frame.item_ids)
    ]


def contains(sequence, window):
    n = len(window)
    return any(sequence[k : k + n] == window for k in range(len(sequence) - n + 1))


@NEEDS_SHARED_DATA
def test_llm4dsr_clean_windows_are_slices_of_rebuilt_sequences(tmp_path):
    dataset = imported(str(TOYS), tmp_path / "clean", format="llm4dsr")
    seqs = sequences(dataset)
    windows = read_windows("clean")
    found = sum(contains(seqs[user], window) for user, window in windows)
    notes = " ".join(dataset.manifest["notes"])
    dropped = int(notes.split("dropping ")[1].split(" windows")[0])
    assert found == len(windows) - dropped  # every window not reported as dropped is inside its sequence
    assert dropped < 0.1 * len(windows)
    assert dataset.manifest["counts"]["users"] == len({u for u, _ in windows})
    assert not (tmp_path / "clean" / "labels").exists()
    # Titles come from id2name.json with HTML entities decoded.
    titles = dict(zip(dataset.items["item_id"].to_pylist(), dataset.items["title"].to_pylist()))
    raw = json.loads((TOYS / "id2name.json").read_text())
    assert titles["3"] == html.unescape(raw["3"]) and "&amp;" in raw["3"] and "&" in titles["3"]
    assert not any("&amp;" in t for t in titles.values())
    # Short windows start the sequence: a user whose first window has 5 items starts with exactly those.
    user, window = next((u, w) for u, w in windows if len(w) == 5)
    assert seqs[user][:5] == window


@NEEDS_SHARED_DATA
def test_llm4dsr_noisy_labels_are_kept_out_of_the_tables(toys_noisy):
    dataset = toys_noisy
    for table in (dataset.interactions, dataset.items, dataset.users):
        assert not {"mask", "is_noise", "original_title"} & set(table.column_names)
    assert dataset.extras == ["labels"]
    labels = pq.read_table(dataset.path / "labels" / "noise.parquet")
    assert labels.column_names == ["user_id", "position", "item_id", "is_noise", "original_title"]
    assert len(labels) == len(dataset.interactions)
    inter = dataset.interactions
    assert labels["user_id"].equals(inter["user_id"]) and labels["item_id"].equals(inter["item_id"])
    assert labels["position"].equals(inter["position"])
    noise = labels["is_noise"].to_numpy(zero_copy_only=False)
    assert 0.05 < noise.mean() < 0.15  # ~10% injected
    originals = labels["original_title"]
    assert originals.null_count == len(labels) - noise.sum()  # an original title exactly where there is noise
    assert not pc.any(pc.match_substring(originals.drop_null(), "&amp;")).as_py()
    assert "labels/noise.parquet" in dataset.manifest["extra_files"]


@NEEDS_SHARED_DATA
def test_llm4dsr_options(tmp_path):
    dataset = imported(str(TOYS), tmp_path / "test-only", format="llm4dsr", options={"splits": "test"})
    assert [Path(f["path"]).name for f in dataset.manifest["source"]["files"]] == ["clean_test.csv", "id2name.json"]
    with pytest.raises(OptionError, match="--splits"):
        imported(str(TOYS), tmp_path / "x", format="llm4dsr", options={"splits": "training"})
    with pytest.raises(OptionError, match="--variant"):
        imported(str(TOYS), tmp_path / "x", format="llm4dsr", options={"variant": "dirty"})
    with pytest.raises(OptionError, match="does not take option"):
        imported(str(TOYS), tmp_path / "x", format="llm4dsr", options={"mapping": "user=a"})
    assert not (tmp_path / "x").exists()


def write_raw_movielens_100k(folder: Path, n_ratings: int = 300) -> None:
    """A real-format ML-100K folder (u.data, u.item latin-1 with genre flags, u.user) from the wheel's files."""
    folder.mkdir()
    inter = ML100K.with_suffix(".inter").read_text().splitlines()[1 : n_ratings + 1]
    (folder / "u.data").write_text("".join(line + "\n" for line in inter))
    items = []
    for line in ML100K.with_suffix(".item").read_text(encoding="utf-8").splitlines()[1:]:
        item, title, year, classes = line.split("\t")
        flags = ["1" if genre in classes.split() else "0" for genre in ML100K_GENRES]
        items.append("|".join([item, f"{title} ({year})", f"01-Jan-{year}", "", "http://imdb/x", *flags]))
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    users = ML100K.with_suffix(".user").read_text().splitlines()[1:]
    used = {line.split("\t")[0] for line in inter}
    (folder / "u.user").write_text(
        "".join(line.replace("\t", "|") + "\n" for line in users if line.split("\t")[0] in used)
    )


def test_raw_movielens_100k_folder(tmp_path):
    write_raw_movielens_100k(tmp_path / "ml")
    dataset = imported(str(tmp_path / "ml"), tmp_path / "out", format="movielens")
    assert dataset.manifest["counts"]["interactions"] == 300
    assert dataset.manifest["counts"]["items"] == 1682  # the whole catalog, interacted or not
    items = {row["item_id"]: row for row in dataset.items.to_pylist()}
    assert items["1"]["title"] == "Toy Story (1995)"
    assert items["1"]["genres"] == "Animation|Children's|Comedy"
    assert items["543"]["title"] == "Misérables, Les (1995)"  # latin-1 decoded
    assert "video_release_date" not in dataset.items.column_names
    assert dataset.users.column_names == ["user_id", "weight", "age", "gender", "occupation", "zip_code"]
    assert dataset.interactions["rating"].null_count == 0


def test_raw_movielens_1m_folder(tmp_path):
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text(
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n1::914::3::978300760\n"
    )
    movies = [
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama",
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical",
        "914::My Fair Lady (1964)::Musical|Romance",
        "999::Café (2000)::Drama",
    ]
    (folder / "movies.dat").write_bytes("".join(line + "\n" for line in movies).encode("latin-1"))
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    dataset = imported(str(folder), tmp_path / "out", format="movielens")
    assert sequences(dataset) == {"1": ["1193", "914", "661"], "2": ["1193"]}  # 1193 and 914 tie: file order
    assert dataset.items.to_pylist()[3]["title"] == "Café (2000)"
    assert dataset.users.to_pylist()[1] == {
        "user_id": "2",
        "weight": 1.0,
        "gender": "M",
        "age": "56",
        "occupation": "16",
        "zip_code": "70072",
    }


def test_csv_with_mapping_iso_times_and_items_file(tmp_path):
    (tmp_path / "events.csv").write_text(
        "when,who,what,stars\n"
        "2021-03-01T10:00:00,alice,i2,4.5\n"
        "2021-03-01T09:00:00,alice,i1,3\n"
        '2021-03-02,"bob, jr",i1,\n'
        "2021-03-01T10:00:00+00:00,alice,i3,5\n".replace("+00:00", "")
    )
    (tmp_path / "items.tsv").write_text("id\tname\tcategory\ni1\tWidget & Co\tTools\ni2\t\tToys\n")
    options = {
        "mapping": "user=who,item=what,time=when,rating=stars",
        "items_file": tmp_path / "items.tsv",
        "items_mapping": "item=id,title=name",
    }
    dataset = imported(str(tmp_path / "events.csv"), tmp_path / "out", format="csv", options=options)
    assert sequences(dataset) == {"alice": ["i1", "i2", "i3"], "bob, jr": ["i1"]}
    assert dataset.interactions["timestamp"].to_pylist()[:2] == [1614589200, 1614592800]
    assert dataset.interactions["rating"].to_pylist() == [3.0, 4.5, 5.0, None]
    assert dataset.items.to_pylist() == [
        {"item_id": "i1", "title": "Widget & Co", "category": "Tools"},
        {"item_id": "i2", "title": "", "category": "Toys"},
        {"item_id": "i3", "title": None, "category": None},  # interacted, not in the items file
    ]
    assert any("1 interacted items are not in" in note for note in dataset.manifest["notes"])
    assert dataset.manifest["config"]["mapping"] == "user=who,item=what,time=when,rating=stars"


def test_csv_integer_times_given_delimiter_and_no_time(tmp_path):
    (tmp_path / "a.txt").write_text("u;i;t\n1;x;20\n1;y;10\n")
    dataset = imported(
        str(tmp_path / "a.txt"),
        tmp_path / "o1",
        format="csv",
        options={"mapping": "user=u,item=i,time=t", "delimiter": "semicolon"},
    )
    assert sequences(dataset) == {"1": ["y", "x"]}
    dataset = imported(str(tmp_path / "a.txt"), tmp_path / "o2", format="csv", options={"mapping": "user=u,item=i"})
    assert sequences(dataset) == {"1": ["x", "y"]}  # no time column: file order
    assert any("synthetic" in note for note in dataset.manifest["notes"])


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (None, "needs --map"),
        ("user=u", "missing item=COLUMN"),
        ("user=u,item=i,when=t", "unknown key 'when'"),
        ("user", "'user' is not KEY=COLUMN"),
    ],
)
def test_csv_bad_mapping_is_an_option_error(tmp_path, mapping, message):
    (tmp_path / "a.csv").write_text("u,i,t\n1,x,20\n")
    with pytest.raises(OptionError, match=message):
        imported(
            str(tmp_path / "a.csv"), tmp_path / "out", format="csv", options={"mapping": mapping} if mapping else {}
        )


def test_csv_bad_time_value_names_row_and_column(tmp_path):
    (tmp_path / "a.csv").write_text("u,i,t\n1,x,20\n1,y,yesterday\n")
    with pytest.raises(
        InputError, match=r"a.csv, data row 2, column t: 'yesterday' is neither an integer nor an ISO date-time"
    ):
        imported(str(tmp_path / "a.csv"), tmp_path / "out", format="csv", options={"mapping": "user=u,item=i,time=t"})


def test_recbole_source_forms_and_missing_timestamp(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "shop.inter").write_text(
        "user_id:token\titem_id:token\tcomment:token_seq\nu1\ti1\tnice one\nu1\ti2\tok\n"
    )
    (folder / "shop.item").write_text(
        "item_id:token\ttitle:token_seq\tcategories:token_seq\ni1\tA thing\tHome Garden\n"
    )
    for source in (folder, folder / "shop", folder / "shop.inter"):
        dataset = imported(str(source), tmp_path / "out", format="recbole", overwrite=True)
        assert dataset.name == "shop"
    assert dataset.items.column_names == ["item_id", "title", "genres"]
    assert sequences(dataset) == {"u1": ["i1", "i2"]}
    notes = " ".join(dataset.manifest["notes"])
    assert "synthetic" in notes and "comment" in notes


def test_recbole_fractional_timestamp_is_refused(tmp_path):
    (tmp_path / "x.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\nu\ti\t1.5\n")
    with pytest.raises(InputError, match="not a whole number"):
        imported(str(tmp_path / "x.inter"), tmp_path / "out", format="recbole")


def test_output_inside_the_input_is_refused(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "shop.inter").write_text("user_id:token\titem_id:token\nu1\ti1\n")
    with pytest.raises(OptionError, match="inputs are never modified"):
        imported(str(folder), folder, format="recbole", overwrite=True)
    assert (folder / "shop.inter").is_file()


def test_sequence_lengths_and_sparsity_stats(movielens):
    stats = dataset_stats(movielens)
    lengths = np.diff(movielens.sequence_bounds())
    assert stats["sequence_length"]["min"] == 20 == lengths.min()
    assert stats["sequence_length"]["max"] == lengths.max()
    assert stats["items_interacted"] == stats["items_catalog"] == 1682
    assert stats["sparsity"] == pytest.approx(1 - 100000 / (943 * 1682))
    assert stats["ratings_present"] == 100000
    assert stats["timestamp_min"] == min(movielens.interactions["timestamp"].to_pylist())


def test_the_start_up_names_of_import_are_the_registrys():
    """The command line offers the formats and bundled datasets of curator.data.import_config without loading the
    readers: they must be exactly those the registry reads."""
    from curator.data.import_config import FORMATS, SHORTCUT_FORMATS
    from curator.data.importers import IMPORTERS, SHORTCUTS

    assert tuple(IMPORTERS) == FORMATS
    assert {name: format for name, (format, _) in SHORTCUTS.items()} == SHORTCUT_FORMATS
