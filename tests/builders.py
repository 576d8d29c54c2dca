"""Small datasets built in tests, and an executor that returns chunks out of order."""

import pyarrow as pa
import pyarrow.compute as pc

from curator.data.dataset import write_dataset
from curator.run.executor import Executor, LocalExecutor


class Backwards(Executor):
    """Every chunk in this process in reverse order, as a pool of workers may return them; records what it
    computed (worker class name, chunk)."""

    def __init__(self):
        self.computed = []

    def run(self, job, chunks):
        for k, table in LocalExecutor().run(job, list(reversed(chunks))):
            self.computed.append((job.worker.__name__, k))
            yield k, table


def tiny_dataset(path, sequences: dict[str, list[str]]):
    users, items = list(sequences), sorted({i for seq in sequences.values() for i in seq})
    rows = [(u, i, t, t) for u, seq in sequences.items() for t, i in enumerate(seq)]
    interactions = pa.table(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "timestamp": pa.array([r[2] for r in rows], pa.int64()),
            "position": pa.array([r[3] for r in rows], pa.int32()),
            "rating": pa.nulls(len(rows), pa.float32()),
        }
    )
    return write_dataset(
        path,
        interactions,
        pa.table({"item_id": items, "title": items}),
        pa.table({"user_id": users, "weight": pa.array([1.0] * len(users), pa.float32())}),
        name="tiny",
        source=None,
        command=[],
        config={},
    )


def first_users(dataset, count: int, path):
    """`dataset` cut to its first `count` users (all their interactions; the whole catalog), written at `path`."""
    users = dataset.users.slice(0, count)
    interactions = dataset.interactions.filter(pc.is_in(dataset.interactions["user_id"], users["user_id"]))
    return write_dataset(path, interactions, dataset.items, users, name=path.name, source=None, command=[], config={})


def retitled(dataset, path):
    """`dataset` with every item under another title, written at `path`: the same ids and sequences, another
    catalog as far as anything that knows items by id and title can tell."""
    items = dataset.items.set_column(
        dataset.items.column_names.index("title"),
        "title",
        pc.binary_join_element_wise("other ", dataset.items["title"], ""),
    )
    return write_dataset(path, dataset.interactions, items, dataset.users, name=path.name, source=None, command=[],
                         config={})  # fmt: skip


def imported(source, out, *, format=None, name=None, options=None, overwrite=False):
    """`curator data import SOURCE --out OUT` as a stage run; the dataset it wrote."""
    from curator.data.import_config import ImportConfig
    from curator.run.stage import run_stage
    from curator.stages.data_import import ImportStage

    config = ImportConfig(format=format, name=name, options=options or {})
    return run_stage(ImportStage(str(source), config, out), overwrite=overwrite).dataset()


def injected(dataset, config, out, command=()):
    """`curator inject` as a stage run: the dataset it wrote and its summary."""
    from curator.run.stage import run_stage
    from curator.stages.inject import InjectStage

    result = run_stage(InjectStage(dataset, config, out), command=command)
    return result.dataset(), result.summary
