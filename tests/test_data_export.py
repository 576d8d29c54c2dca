"""RecBole export: the files RecBole reads (read here by its atomic-file rules), the source's field names and
types, the users' weights, and a lossless round trip."""

import csv

import pyarrow as pa
import pytest

from curator.data.dataset import write_dataset
from curator.data.export import export_recbole
from curator.data.importers.recbole import bundled_movielens_100k
from curator.errors import InputError, OptionError

from builders import imported

RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")


def read_atomic_file(path):
    """An atomic file read as RecBole's Dataset._load_feat reads it: a NAME:TYPE header with one of RecBole's four
    types, tab-separated rows with one field per column, floats parsed, sequences split on spaces.
    Returns {name: (type, values)}."""
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    header, body = rows[0], rows[1:]
    fields = [column.split(":") for column in header]
    assert all(len(f) == 2 and f[1] in RECBOLE_TYPES for f in fields), header
    assert all(len(row) == len(header) for row in body)
    parse = {
        "token": str,
        "token_seq": str.split,
        "float": lambda v: float(v) if v else None,
        "float_seq": lambda v: [float(x) for x in v.split()],
    }
    return {name: (kind, [parse[kind](row[k]) for row in body]) for k, (name, kind) in enumerate(fields)}


def test_movielens_exports_with_its_own_field_names_types_and_the_weights(tmp_path, movielens):
    """The export of MovieLens-100K has the bundled files' headers (curator's weight added), counts that match the
    dataset, and the users' weights as floats; curator reads the weights back."""
    users = movielens.users
    weights = pa.array([0.25 if k % 7 == 0 else 1.0 for k in range(len(users))], pa.float32())
    reweighted = write_dataset(
        tmp_path / "reweighted", movielens.interactions, movielens.items, users.set_column(1, "weight", weights),
        name="ml-100k", source=movielens.manifest["source"], command=[], config={},
    )  # fmt: skip
    inter, item, user = export_recbole(reweighted, tmp_path / "export", "ml-100k")
    bundled = bundled_movielens_100k()
    for exported, suffix in ((inter, ".inter"), (item, ".item")):
        assert exported.read_text().splitlines()[0] == bundled.with_suffix(suffix).read_text().splitlines()[0]
    original_user_header = bundled.with_suffix(".user").read_text().splitlines()[0].split("\t")
    expected = [original_user_header[0], "weight:float", *original_user_header[1:]]
    assert user.read_text().splitlines()[0].split("\t") == expected

    inter_fields, item_fields, user_fields = (read_atomic_file(f) for f in (inter, item, user))
    assert len(inter_fields["user_id"][1]) == len(movielens.interactions) == 100000
    assert len(set(inter_fields["user_id"][1])) == len(user_fields["user_id"][1]) == 943
    assert len(item_fields["item_id"][1]) == len(movielens.items) == 1682
    assert user_fields["age"][0] == "token" and item_fields["release_year"][0] == "token"
    assert item_fields["movie_title"][1][0] == ["Toy", "Story"]
    assert user_fields["weight"] == ("float", weights.to_pylist())

    again = imported(str(tmp_path / "export"), tmp_path / "again", format="recbole")
    assert again.users["weight"].equals(reweighted.users["weight"])
    assert again.content_hash == reweighted.content_hash


def test_recbole_round_trip_keeps_the_content_hash(tmp_path):
    original = imported("movielens-100k", tmp_path / "ml")
    files = export_recbole(original, tmp_path / "export", "ml")
    assert [f.name for f in files] == ["ml.inter", "ml.item", "ml.user"]
    again = imported(str(tmp_path / "export"), tmp_path / "again", format="recbole")
    assert again.manifest["table_hashes"]["interactions"] == original.manifest["table_hashes"]["interactions"]
    assert again.content_hash == original.content_hash


def test_export_without_ratings_and_with_awkward_text(tmp_path):
    (tmp_path / "seq.txt").write_text("1 5\n1 6\n2 5\n")
    dataset = imported(str(tmp_path / "seq.txt"), tmp_path / "ds", format="sequence")
    inter, item, _ = export_recbole(dataset, tmp_path / "export", "seq")
    assert inter.read_text() == "user_id:token\titem_id:token\ttimestamp:float\n1\t5\t0\n1\t6\t1\n2\t5\t2\n"
    assert item.read_text() == "item_id:token\ttitle:token_seq\n5\t\n6\t\n"  # no titles: empty fields
    (tmp_path / "e.csv").write_text("u,i\n1,x\n")
    (tmp_path / "items.csv").write_text('i,title\nx,"two\tparts\nand lines"\n')
    dataset = imported(
        str(tmp_path / "e.csv"), tmp_path / "ds2", format="csv",
        options={"mapping": "user=u,item=i", "items_file": tmp_path / "items.csv", "items_mapping": "item=i"},
    )  # fmt: skip
    _, item, _ = export_recbole(dataset, tmp_path / "export2", "e")
    assert item.read_text().splitlines() == ["item_id:token\ttitle:token_seq", "x\ttwo parts and lines"]


def test_export_never_replaces_the_dataset_itself(tmp_path):
    (tmp_path / "seq.txt").write_text("1 5\n")
    dataset = imported(str(tmp_path / "seq.txt"), tmp_path / "ds", format="sequence")
    with pytest.raises(OptionError, match="overlaps the input"):
        export_recbole(dataset, tmp_path / "ds", "seq", overwrite=True)
    assert (tmp_path / "ds" / "manifest.json").is_file()


@pytest.mark.parametrize("weight, message", [("heavy", "not a valid number"), ("-1", "is not a number >= 0")])
def test_a_users_file_weight_that_is_not_a_weight_is_refused(tmp_path, weight, message):
    (tmp_path / "w.inter").write_text("user_id:token\titem_id:token\n1\t5\n")
    (tmp_path / "w.user").write_text(f"user_id:token\tweight:float\n1\t{weight}\n")
    with pytest.raises(InputError, match=message):
        imported(str(tmp_path / "w"), tmp_path / "ds", format="recbole")
