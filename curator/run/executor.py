"""Where a stage's numbered chunks are computed: in this process (`--engine local`) or on a Ray cluster
(`--engine ray`, curator.run.ray_executor: a pool of Ray actors). The stage does not care which.

A stage that splits its work into chunks hands an executor a `ChunkJob`:

- `shared`: what every chunk reads (the collaborative evidence, the item vectors, a small model), computed
  once by the driver. On Ray it goes to the object store once and every worker maps the same copy;
- `worker`: a class whose instance, made once per worker process from `shared` (it loads its models
  there, once), computes one chunk: `worker(shared)(k)` -> a pyarrow Table.

The executor yields (chunk number, table) as chunks finish, in any order; the driver writes each one into
the stage's work folder, so a killed run resumes from the chunks it has. What a chunk computes depends on
the chunk's number and `shared` only, never on which worker or how many there are: the same answer under
every engine, byte for byte (tested).
"""

from __future__ import annotations

import importlib.util
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from curator.errors import OptionError

if TYPE_CHECKING:  # the command line imports ENGINE_CHOICES at start-up, before any data library
    import pyarrow as pa

ENGINE_CHOICES = ("local", "ray")

ChunkWorker = Callable[[int], "pa.Table"]


@dataclass(frozen=True)
class ChunkJob:
    shared: Any
    worker: Callable[[Any], ChunkWorker]  # a picklable class (Ray ships it to the workers by reference)


@dataclass(frozen=True)
class ExecutorConfig:
    """`--engine` and its Ray options. Not part of a stage's identity: every engine gives the same output, so a
    run killed on one may be resumed on another."""

    engine: str = "local"
    address: str | None = None  # ray: None starts a local Ray; "auto" or HOST:PORT joins a running cluster
    cpus: int | None = None  # the local Ray's CPUs (default: the machine's); ignored when joining a cluster
    workers: int | None = None  # ray: worker actors (default and most: the cluster's CPUs // threads)
    threads: int = 1  # ray: torch threads per worker (each worker asks Ray for this many CPUs)

    def validate(self) -> None:
        if self.engine not in ENGINE_CHOICES:
            raise OptionError(f"--engine: '{self.engine}' is not one of {', '.join(ENGINE_CHOICES)}")
        counts = {"--ray-cpus": self.cpus, "--ray-workers": self.workers, "--ray-threads": self.threads}
        for name, value in counts.items():
            if value is not None and value < 1:
                raise OptionError(f"{name} must be at least 1, got {value}")
        if self.engine == "local" and (self.address, self.cpus, self.workers) != (None, None, None):
            raise OptionError("--ray-address, --ray-cpus and --ray-workers need --engine ray")


class Executor(ABC):
    # Whether the workers run in this process: they may then use what the driver has loaded (its LLM) instead
    # of loading their own.
    in_process = False

    @abstractmethod
    def run(self, job: ChunkJob, chunks: Sequence[int]) -> Iterator[tuple[int, pa.Table]]:
        """(k, table of chunk k) for each of `chunks`, as they finish."""

    def close(self) -> None:  # noqa: B027 (most executors hold nothing to release)
        """Release what the executor started (a local Ray)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalExecutor(Executor):
    """Every chunk in this process, in order; the worker is made once, on the first chunk."""

    in_process = True

    def run(self, job: ChunkJob, chunks: Sequence[int]) -> Iterator[tuple[int, pa.Table]]:
        worker = job.worker(job.shared) if chunks else None
        for k in chunks:
            yield k, worker(k)


def open_executor(config: ExecutorConfig, preload: tuple[str, ...] = ()) -> Executor:
    """The executor `config` asks for; Ray is imported only here, and only for `--engine ray`. `preload`:
    the modules the stage's workers import, which Ray workers import as soon as they start."""
    config.validate()
    if config.engine == "local":
        return LocalExecutor()
    if importlib.util.find_spec("ray") is None:
        raise OptionError("--engine ray needs Ray: pip install 'curator[ray]'")
    from curator.run.ray_executor import RayExecutor

    return RayExecutor(config, preload)


def machine_cpus() -> int:
    """The CPUs this process may use (a container's or taskset's limit, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
