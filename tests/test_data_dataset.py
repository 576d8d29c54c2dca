"""The dataset folder contract: ordering, validation, content hash, atomic writes."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curator.data import dataset as dataset_module
from curator.data.atomic import atomic_output_dir
from curator.data.dataset import read_dataset, write_dataset
from curator.data.hashing import content_hash, table_hash
from curator.data.ordering import order_interactions, raw_interactions
from curator.errors import InputError, OptionError


def small_tables():
    """Two users; u2 first in the file, with a timestamp tie (t=5) and an out-of-order row."""
    raw = raw_interactions(
        pa.array(["u2", "u1", "u2", "u2", "u1"]),
        pa.array(["b", "a", "c", "a", "b"]),
        source="test",
        timestamp=pa.array([5, 3, 9, 5, 1]),
        rating=pa.array([4.0, None, 2.0, 5.0, 3.0]),
    )
    interactions = order_interactions(raw)
    items = pa.table({"item_id": ["a", "b", "c"], "title": ["A", None, "C"], "genres": ["x", "y", ""]})
    users = pa.table({"user_id": ["u2", "u1"], "weight": pa.array([1.0, 1.0], pa.float32()), "age": ["30", None]})
    return interactions, items, users


def write(out_dir, interactions, items, users, overwrite=False, **kwargs):
    """The tables written as a dataset folder at `out_dir`, atomically (as every stage writes its output)."""
    with atomic_output_dir(out_dir, overwrite=overwrite) as staging:
        write_dataset(
            staging, interactions, items, users, name="small", source=None, command=["test"], config={}, **kwargs
        )
    return read_dataset(out_dir)


def test_order_is_user_first_appearance_then_time_then_file_order():
    interactions, _, _ = small_tables()
    rows = list(zip(*(interactions[c].to_pylist() for c in ("user_id", "item_id", "timestamp", "position"))))
    # u2's tie at t=5: "b" came before "a" in the file, so it keeps the lower position.
    assert rows == [("u2", "b", 5, 0), ("u2", "a", 5, 1), ("u2", "c", 9, 2), ("u1", "b", 1, 0), ("u1", "a", 3, 1)]
    assert interactions.schema.field("position").type == pa.int32()
    assert interactions["rating"].to_pylist() == [4.0, 5.0, 2.0, 3.0, None]


def test_raw_interactions_without_time_uses_file_order_and_rejects_empty_ids():
    raw = raw_interactions(pa.array([1, 1]), pa.array([7, 8]), source="f.txt")
    assert raw["timestamp"].to_pylist() == [0, 1]
    assert raw["user_id"].to_pylist() == ["1", "1"]
    assert raw["rating"].null_count == 2
    with pytest.raises(InputError, match=r"f.txt: row 2 has an empty item id"):
        raw_interactions(pa.array(["u", "u"]), pa.array(["i", ""]), source="f.txt")
    with pytest.raises(InputError, match="f.txt: no interactions"):
        raw_interactions(pa.array([], pa.string()), pa.array([], pa.string()), source="f.txt")


def test_write_then_load_gives_same_tables_and_manifest(tmp_path):
    interactions, items, users = small_tables()
    written = write(tmp_path / "ds", interactions, items, users, notes=["a note"])
    loaded = read_dataset(tmp_path / "ds")
    assert loaded.interactions.equals(interactions)
    assert loaded.items.equals(items)
    assert loaded.users.equals(users)
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest == loaded.manifest == written.manifest
    assert manifest["schema_version"] == 1
    assert manifest["counts"] == {"users": 2, "items": 3, "interactions": 5}
    assert manifest["parent"] is None and manifest["notes"] == ["a note"]
    assert manifest["created_with"].startswith("curator ")
    assert loaded.sequence_bounds().tolist() == [0, 3, 5]


def test_write_sorts_rows_given_in_any_order(tmp_path):
    interactions, items, users = small_tables()
    shuffled = interactions.take(pa.array([4, 2, 0, 3, 1]))  # u1 first now; users.parquet decides
    assert write(tmp_path / "ds", shuffled, items, users).interactions.equals(interactions)


def test_parent_and_extra_files_are_recorded_and_kept(tmp_path):
    interactions, items, users = small_tables()
    parent = write(tmp_path / "parent", interactions, items, users)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "items.jsonl").write_text("{}\n")
    labels = pa.table({"user_id": ["u1"], "position": pa.array([0], pa.int32())})
    child = write(
        tmp_path / "child", interactions, items, users, parent=parent,
        extra_files={"labels/noise.parquet": labels, "profiles": profiles},
    )  # fmt: skip
    assert child.manifest["parent"] == {
        "path": str((tmp_path / "parent").resolve()),
        "content_hash": parent.content_hash,
    }
    assert child.manifest["extra_files"] == ["labels/noise.parquet", "profiles"]
    loaded = read_dataset(tmp_path / "child")
    assert loaded.extras == ["labels", "profiles"]
    assert pq.read_table(tmp_path / "child" / "labels" / "noise.parquet").equals(labels)
    assert (tmp_path / "child" / "profiles" / "items.jsonl").read_text() == "{}\n"
    with pytest.raises(OptionError, match="must be relative"):
        write(tmp_path / "bad", interactions, items, users, extra_files={"../escape.parquet": labels})


def test_content_hash_ignores_parquet_layout_but_not_values(tmp_path):
    interactions, items, users = small_tables()
    pq.write_table(interactions, tmp_path / "a.parquet", compression="zstd", row_group_size=2)
    pq.write_table(interactions, tmp_path / "b.parquet", compression="none", use_dictionary=False)
    a, b = pq.read_table(tmp_path / "a.parquet"), pq.read_table(tmp_path / "b.parquet")
    assert a.column("item_id").num_chunks != b.column("item_id").num_chunks
    assert table_hash(a) == table_hash(b) == table_hash(interactions)
    # Slices (non-zero buffer offsets) hash like fresh copies of the same values.
    assert table_hash(interactions.slice(1, 3)) == table_hash(
        pa.Table.from_pylist(interactions.slice(1, 3).to_pylist(), interactions.schema)
    )
    changed = interactions.set_column(1, "item_id", pa.array(["b", "a", "c", "b", "b"]))
    assert table_hash(changed) != table_hash(interactions)
    # "ab" + "c" must not hash like "a" + "bc".
    assert table_hash(pa.table({"s": ["ab", "c"]})) != table_hash(pa.table({"s": ["a", "bc"]}))
    assert content_hash({"x": items, "y": users}) == content_hash({"y": users, "x": items})
    assert content_hash({"x": items, "y": users}) != content_hash({"x": users, "y": items})


def test_load_rejects_tables_edited_after_writing(tmp_path):
    interactions, items, users = small_tables()
    write(tmp_path / "ds", interactions, items, users)
    pq.write_table(items.set_column(1, "title", pa.array(["A", "B", "C"])), tmp_path / "ds" / "items.parquet")
    with pytest.raises(InputError, match="content_hash does not match"):
        read_dataset(tmp_path / "ds")


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda d: (d / "users.parquet").unlink(), "missing users.parquet"),
        (lambda d: (d / "manifest.json").write_text("{"), r"manifest.json: not valid JSON"),
        (
            lambda d: (d / "interactions.parquet").write_bytes(b"not parquet"),
            r"interactions.parquet: cannot read Parquet",
        ),
    ],
)
def test_load_names_missing_or_unreadable_files(tmp_path, break_it, message):
    write(tmp_path / "ds", *small_tables())
    break_it(tmp_path / "ds")
    with pytest.raises(InputError, match=message):
        read_dataset(tmp_path / "ds")


def test_load_missing_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_dataset(tmp_path / "nope")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda i, it, u: (i.drop_columns(["timestamp"]), it, u), "interactions.parquet: missing column 'timestamp'"),
        (
            lambda i, it, u: (i.set_column(2, "timestamp", i["timestamp"].cast(pa.float64())), it, u),
            "'timestamp' has type double, expected int64",
        ),
        (
            lambda i, it, u: (i.set_column(0, "user_id", pa.array(["u2", None, "u2", "u1", "u1"])), it, u),
            "'user_id' has 1 null",
        ),
        (
            lambda i, it, u: (i.set_column(3, "position", pa.array([0, 2, 3, 0, 1], pa.int32())), it, u),
            "user 'u2' has position 2, expected",
        ),
        (
            lambda i, it, u: (i.set_column(2, "timestamp", pa.array([5, 5, 1, 1, 3])), it, u),
            "timestamp earlier than the interaction before",
        ),
        (lambda i, it, u: (i, it.filter(pa.array([True, True, False])), u), "item 'c' has no row in items.parquet"),
        (
            lambda i, it, u: (i, pa.concat_tables([it, it.slice(0, 1)]), u),
            "items.parquet: item_id 'a' appears more than once",
        ),
        (
            lambda i, it, u: (
                i,
                it,
                pa.concat_tables(
                    [u, pa.table({"user_id": ["u3"], "weight": pa.array([1.0], pa.float32()), "age": ["1"]})]
                ),
            ),
            "users.parquet: user 'u3' has no interactions",
        ),
        (
            lambda i, it, u: (i, it.set_column(2, "genres", pa.array([1, 2, 3])), u),
            "attribute column 'genres' has type int64, expected string",
        ),
    ],
)
def test_invalid_tables_are_refused_with_file_and_problem(tmp_path, edit, message):
    tables = edit(*small_tables())
    with pytest.raises(InputError, match=message):
        write(tmp_path / "ds", *tables)
    assert not (tmp_path / "ds").exists()


def test_existing_output_needs_overwrite(tmp_path):
    write(tmp_path / "ds", *small_tables())
    with pytest.raises(OptionError, match="already exists"):
        write(tmp_path / "ds", *small_tables())
    interactions, items, users = small_tables()
    replaced = write(
        tmp_path / "ds", interactions, items.set_column(1, "title", pa.array(["A", "B", "C"])), users, overwrite=True
    )
    assert read_dataset(tmp_path / "ds").content_hash == replaced.content_hash
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no staging or retired folders left


@pytest.mark.parametrize("overwrite", [False, True])
def test_failure_while_writing_leaves_no_partial_output(tmp_path, monkeypatch, overwrite):
    if overwrite:
        before = write(tmp_path / "ds", *small_tables())
    calls = []

    def failing_write(table, where, **kwargs):
        calls.append(where)
        if len(calls) == 2:  # interactions written, then the disk "fills up"
            raise OSError("No space left on device")
        pq.write_table(table, where, **kwargs)

    monkeypatch.setattr(dataset_module.pq, "write_table", failing_write)
    with pytest.raises(OSError, match="No space"):
        write(tmp_path / "ds", *small_tables(), overwrite=overwrite)
    assert len(calls) == 2
    if overwrite:  # the old dataset is untouched
        monkeypatch.undo()
        assert read_dataset(tmp_path / "ds").content_hash == before.content_hash
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    else:
        assert list(tmp_path.iterdir()) == []
