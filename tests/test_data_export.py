"""RecBole export: the files RecBole reads, and a lossless round trip."""

import pytest

from curator.data.export import export_recbole
from curator.errors import OptionError

from builders import imported


def test_recbole_round_trip_keeps_the_content_hash(tmp_path):
    original = imported("movielens-100k", tmp_path / "ml")
    files = export_recbole(original, tmp_path / "export", "ml")
    assert [f.name for f in files] == ["ml.inter", "ml.item", "ml.user"]
    header = files[0].read_text().splitlines()[0]
    assert header == "user_id:token\titem_id:token\trating:float\ttimestamp:float"
    assert (
        files[1].read_text().splitlines()[0]
        == "item_id:token\ttitle:token_seq\trelease_year:token_seq\tgenres:token_seq"
    )
    assert "weight" not in files[2].read_text().splitlines()[0]
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
