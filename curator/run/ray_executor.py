"""`--engine ray`: a stage's chunks as a Ray Data pipeline (`pip install 'curator[ray]'`).

The chunk numbers are the dataset; `map_batches` runs them on a pool of actors, one chunk per call. Each
actor maps the job's shared inputs from the object store (put there once by the driver: the workers never
recompute them) and makes its worker once, so a model loads once per actor, not per chunk. A chunk's table
comes back to the driver as Arrow IPC bytes and is written to the work folder as it arrives (streamed: the
driver holds one finished chunk at a time, never all of them).

On a laptop (`--ray-address` not given) a local Ray is started with the machine's CPUs (or `--ray-cpus`) and
shut down at the end; with `--ray-address auto|HOST:PORT` the run joins a running cluster, and curator must
be installed on its nodes. Actors x threads never exceed the CPUs: each actor asks Ray for `threads` CPUs.

A worker process killed mid-run (OOM killer, kill -9, a lost node) is restarted by Ray and its chunk is
computed again (Ray Data's actor pools restart actors and retry their tasks by default): the output is the
same, since a chunk depends only on its number and the shared inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from curator.errors import OptionError
from curator.run.executor import ChunkJob, Executor, ExecutorConfig, machine_cpus


def table_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_of(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()


class ChunkActor:
    """A Ray Data actor: the job's worker, made once from the shared inputs; one chunk per batch row."""

    def __init__(self, worker_class, shared: list, threads: int):
        import ray
        import torch

        torch.set_num_threads(threads)
        # `shared` holds the ObjectRef inside a list, so that Ray hands it over as a reference, not a copy.
        self.worker = worker_class(ray.get(shared[0]))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        chunks = batch["chunk"]
        payloads = [table_bytes(self.worker(int(k))) for k in chunks]
        return {"chunk": chunks, "table": np.array(payloads, dtype=object)}


class RayExecutor(Executor):
    def __init__(self, config: ExecutorConfig):
        try:
            import ray
        except ImportError:
            raise OptionError("--engine ray needs Ray: pip install 'curator[ray]'") from None
        self.config = config
        self.started = False
        if not ray.is_initialized():
            quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
            if config.address is None:
                ray.init(num_cpus=config.cpus or machine_cpus(), **quiet)
            else:
                try:
                    ray.init(address=config.address, **quiet)
                except ConnectionError as error:
                    raise OptionError(f"--ray-address {config.address}: no Ray cluster there ({error})") from None
            self.started = True
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # curator's own progress shows the chunks as they arrive
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)

    def workers(self) -> int:
        import ray

        cpus = int(ray.cluster_resources().get("CPU", 1))
        return self.config.workers or max(cpus // self.config.threads, 1)

    def run(self, job: ChunkJob, chunks: Sequence[int]) -> Iterator[tuple[int, pa.Table]]:
        if not chunks:
            return
        import ray

        shared: Any = ray.put(job.shared)
        dataset = ray.data.from_items([{"chunk": int(k)} for k in chunks], override_num_blocks=len(chunks))
        tables = dataset.map_batches(
            ChunkActor,
            fn_constructor_args=(job.worker, [shared], self.config.threads),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(self.workers(), len(chunks))),
            num_cpus=self.config.threads,
        )
        for batch in tables.iter_batches(batch_size=None, batch_format="numpy"):
            for k, payload in zip(batch["chunk"], batch["table"]):
                yield int(k), table_of(payload)

    def close(self) -> None:
        if self.started:
            import ray

            ray.shutdown()
