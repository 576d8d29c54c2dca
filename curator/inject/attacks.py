"""Poisoning attacks: fake users that promote a few unpopular target items.

Each fake user mirrors a randomly drawn real user (its template): the same sequence length (so lengths
follow the real distribution), the same timestamps, ratings and attributes; only the items are made up.
The targets sit in the training part of the sequence (where a recommender trained on the leave-one-out
split learns from them) and carry the highest rating. The other items, the fillers, depend on the attack
(the shilling-attack literature's kinds: Lam & Riedl 2004, Mobasher et al. 2007, Lin et al. 2020):

    random             drawn uniformly from the catalog
    bandwagon          drawn from the most popular items (the top BANDWAGON_SHARE), then uniformly
    reverse-bandwagon  drawn from the least popular items with training interactions (the bottom
                       BANDWAGON_SHARE), then uniformly: fillers few real users share
    segment            drawn from the items one segment favours, in proportion to popularity, then uniformly:
                       a genre in items.genres, or, without genres, the co-occurrence neighbours of an item
    sequential         a walk along real users' item-to-item transitions, visiting the targets in turn every
                       SEQUENTIAL_VISIT_EVERY items, its training part ending on one: an ordered,
                       plausible-looking sequence (the walk goes on through the held-out positions)
    template           a real user's own training items in their order (a donor drawn apart from the
                       template; a random run of its history, topped up with popularity draws where it is
                       shorter): the fake's taste is a real one (AUSH-style profiles built from real ones)
    average            drawn uniformly, each rated at its mean training rating (on the data's rating scale):
                       ratings indistinguishable from the crowd's (needs ratings)
    love-hate          drawn uniformly, each rated the lowest rating: the targets alone are loved (needs
                       ratings)

Targets are drawn among the unpopular items: the less popular half of the items with training interactions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curator.data.collaborative import (
    TrainingInteractions,
    item_cooccurrence,
    item_popularity,
    item_transitions,
    training_interactions,
)
from curator.data.dataset import Dataset
from curator.data.sampling import ItemSampler
from curator.data.splits import HELD_OUT
from curator.errors import OptionError

RATING_ATTACKS = ("average", "love-hate")  # their fillers differ from random ones only by their ratings
BANDWAGON_SHARE = 0.1  # fraction of the catalog, most popular first, that bandwagon fillers come from
MIN_SEGMENT_ITEMS = 20  # a genre needs this many items to be a segment
SEGMENT_NEIGHBOURS = 50  # size of a co-occurrence segment (datasets without genres)
SEQUENTIAL_VISIT_EVERY = 10  # a sequential fake user visits a target every this many items

FAKE_USERS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("attack", pa.string()),
        pa.field("targets", pa.list_(pa.string())),
        pa.field("segment", pa.string()),  # segment attack: which segment the fillers come from
    ]
)


@dataclass(frozen=True)
class Attack:
    interactions: pa.Table  # the fake users' interactions, in the interactions schema
    users: pa.Table  # their users rows, in the users schema
    fake_users: pa.Table  # labels: FAKE_USERS_SCHEMA
    targets: pa.Table  # labels: item_id, title, popularity (training interactions before the attack)


@dataclass(frozen=True)
class _Catalog:
    """What fillers are drawn from."""

    train: TrainingInteractions
    popularity: np.ndarray
    targets: np.ndarray


def make_attack(
    dataset: Dataset, attack: str, fake_fraction: float, num_targets: int, rng: np.random.Generator
) -> Attack:
    if attack in RATING_ATTACKS and dataset.interactions["rating"].null_count == len(dataset.interactions):
        raise OptionError(f"--attack {attack} sets the fillers' ratings, and this dataset has no ratings")
    train = training_interactions(dataset)
    popularity = item_popularity(train)
    targets = _choose_targets(popularity, num_targets, rng)
    catalog = _Catalog(train, popularity, targets)

    lengths = np.diff(dataset.sequence_bounds())
    long_enough = np.flatnonzero(lengths > num_targets + HELD_OUT)  # room for every target and a filler
    if not len(long_enough):
        raise OptionError(f"--targets {num_targets} do not fit in any real user's training sequence")
    num_fake = max(1, round(fake_fraction * len(dataset.users)))
    templates = rng.choice(long_enough, size=num_fake)

    segment = None
    if attack == "sequential":
        make_items = _sequential_maker(catalog, rng)
    elif attack == "template":
        make_items = _template_maker(dataset, catalog, rng)
    else:
        pool, segment = _filler_pool(dataset, catalog, attack, rng)
        make_items = _fillers_maker(catalog, pool, rng)
    sequences = [make_items(int(lengths[template])) for template in templates]

    fake_ids = fresh_user_ids(dataset.users["user_id"].to_pylist(), num_fake)
    item_ids = dataset.items["item_id"].to_pylist()
    target_ids = [item_ids[t] for t in targets]
    return Attack(
        interactions=_fake_interactions(dataset, attack, templates, sequences, fake_ids, set(targets.tolist())),
        users=_fake_users(dataset, templates, fake_ids),
        fake_users=pa.table(
            {
                "user_id": fake_ids,
                "attack": [attack] * num_fake,
                "targets": [target_ids] * num_fake,
                "segment": [segment] * num_fake,
            },
            schema=FAKE_USERS_SCHEMA,
        ),
        targets=pa.table(
            {
                "item_id": target_ids,
                "title": dataset.items["title"].take(pa.array(targets)),
                "popularity": pa.array(popularity[targets], pa.int64()),
            }
        ),
    )


def _choose_targets(popularity: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    interacted = np.flatnonzero(popularity > 0)
    unpopular = interacted[popularity[interacted] <= np.median(popularity[interacted])]
    if count > len(unpopular):
        raise OptionError(f"--targets {count}: only {len(unpopular)} unpopular items to choose from")
    return np.sort(rng.choice(unpopular, size=count, replace=False))


def _filler_pool(
    dataset: Dataset, catalog: _Catalog, attack: str, rng: np.random.Generator
) -> tuple[np.ndarray | None, str | None]:
    """(weights of the items fillers come from first, or None for the whole catalog; segment name)."""
    if attack in ("random", *RATING_ATTACKS):
        return None, None
    if attack in ("bandwagon", "reverse-bandwagon"):
        interacted = np.flatnonzero(catalog.popularity > 0)
        by_popularity = interacted[np.argsort(-catalog.popularity[interacted], kind="stable")]
        share = max(1, round(BANDWAGON_SHARE * len(catalog.popularity)))
        weights = np.zeros(len(catalog.popularity))
        weights[by_popularity[:share] if attack == "bandwagon" else by_popularity[-share:]] = 1.0
        return weights, None
    members, segment = _segment(dataset, catalog, rng)
    weights = np.zeros(len(catalog.popularity))
    weights[members] = catalog.popularity[members]
    return weights, segment


def _segment(dataset: Dataset, catalog: _Catalog, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The items of one segment: a genre with enough items, else an item's co-occurrence neighbours."""
    if "genres" in dataset.items.column_names:
        genre_items: dict[str, list[int]] = {}
        for item, text in enumerate(dataset.items["genres"].to_pylist()):
            for genre in _genres(text):
                genre_items.setdefault(genre, []).append(item)
        genres = sorted(g for g, items in genre_items.items() if len(items) >= MIN_SEGMENT_ITEMS)
        if genres:
            genre = genres[rng.integers(len(genres))]
            return np.array(genre_items[genre]), f"genre {genre}"
    seed = int(rng.choice(len(catalog.popularity), p=catalog.popularity / catalog.popularity.sum()))
    together = item_cooccurrence(catalog.train)
    users_of = together.diagonal()
    cosine = together[seed].toarray().ravel() / np.sqrt(np.maximum(users_of[seed] * users_of, 1))
    neighbours = np.argsort(-cosine, kind="stable")[:SEGMENT_NEIGHBOURS]
    return neighbours, f"co-occurrence neighbours of item {dataset.items['item_id'][seed].as_py()}"


def _genres(text: str | None) -> list[str]:
    """'Action|Comedy', 'Action, Comedy' or (MovieLens) 'Action Comedy'."""
    if not text:
        return []
    parts = re.split(r"\s*[|,;]\s*", text) if re.search(r"[|,;]", text) else text.split()
    return [part for part in parts if part]


def _fillers_maker(catalog: _Catalog, pool: np.ndarray | None, rng: np.random.Generator):
    """Sequences of the set-based attacks: fillers (from the pool first), targets at random training
    positions."""
    everything = ItemSampler(np.ones(len(catalog.popularity)))
    from_pool = ItemSampler(pool) if pool is not None else everything
    targets = set(catalog.targets.tolist())

    def make(length: int) -> np.ndarray:
        fillers_needed = length - len(catalog.targets)
        first = from_pool.draw(rng, min(fillers_needed, from_pool.drawable(targets)), exclude=targets)
        rest = everything.draw(rng, fillers_needed - len(first), exclude=targets | set(first.tolist()))
        return _with_targets(np.r_[first, rest], catalog.targets, rng)

    return make


def _template_maker(dataset: Dataset, catalog: _Catalog, rng: np.random.Generator):
    """Sequences of the template attack: a donor's training items in their order, targets at random training
    positions."""
    histories = catalog.train.sequences()
    donors = np.flatnonzero([len(history) > 0 for history in histories])
    top_up = ItemSampler(catalog.popularity)
    targets = set(catalog.targets.tolist())

    def make(length: int) -> np.ndarray:
        fillers_needed = length - len(catalog.targets)
        history = [item for item in histories[int(rng.choice(donors))].tolist() if item not in targets]
        start = int(rng.integers(max(1, len(history) - fillers_needed + 1)))
        fillers = np.array(history[start : start + fillers_needed], dtype=np.int64)
        extra = top_up.draw(rng, fillers_needed - len(fillers), exclude=targets | set(fillers.tolist()))
        return _with_targets(np.r_[fillers, extra], catalog.targets, rng)

    return make


def _with_targets(fillers: np.ndarray, targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The fillers in their order with the targets, in random order, at random positions of the training part."""
    length = len(fillers) + len(targets)
    items = np.empty(length, dtype=np.int64)
    at_targets = rng.choice(length - HELD_OUT, size=len(targets), replace=False)
    items[at_targets] = rng.permutation(targets)
    items[np.setdiff1d(np.arange(length), at_targets)] = fillers
    return items


def _sequential_maker(catalog: _Catalog, rng: np.random.Generator):
    """Sequences of the sequential attack: a walk along real transitions with target visits."""
    transitions = item_transitions(catalog.train)
    jump = ItemSampler(catalog.popularity)
    targets = catalog.targets.tolist()

    def make(length: int) -> np.ndarray:
        items: list[int] = []
        used = set(targets)
        walker = None  # the last filler: a target visit is a detour, the walk goes on from here
        visits = int(rng.integers(len(targets)))  # which target comes first: every target gets its visits
        last_trained = length - HELD_OUT - 1  # a visit in a held-out position would teach the recommender nothing
        for position in range(length):
            if position == last_trained or (position < last_trained and (position + 1) % SEQUENTIAL_VISIT_EVERY == 0):
                items.append(targets[visits % len(targets)])
                visits += 1
                continue
            walker = _next_item(transitions, walker, used, jump, rng)
            used.add(walker)
            items.append(walker)
        return np.array(items, dtype=np.int64)

    return make


def _next_item(transitions, current: int | None, used: set[int], jump: ItemSampler, rng: np.random.Generator) -> int:
    """An item that followed `current` in real sequences (in proportion to how often), never one already
    used; a popularity-drawn item where the walk has nowhere to go."""
    if current is not None:
        row = transitions[current]
        fresh = np.array([item not in used for item in row.indices.tolist()], dtype=bool)
        if fresh.any():
            weights = row.data[fresh]
            return int(row.indices[fresh][rng.choice(len(weights), p=weights / weights.sum())])
    return int(jump.draw(rng, 1, exclude=used)[0])


def fresh_user_ids(existing: list[str], count: int) -> list[str]:
    """Ids that cannot collide with `existing`: the numbering continued when every id is a number (as a
    platform's sign-ups would look), else 'fake-<k>' behind a prefix that no existing id starts with."""
    if existing and all(user.isdecimal() for user in existing):
        start = max(int(user) for user in existing) + 1
        return [str(start + k) for k in range(count)]
    prefix = "fake-"
    while any(user.startswith(prefix) for user in existing):
        prefix = "_" + prefix
    return [f"{prefix}{k}" for k in range(count)]


def _fake_interactions(
    dataset: Dataset,
    attack: str,
    templates: np.ndarray,
    sequences: list[np.ndarray],
    fake_ids: list[str],
    targets: set[int],
) -> pa.Table:
    """Each fake sequence with its template's timestamps, and ratings as the attack sets them."""
    bounds = dataset.sequence_bounds()
    template_rows = np.concatenate([np.arange(bounds[t], bounds[t + 1]) for t in templates])
    items = np.concatenate(sequences)
    ratings = _fake_ratings(dataset, attack, items, template_rows, targets)
    lengths = [len(sequence) for sequence in sequences]
    return pa.table(
        {
            "user_id": pa.array(np.repeat(fake_ids, lengths), pa.string()),
            "item_id": dataset.items["item_id"].take(pa.array(items)),
            "timestamp": dataset.interactions["timestamp"].take(pa.array(template_rows)),
            "position": pa.array(np.concatenate([np.arange(n) for n in lengths]), pa.int32()),
            "rating": pa.array(ratings, pa.float32(), from_pandas=True),
        }
    ).cast(dataset.interactions.schema)


def _fake_ratings(
    dataset: Dataset, attack: str, items: np.ndarray, template_rows: np.ndarray, targets: set[int]
) -> np.ndarray:
    """The targets get the top rating. Fillers: the item's mean training rating on the data's scale (average),
    the lowest rating (love-hate), else the template's rating at that position. No ratings: none."""
    all_ratings = dataset.interactions["rating"].to_numpy(zero_copy_only=False)
    ratings = dataset.interactions["rating"].take(pa.array(template_rows)).to_numpy(zero_copy_only=False)
    if np.isnan(all_ratings).all():
        return ratings
    scale = np.unique(all_ratings[~np.isnan(all_ratings)])
    if attack == "average":
        means = _mean_training_ratings(dataset, fallback=float(np.nanmean(all_ratings)))
        ratings = scale[np.abs(means[items][:, None] - scale[None, :]).argmin(axis=1)]
    elif attack == "love-hate":
        ratings = np.full(len(items), scale[0])
    return np.where(np.isin(items, list(targets)), scale[-1], ratings)


def _mean_training_ratings(dataset: Dataset, fallback: float) -> np.ndarray:
    """(items,) each item's mean rating over the training interactions that rate it; `fallback` for the rest."""
    train = training_interactions(dataset)
    ratings = dataset.interactions["rating"].to_numpy(zero_copy_only=False)[train.rows]
    rated = ~np.isnan(ratings)
    totals = np.bincount(train.item[rated], weights=ratings[rated], minlength=train.num_items)
    counts = np.bincount(train.item[rated], minlength=train.num_items)
    return np.where(counts > 0, totals / np.maximum(counts, 1), fallback)


def _fake_users(dataset: Dataset, templates: np.ndarray, fake_ids: list[str]) -> pa.Table:
    """Users rows with the templates' attributes (a fake user with none would stand out) and weight 1."""
    users = dataset.users.take(pa.array(templates))
    users = users.set_column(users.column_names.index("user_id"), "user_id", pa.array(fake_ids, pa.string()))
    weight = pa.array(np.ones(len(fake_ids), np.float32))
    return users.set_column(users.column_names.index("weight"), "weight", weight)
