"""`--engine ray`: a stage's chunks on a pool of Ray actors (`pip install 'curator[ray]'`).

The executor starts its actors when it is opened, so that their processes start and import torch (and the
modules the stage names) while the driver loads its model and computes the collaborative evidence, and
keeps them for every pass of the stage (catalog encoding, score pass, decide pass): a worker process starts
once per run, not once per pass. (Built first on Ray Data's `map_batches` with an actor pool: that pool
lives for one dataset's execution, so each pass paid fresh processes importing torch again, most of the
fixed cost of a small run; benchmarks/ray_overhead.py measures the phases.)

A pass puts the job's shared inputs in the object store once (the driver computed them; the workers never
recompute them); each actor maps them and makes its worker once per pass, so a model loads once per actor,
not per chunk. Chunks go to the actors at most IN_FLIGHT at a time each, so the driver holds one finished
chunk at a time and the object store a few: the results stream back as Arrow IPC bytes and are written to
the work folder as they arrive.

On a laptop (`--ray-address` not given) a local Ray is started with the machine's CPUs (or `--ray-cpus`) and
shut down at the end; with `--ray-address auto|HOST:PORT` the run joins a running cluster (curator must be
installed on its nodes), which also spares the start of a local Ray. Actors x threads never exceed the
CPUs: each actor asks Ray for `threads` CPUs, and `--ray-workers` is cut to what the CPUs hold.

A worker process killed mid-run (OOM killer, kill -9, a lost node) is restarted by Ray and its chunk is
computed again (the actors restart and retry their calls without limit): the output is the same, since a
chunk depends only on its number and the shared inputs.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import ray

from curator.errors import OptionError
from curator.run.executor import ChunkJob, Executor, ExecutorConfig, machine_cpus

IN_FLIGHT = 2  # chunks queued per actor: the next one is there when it finishes one


def table_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_of(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()


class ChunkActor:
    """One worker process for every pass of a run: the current pass's worker, made once from its shared
    inputs."""

    def __init__(self, threads: int, preload: tuple[str, ...]):
        import torch

        torch.set_num_threads(threads)
        for module in preload:  # while the driver is busy: the first chunk does not wait for them
            importlib.import_module(module)
        self.job: int | None = None
        self.worker: Any = None

    def compute(self, job: int, worker_class, shared: list, k: int) -> bytes:
        """Chunk k of pass `job`, as Arrow IPC bytes. `shared` holds the ObjectRef inside a list, so that
        Ray hands it over as a reference, not a copy."""
        if job != self.job:
            self.worker = None  # the last pass's worker and inputs go before the next one's load
            self.worker = worker_class(ray.get(shared[0]))
            self.job = job
        return table_bytes(self.worker(k))


class RayExecutor(Executor):
    def __init__(self, config: ExecutorConfig, preload: tuple[str, ...] = ()):
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
        # More actors than the CPUs hold would never start, and their chunks would wait for them forever.
        most = max(int(ray.cluster_resources().get("CPU", 1)) // config.threads, 1)
        size = min(config.workers or most, most)
        # Restarted without limit when their process dies, and their calls retried there.
        actor = ray.remote(num_cpus=config.threads, max_restarts=-1, max_task_retries=-1)(ChunkActor)
        self.actors = [actor.remote(config.threads, preload) for _ in range(size)]
        self.passes = 0

    def run(self, job: ChunkJob, chunks: Sequence[int]) -> Iterator[tuple[int, pa.Table]]:
        if not chunks:
            return
        self.passes += 1
        shared = [ray.put(job.shared)]
        waiting = list(reversed(chunks))  # popped from the end: in order
        running: dict[ray.ObjectRef, tuple[int, Any]] = {}

        def submit(actor) -> None:
            k = waiting.pop()
            running[actor.compute.remote(self.passes, job.worker, shared, k)] = (k, actor)

        for actor in self.actors[: len(chunks)]:  # a small pass leaves the other actors idle
            for _ in range(IN_FLIGHT):
                if waiting:
                    submit(actor)
        while running:
            [finished], _ = ray.wait(list(running), num_returns=1)
            k, actor = running.pop(finished)
            payload = ray.get(finished)
            if waiting:
                submit(actor)
            yield k, table_of(payload)

    def close(self) -> None:
        for actor in self.actors:  # on a cluster it keeps running: the actors must not
            ray.kill(actor)
        if self.started:
            ray.shutdown()
