"""`curator inject` on real MovieLens-100K: noise only in training interactions, attacks that look like real
users, ground truth kept apart, same seed -> same output, bad options -> one line and exit code 2."""

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curator.data.collaborative import item_popularity, training_interactions
from curator.data.dataset import read_dataset, write_dataset
from curator.data.splits import HELD_OUT, training_mask
from curator.errors import OptionError
from curator.inject.attacks import BANDWAGON_SHARE, SEQUENTIAL_VISIT_EVERY, fresh_user_ids
from curator.inject.config import ATTACKS, FAKE_USERS_LABELS, NOISE_LABELS, TARGETS_LABELS, InjectConfig

from builders import injected as inject
from conftest import run_cli as run


def sequences(dataset):
    """user -> list of item ids, in sequence order."""
    out = {}
    for user, item in zip(dataset.interactions["user_id"].to_pylist(), dataset.interactions["item_id"].to_pylist()):
        out.setdefault(user, []).append(item)
    return out


def test_noise_replaces_training_interactions_only(movielens, tmp_path):
    noisy, summary = inject(movielens, InjectConfig(noise=0.1, seed=3), tmp_path / "noisy")
    before, after = movielens.interactions, noisy.interactions
    changed = np.flatnonzero(before["item_id"].to_numpy(False) != after["item_id"].to_numpy(False))
    training = training_mask(before)
    assert len(changed) == summary["noise"]["replaced"] == round(0.1 * training.sum())
    assert training[changed].all()  # never a validation or test target
    for column in ("user_id", "timestamp", "position", "rating"):
        assert after[column].equals(before[column])  # only the item tells noise apart

    labels = pq.read_table(noisy.path / NOISE_LABELS)
    assert labels["user_id"].to_pylist() == before["user_id"].take(changed).to_pylist()
    assert labels["position"].to_pylist() == before["position"].take(changed).to_pylist()
    assert labels["item_id"].to_pylist() == after["item_id"].take(changed).to_pylist()
    assert labels["original_item_id"].to_pylist() == before["item_id"].take(changed).to_pylist()
    titles = dict(zip(movielens.items["item_id"].to_pylist(), movielens.items["title"].to_pylist()))
    assert labels["original_title"].to_pylist() == [titles[i] for i in labels["original_item_id"].to_pylist()]

    original = sequences(movielens)
    for items in sequences(noisy).values():
        assert len(set(items)) == len(items)  # nothing injected twice, nor an item the user already had
    injected = set(zip(labels["user_id"].to_pylist(), labels["item_id"].to_pylist()))
    assert not any(item in original[user] for user, item in injected)


def test_labels_are_kept_apart_from_the_manifest(movielens, tmp_path):
    noisy, _ = inject(movielens, InjectConfig(noise=0.1, attack="random", targets=2), tmp_path / "n", command=["c"])
    manifest = json.loads((noisy.path / "manifest.json").read_text())
    assert manifest["config"] == {
        "stage": "inject",
        "noise": 0.1,
        "noise_dist": "uniform",
        "attack": "random",
        "fake_users": 0.01,
        "targets": 2,
        "seed": 0,
    }
    assert manifest["parent"]["content_hash"] == movielens.content_hash and manifest["command"] == ["c"]
    targets = pq.read_table(noisy.path / TARGETS_LABELS)["item_id"].to_pylist()
    text = json.dumps({key: value for key, value in manifest.items() if key != "content_hash"})
    text += (noisy.path / "stage.json").read_text()  # the stage's record names the labels' files, not their rows
    assert not any(f'"{target}"' in text or f" {target} " in text for target in targets)
    assert sorted(noisy.extras) == ["labels"]


def test_popularity_noise_follows_popularity(movielens, tmp_path):
    popularity = item_popularity(training_interactions(movielens))
    index = {item: i for i, item in enumerate(movielens.items["item_id"].to_pylist())}
    mean_popularity = {}
    for distribution in ("uniform", "popularity"):
        noisy, _ = inject(movielens, InjectConfig(noise=0.1, noise_dist=distribution), tmp_path / distribution)
        injected = pq.read_table(noisy.path / NOISE_LABELS)["item_id"].to_pylist()
        mean_popularity[distribution] = popularity[[index[i] for i in injected]].mean()
    # Popularity-matched noise looks like real interactions (a little less popular: users already have many
    # of the hits, and an injected item is never one the user has); uniform noise is mostly rare items.
    real = popularity[training_interactions(movielens).item].mean()
    assert 0.7 * real < mean_popularity["popularity"] < real
    assert mean_popularity["uniform"] < 0.3 * real


def test_same_seed_same_output(movielens, tmp_path):
    config = InjectConfig(noise=0.05, noise_dist="popularity", attack="sequential", targets=2, seed=7)
    first, _ = inject(movielens, config, tmp_path / "a")
    second, _ = inject(movielens, config, tmp_path / "b")
    other, _ = inject(
        movielens,
        InjectConfig(noise=0.05, noise_dist="popularity", attack="sequential", targets=2, seed=8),
        tmp_path / "c",
    )
    assert first.content_hash == second.content_hash != other.content_hash
    for labels in (NOISE_LABELS, FAKE_USERS_LABELS, TARGETS_LABELS):
        assert pq.read_table(first.path / labels).equals(pq.read_table(second.path / labels))


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_adds_fake_users_promoting_unpopular_targets(movielens, tmp_path, attack):
    attacked, summary = inject(
        movielens, InjectConfig(attack=attack, fake_users=0.02, targets=3, seed=1), tmp_path / attack
    )
    fakes = pq.read_table(attacked.path / FAKE_USERS_LABELS)
    targets = pq.read_table(attacked.path / TARGETS_LABELS)
    real_users = movielens.users["user_id"].to_pylist()
    fake_ids = fakes["user_id"].to_pylist()
    assert summary["attack"]["fake_users"] == len(fake_ids) == round(0.02 * 943)
    assert attacked.users["user_id"].to_pylist() == real_users + fake_ids  # appended, no collision
    assert set(fakes["attack"].to_pylist()) == {attack}

    # Real users are untouched; fake sequence lengths are real lengths.
    real_rows = len(movielens.interactions)
    assert attacked.interactions.slice(0, real_rows).equals(movielens.interactions)
    real_lengths = set(np.diff(movielens.sequence_bounds()).tolist())
    fake_sequences = {user: items for user, items in sequences(attacked).items() if user in set(fake_ids)}
    assert all(len(items) in real_lengths for items in fake_sequences.values())

    # Targets are unpopular, and every fake user has them in its training part.
    popularity = item_popularity(training_interactions(movielens))
    assert (targets["popularity"].to_numpy() <= np.median(popularity[popularity > 0])).all()
    target_ids = targets["item_id"].to_pylist()
    assert all(row == target_ids for row in fakes["targets"].to_pylist())
    for items in fake_sequences.values():
        training_part, held_out = items[:-HELD_OUT], items[-HELD_OUT:]
        if attack == "sequential":  # visits every SEQUENTIAL_VISIT_EVERY items, the training part ends on one
            assert training_part[-1] in target_ids and not set(held_out) & set(target_ids)
            assert sum(item in target_ids for item in training_part) == -(-len(training_part) // SEQUENTIAL_VISIT_EVERY)
        else:
            assert sorted(i for i in training_part if i in target_ids) == sorted(target_ids)
            assert len(set(items)) == len(items)


def test_filler_pools(movielens, tmp_path):
    """Bandwagon fillers come from the most popular items, reverse-bandwagon fillers from the least popular ones
    that real users hold, segment fillers from one genre: each fake user takes as many as it needs from its
    pool, and only when the pool runs dry goes to the rest of the catalog."""
    popularity = item_popularity(training_interactions(movielens))
    item_ids = movielens.items["item_id"].to_pylist()
    by_popularity = [item_ids[i] for i in np.argsort(-popularity, kind="stable") if popularity[i] > 0]
    share = round(BANDWAGON_SHARE * len(item_ids))
    top, bottom = set(by_popularity[:share]), set(by_popularity[-share:])
    genres = dict(zip(item_ids, movielens.items["genres"].to_pylist()))
    for attack in ("bandwagon", "reverse-bandwagon", "segment"):
        attacked, _ = inject(movielens, InjectConfig(attack=attack, targets=1, seed=2), tmp_path / attack)
        fakes = pq.read_table(attacked.path / FAKE_USERS_LABELS)
        target = pq.read_table(attacked.path / TARGETS_LABELS)["item_id"][0].as_py()
        if attack == "bandwagon":
            pool = top - {target}
        elif attack == "reverse-bandwagon":
            pool = bottom - {target}
        else:
            genre = fakes["segment"][0].as_py().removeprefix("genre ")
            pool = {i for i, p in zip(item_ids, popularity) if genre in genres[i].split() and p > 0} - {target}
        for user, items in sequences(attacked).items():
            if user in set(fakes["user_id"].to_pylist()):
                fillers = [item for item in items if item != target]
                assert sum(item in pool for item in fillers) == min(len(fillers), len(pool)), attack


def test_template_fillers_are_a_run_of_a_real_users_history(movielens, tmp_path):
    attacked, _ = inject(movielens, InjectConfig(attack="template", targets=2, seed=5), tmp_path / "template")
    fakes = set(pq.read_table(attacked.path / FAKE_USERS_LABELS)["user_id"].to_pylist())
    targets = set(pq.read_table(attacked.path / TARGETS_LABELS)["item_id"].to_pylist())
    train = training_interactions(movielens)
    item_ids = movielens.items["item_id"].to_pylist()
    histories = [[item_ids[i] for i in history if item_ids[i] not in targets] for history in train.sequences()]
    runs = {tuple(history[start : start + 10]) for history in histories for start in range(len(history) - 9)}
    for user, items in sequences(attacked).items():
        if user in fakes:  # a real user's taste, in its order (ML-100K histories hold 18+ training items)
            assert tuple([item for item in items if item not in targets][:10]) in runs


def test_rating_attacks_set_the_fillers_ratings(movielens, tmp_path):
    train = training_interactions(movielens)
    ratings = movielens.interactions["rating"].to_numpy()
    counts = np.bincount(train.item, minlength=len(movielens.items))
    totals = np.bincount(train.item, ratings[train.rows], len(movielens.items))
    means = np.where(counts > 0, totals / np.maximum(counts, 1), ratings.mean())  # unrated items: the mean rating
    mean_of = dict(zip(movielens.items["item_id"].to_pylist(), means))
    for attack in ("average", "love-hate"):
        attacked, _ = inject(movielens, InjectConfig(attack=attack, targets=2, seed=6), tmp_path / attack)
        targets = set(pq.read_table(attacked.path / TARGETS_LABELS)["item_id"].to_pylist())
        fake_rows = attacked.interactions.slice(len(movielens.interactions)).to_pylist()
        assert {row["rating"] for row in fake_rows if row["item_id"] in targets} == {5.0}
        fillers = [row for row in fake_rows if row["item_id"] not in targets]
        if attack == "love-hate":
            assert {row["rating"] for row in fillers} == {1.0}
        else:  # each filler at its item's mean rating, rounded to the 1-5 stars
            assert all(
                row["rating"] == min(5.0, max(1.0, round(mean_of[row["item_id"]])))
                for row in fillers
                if abs(mean_of[row["item_id"]] % 1 - 0.5) > 1e-9
            )

    unrated = write_dataset(
        tmp_path / "unrated",
        movielens.interactions.set_column(4, "rating", pa.nulls(len(movielens.interactions), pa.float32())),
        movielens.items,
        movielens.users,
        name="unrated",
        source=None,
        command=[],
        config={},
    )
    with pytest.raises(OptionError, match="no ratings"):
        inject(unrated, InjectConfig(attack="average", seed=1), tmp_path / "nothing")


def test_segment_without_genres_is_a_cooccurrence_neighbourhood(movielens, tmp_path):
    plain = write_dataset(
        tmp_path / "plain",
        movielens.interactions,
        movielens.items.drop_columns(["genres"]),
        movielens.users,
        name="plain",
        source=None,
        command=[],
        config={},
    )
    attacked, _ = inject(plain, InjectConfig(attack="segment", seed=3), tmp_path / "out")
    segment = pq.read_table(attacked.path / FAKE_USERS_LABELS)["segment"][0].as_py()
    assert segment.startswith("co-occurrence neighbours of item ")


def test_noise_and_attack_combined(movielens, tmp_path):
    both, _ = inject(movielens, InjectConfig(noise=0.1, attack="bandwagon", seed=4), tmp_path / "both")
    noise_only, _ = inject(movielens, InjectConfig(noise=0.1, seed=4), tmp_path / "noise")
    fake_ids = set(pq.read_table(both.path / FAKE_USERS_LABELS)["user_id"].to_pylist())
    noise = pq.read_table(both.path / NOISE_LABELS)
    assert not fake_ids & set(noise["user_id"].to_pylist())  # noise goes into real users only
    assert noise.equals(pq.read_table(noise_only.path / NOISE_LABELS))  # its own random stream


def test_fresh_user_ids_never_collide():
    assert fresh_user_ids(["1", "7", "3"], 2) == ["8", "9"]
    assert fresh_user_ids(["a", "fake-1"], 2) == ["_fake-0", "_fake-1"]


@pytest.mark.e2e
def test_cli_inject_prints_json_summary(movielens, tmp_path):
    result = run(
        "inject",
        movielens.path,
        "--noise",
        "0.1",
        "--noise-dist",
        "popularity",
        "--attack",
        "segment",
        "--fake-users",
        "0.01",
        "--targets",
        "2",
        "--seed",
        "5",
        "--out",
        tmp_path / "out",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["noise"] == {"replaced": 9811, "distribution": "popularity"}
    assert summary["attack"] == {"attack": "segment", "fake_users": 9, "targets": 2}
    assert read_dataset(tmp_path / "out").manifest["command"][0] == "curator"


@pytest.mark.parametrize(
    "options, message",
    [
        (["--noise", "1.5"], "not a fraction in \\(0, 1\\)"),
        (["--noise", "0"], "not a fraction"),
        (
            ["--noise", "0.1", "--noise-dist", "zipf"],
            "Invalid value for '--noise-dist'.*'zipf' is not one of 'uniform'",
        ),
        (["--attack", "sybil"], "Invalid value for '--attack'.*'sybil' is not one of 'random'"),
        (["--attack", "random", "--targets", "0"], "at least one target"),
        (["--attack", "random", "--fake-users", "1.2"], "--fake-users 1.2"),
        (["--attack", "random", "--targets", "5000"], "unpopular items"),
    ],
)
def test_cli_bad_options_exit_2_with_one_line(movielens, tmp_path, options, message):
    result = run("inject", movielens.path, *options, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(message, lines[0]), lines
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("config", [InjectConfig(noise=0.1, noise_dist="zipf"), InjectConfig(attack="sybil")])
def test_the_library_refuses_values_outside_its_choices(config):
    """The command line refuses them before (its options are choices); library callers get the same check."""
    with pytest.raises(OptionError, match="unknown (distribution 'zipf'|attack 'sybil')"):
        config.validate()
