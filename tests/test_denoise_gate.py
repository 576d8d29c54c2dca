"""What the gate says it can do (curator.denoise.outlook) and the check that an adapter was made for the input's
catalog (curator.denoise.catalog), on their own."""

from pathlib import Path

import numpy as np
import pytest

from curator.data.collaborative import training_interactions
from curator.denoise import catalog
from curator.denoise.catalog import catalog_record, check_catalog, item_overlap
from curator.denoise.config import DEFAULT_ADAPTER
from curator.denoise.outlook import does_little, gate_outlook, outlook_line
from curator.errors import ModelError

from builders import first_users, retitled, tiny_dataset


def test_the_outlook_counts_what_each_threshold_edits_and_its_mean_p():
    p_of_user = [np.array([0.95, 0.6, 0.55, 0.1]), np.array([0.3]), np.array([0.85, 0.52])]
    outlook = gate_outlook(p_of_user, max_edits=2, thresholds=(0.5, 0.9, 0.99))
    assert outlook["highest_p"] == 0.95
    # At 0.5 the first user's 0.55 is the third of its edits: --max-edits 2 leaves it.
    assert outlook["at"]["0.5"] == {"edits": 4, "expected_precision": round((0.95 + 0.6 + 0.85 + 0.52) / 4, 4)}
    assert outlook["at"]["0.9"] == {"edits": 1, "expected_precision": 0.95}
    assert outlook["at"]["0.99"] == {"edits": 0, "expected_precision": None}
    line = outlook_line(outlook, threshold=0.99)
    assert (
        line
        == "highest p 0.95; at 0.5: ~4 edits at expected precision 0.73; at 0.9: ~1 edits at expected precision 0.95"
    )
    assert outlook_line(gate_outlook([np.array([0.2])], None), 0.9) == (
        "highest p 0.20; no threshold from 0.5 up edits anything"
    )
    # Little: fewer edits than a tenth of the noise the share implies (2% of 10,000 interactions: 200).
    assert does_little(19, 10_000, 0.02) and not does_little(20, 10_000, 0.02)


def test_the_shipped_adapter_knows_movielens_and_nothing_retitled(tmp_path, movielens):
    # This checkout's adapters/ (the installed package's may be another checkout's)
    folder = Path(__file__).resolve().parents[1] / "adapters" / DEFAULT_ADAPTER
    check = check_catalog(folder, first_users(movielens, 60, tmp_path / "slice"), allow_foreign=False)
    assert check.overlap == 1.0 and not check.foreign
    other = retitled(movielens, tmp_path / "other")  # the same ids, other items
    with pytest.raises(ModelError, match=r"another catalog: 0% of other's items are in it.*`curator adapt "):
        check_catalog(folder, other, allow_foreign=False)
    allowed = check_catalog(folder, other, allow_foreign=True)
    assert allowed.foreign and allowed.to_dict()["calibrated"] is False


def test_an_adapter_that_records_no_catalog_is_refused(tmp_path, movielens):
    (tmp_path / "old-adapter").mkdir()
    with pytest.raises(ModelError, match="records no catalog"):
        check_catalog(tmp_path / "old-adapter", movielens, allow_foreign=False)
    assert check_catalog(tmp_path / "old-adapter", movielens, allow_foreign=True).overlap is None


@pytest.mark.parametrize("shared", [0, 300, 600, 1000])
def test_the_sketch_estimates_the_overlap_of_catalogs_larger_than_itself(tmp_path, monkeypatch, shared):
    monkeypatch.setattr(catalog, "SKETCH_SIZE", 200)
    adapter_items = [f"a{k}" for k in range(1000)]
    input_items = adapter_items[:shared] + [f"b{k}" for k in range(1000 - shared)]
    trained_on = tiny_dataset(tmp_path / "a", {f"u{k}": adapter_items[k::50] for k in range(50)})
    record = catalog_record(trained_on)
    given = tiny_dataset(tmp_path / "b", {f"u{k}": input_items[k::50] for k in range(50)})
    known, held = (
        set(np.array(d.items["item_id"].to_pylist())[training_interactions(d).item]) for d in (trained_on, given)
    )
    assert record["items"] == len(known) > 200 and len(record["sketch"]) == 200
    # About 200 of the input's items fall below the sketch's largest hash: a binomial share of them.
    assert item_overlap(record, given) == pytest.approx(len(held & known) / len(held), abs=0.1)
