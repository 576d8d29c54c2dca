"""Raw MovieLens files as GroupLens distributes them, latin-1 encoded.

ML-100K style: u.data (tab: user item rating timestamp), u.item (pipe: id|title|release date|video
release date|IMDb URL|19 genre flags), u.user (pipe: id|age|gender|occupation|zip code).
ML-1M style: ratings.dat, movies.dat (id::title::genres), users.dat (id::gender::age::occupation::zip),
separated by '::'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curator.data.importers.common import SourceTables
from curator.data.importers.text import read_delimited
from curator.data.ordering import raw_interactions
from curator.errors import InputError

ENCODING = "latin-1"
# The genre order of the 19 flags in u.item (as listed in ML-100K's u.genre).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
GENRE_SEPARATOR = "|"  # MovieLens-1M's own separator in movies.dat
RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
INTEGER_RATINGS = {name: pa.int64() for name in RATING_COLUMNS}


@dataclass(frozen=True)
class Layout:
    """File names, separators and column names of one MovieLens release family."""

    ratings: str
    items: str
    users: str
    ratings_delimiter: str
    delimiter: str  # of the items and users files
    item_columns: list[str]
    user_columns: list[str]


ML_100K = Layout(
    ratings="u.data",
    items="u.item",
    users="u.user",
    ratings_delimiter="\t",
    delimiter="|",
    item_columns=["item_id", "title", "release_date", "video_release_date", "imdb_url"]
    + [f"genre:{genre}" for genre in ML100K_GENRES],
    user_columns=["user_id", "age", "gender", "occupation", "zip_code"],
)
ML_1M = Layout(
    ratings="ratings.dat",
    items="movies.dat",
    users="users.dat",
    ratings_delimiter="::",
    delimiter="::",
    item_columns=["item_id", "title", "genres"],
    user_columns=["user_id", "gender", "age", "occupation", "zip_code"],
)


def read_movielens(source: Path) -> SourceTables:
    layout = _detect_layout(source)
    ratings_file = source / layout.ratings
    ratings = read_delimited(
        ratings_file,
        delimiter=layout.ratings_delimiter,
        column_names=RATING_COLUMNS,
        column_types=INTEGER_RATINGS,
        encoding=ENCODING,
    )
    interactions = raw_interactions(
        ratings["user_id"],
        ratings["item_id"],
        source=str(ratings_file),
        timestamp=ratings["timestamp"],
        rating=ratings["rating"],
    )
    files = [ratings_file]
    items = users = None
    items_file, users_file = source / layout.items, source / layout.users
    if items_file.is_file():
        files.append(items_file)
        items = _with_genre_text(_read_pipe_or_colons(items_file, layout, layout.item_columns))
    if users_file.is_file():
        files.append(users_file)
        users = _read_pipe_or_colons(users_file, layout, layout.user_columns)
    return SourceTables(
        interactions=interactions,
        files=files,
        items=items,
        users=users,
        items_file=str(items_file),
        users_file=str(users_file),
    )


def _detect_layout(source: Path) -> Layout:
    if not source.is_dir():
        raise InputError(f"{source}: expected a MovieLens folder (with u.data or ratings.dat)")
    for layout in (ML_100K, ML_1M):
        if (source / layout.ratings).is_file():
            return layout
    raise InputError(f"{source}: no u.data (MovieLens-100K) or ratings.dat (MovieLens-1M) in this folder")


def _read_pipe_or_colons(file: Path, layout: Layout, columns: list[str]) -> pa.Table:
    # Ids are numeric in MovieLens: read them as integers so that a stray value is reported by line.
    return read_delimited(
        file, delimiter=layout.delimiter, column_names=columns, column_types={columns[0]: pa.int64()}, encoding=ENCODING
    )


def _with_genre_text(items: pa.Table) -> pa.Table:
    """Fold ML-100K's 0/1 genre flag columns into one `genres` text column ('Animation|Comedy')."""
    flags = [name for name in items.column_names if name.startswith("genre:")]
    if not flags:
        return items
    rows = zip(*(items[name].to_pylist() for name in flags))
    names = [name.removeprefix("genre:") for name in flags]
    genres = [GENRE_SEPARATOR.join(g for g, flag in zip(names, row) if flag == "1") for row in rows]
    # video_release_date is empty for every movie of ML-100K: it carries no information.
    kept = [name for name in items.column_names if name not in flags and name != "video_release_date"]
    return items.select(kept).append_column("genres", pa.array(genres, pa.string()))
