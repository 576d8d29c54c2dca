"""The ledger on real MovieLens-100K: input + ledger = output, output + ledger = input (content hash),
and only training interactions are ever edited."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curator.data.dataset import read_dataset
from curator.data.ledger import (
    Action,
    Edit,
    apply_ledger,
    build_ledger,
    ledger_counts,
    read_ledger,
    revert_ledger,
    write_curated,
)
from curator.data.splits import training_mask
from curator.errors import LedgerError


def random_edits(dataset, seed=0, drops=5, reweights=20, removes=400, replaces=400):
    """A random mix of every action on training interactions of distinct users and positions."""
    rng = np.random.default_rng(seed)
    users = dataset.users["user_id"].to_pylist()
    dropped = set(rng.choice(users, drops, replace=False).tolist())
    training = np.flatnonzero(training_mask(dataset.interactions))
    interactions = dataset.interactions.take(training)
    eligible = np.flatnonzero(~pc.is_in(interactions["user_id"], value_set=pa.array(sorted(dropped))).to_numpy(False))
    chosen = rng.choice(eligible, removes + replaces, replace=False)
    catalog = dataset.items["item_id"].to_pylist()
    edits = [Edit(u, Action.DROP_USER, score=0.99, threshold=0.9) for u in sorted(dropped)]
    kept_users = [u for u in users if u not in dropped]
    edits += [
        Edit(u, Action.REWEIGHT, new_weight=float(w), score=0.5)
        for u, w in zip(rng.choice(kept_users, reweights, replace=False), rng.random(reweights))
    ]
    for n, row in enumerate(chosen):
        user, position, item = (interactions[c][int(row)].as_py() for c in ("user_id", "position", "item_id"))
        if n < removes:
            edits.append(Edit(user, Action.REMOVE, position=position, score=0.95, threshold=0.9))
        else:
            new_item = next(i for i in rng.choice(catalog, 5) if i != item)
            edits.append(Edit(user, Action.REPLACE, position=position, new_item=str(new_item), score=0.97))
    rng.shuffle(edits)
    return edits


def test_apply_then_revert_is_exact(movielens):
    edits = random_edits(movielens)
    ledger = build_ledger(movielens.tables, edits, stage="test", model="m", adapter="a")
    assert ledger_counts(ledger) == {"remove": 400, "replace": 400, "drop-user": 5, "reweight": 20}
    output = apply_ledger(movielens.tables, ledger)
    assert output.content_hash() != movielens.tables.content_hash()
    assert len(output.users) == 943 - 5
    dropped_rows = int(np.sum(np.array(ledger["action"].to_pylist()) == "drop-user"))
    assert len(output.interactions) == 100_000 - 400 - dropped_rows
    assert revert_ledger(output, ledger).content_hash() == movielens.tables.content_hash()


def test_removals_shift_replacements_keep_positions(movielens):
    user = movielens.users["user_id"][0].as_py()
    before = movielens.interactions.filter(pc.equal(movielens.interactions["user_id"], user))
    edits = [
        Edit(user, Action.REMOVE, position=2),
        Edit(user, Action.REPLACE, position=5, new_item="1"),
        Edit(movielens.users["user_id"][1].as_py(), Action.REWEIGHT, new_weight=0.25),
    ]
    output = apply_ledger(movielens.tables, build_ledger(movielens.tables, edits, stage="test"))
    after = output.interactions.filter(pc.equal(output.interactions["user_id"], user))
    old, new = before["item_id"].to_pylist(), after["item_id"].to_pylist()
    assert new == old[:2] + old[3:5] + ["1"] + old[6:]
    assert after["position"].to_pylist() == list(range(len(old) - 1))
    assert after["rating"][4].as_py() is None  # the rating was given to the old item
    assert after["timestamp"][4].as_py() == before["timestamp"][5].as_py()
    assert output.users["weight"][1].as_py() == 0.25


def test_dropped_user_vanishes_with_its_row(movielens):
    user = movielens.users["user_id"][7].as_py()
    ledger = build_ledger(movielens.tables, [Edit(user, Action.DROP_USER)], stage="fraud")
    output = apply_ledger(movielens.tables, ledger)
    assert user not in output.users["user_id"].to_pylist()
    assert user not in output.interactions["user_id"].to_pylist()
    row = ledger.to_pylist()[0]
    assert row["user_index"] == 7 and json.loads(row["user_attributes"])["occupation"]
    assert revert_ledger(output, ledger).content_hash() == movielens.tables.content_hash()


def test_write_curated_folder_reproduces_both_ways(movielens, tmp_path):
    ledger = build_ledger(movielens.tables, random_edits(movielens, seed=1), stage="denoise")
    curated = write_curated(
        tmp_path / "cleaned", movielens, ledger, "denoise", {"threshold": 0.9}, ["curator", "x"], name="cleaned"
    )
    loaded = read_dataset(tmp_path / "cleaned")
    stored = read_ledger(loaded)
    assert (
        "ledger.parquet" in loaded.extras
        and pq.read_schema(loaded.path / "ledger.parquet").names == ledger.column_names
    )
    assert loaded.manifest["parent"]["content_hash"] == movielens.content_hash
    assert loaded.manifest["config"] == {"stage": "denoise", "threshold": 0.9}
    assert apply_ledger(movielens.tables, stored).content_hash() == curated.content_hash
    assert revert_ledger(loaded.tables, stored).content_hash() == movielens.content_hash


def test_an_empty_ledger_changes_nothing(movielens):
    ledger = build_ledger(movielens.tables, [], stage="denoise")
    assert apply_ledger(movielens.tables, ledger).content_hash() == movielens.content_hash
    assert revert_ledger(movielens.tables, ledger).content_hash() == movielens.content_hash


def test_only_training_interactions_are_edited(movielens):
    user = movielens.users["user_id"][0].as_py()
    length = int(np.diff(movielens.sequence_bounds())[0])
    for position in (length - 2, length - 1):
        with pytest.raises(LedgerError, match="validation or test target"):
            build_ledger(movielens.tables, [Edit(user, Action.REMOVE, position=position)], stage="t")
        with pytest.raises(LedgerError, match="validation or test target"):
            build_ledger(movielens.tables, [Edit(user, Action.REPLACE, position=position, new_item="1")], stage="t")
    emptying = [Edit(user, Action.REMOVE, position=p) for p in range(length - 2)]
    with pytest.raises(LedgerError, match="every training interaction"):
        build_ledger(movielens.tables, emptying, stage="t")


@pytest.mark.parametrize(
    "edits, problem",
    [
        ([Edit("nobody", Action.REMOVE, position=0)], "no such user"),
        ([Edit("196", Action.REMOVE, position=10_000)], "no position"),
        (
            [Edit("196", Action.REMOVE, position=0), Edit("196", Action.REPLACE, position=0, new_item="1")],
            "second edit",
        ),
        ([Edit("196", Action.REPLACE, position=0, new_item="no-such-item")], "not in the catalog"),
        ([Edit("196", Action.DROP_USER), Edit("196", Action.REWEIGHT, new_weight=0.5)], "dropped user"),
        ([Edit("196", Action.REWEIGHT, new_weight=-1.0)], "new_weight >= 0"),
        ([Edit("196", Action.REMOVE, position=0, score=1.5)], "probability"),
    ],
)
def test_bad_edits_are_refused(movielens, edits, problem):
    with pytest.raises(LedgerError, match=problem):
        build_ledger(movielens.tables, edits, stage="t")


def test_a_ledger_that_does_not_fit_is_refused(movielens):
    ledger = build_ledger(movielens.tables, [Edit("196", Action.REPLACE, position=0, new_item="1")], stage="t")
    tampered = ledger.set_column(ledger.column_names.index("old_item"), "old_item", pa.array(["2"]))
    with pytest.raises(LedgerError, match="not what the input holds"):
        apply_ledger(movielens.tables, tampered)
    with pytest.raises(LedgerError, match="not new_item"):
        revert_ledger(movielens.tables, ledger)  # the input, not the output: position 0 holds the old item
