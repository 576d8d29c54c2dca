"""Options commands share: which model, quantization and dtype (the LLM commands), the device (those and
`curator train`), and the engine that runs the per-user work (`--engine local|ray` and Ray's options)."""

from __future__ import annotations

from curator.cli.choices import choices
from curator.devices import DEVICE_CHOICES
from curator.llm.config import DTYPE_CHOICES, QUANT_CHOICES
from curator.run.executor import ENGINE_CHOICES, ExecutorConfig

Quant = choices("Quant", QUANT_CHOICES)
Dtype = choices("Dtype", DTYPE_CHOICES)
Device = choices("Device", DEVICE_CHOICES)

MODEL_HELP = "Hugging Face id (already cached), model folder or .gguf file (default: SmolLM2-135M-Instruct)."
DTYPE_HELP = "Compute dtype (auto: float32 on CPU, bfloat16 on CUDA)."
DEVICE_HELP = "Where the model runs."

EngineKind = choices("EngineKind", ENGINE_CHOICES)
ENGINE_HELP = (
    "Where the per-item and per-user work runs: local (this process) or ray (a pool of Ray actors; pip install "
    "'curator[ray]'). Both write the same bytes."
)
RAY_ADDRESS_HELP = "Join the Ray cluster at auto or HOST:PORT (default: start a local Ray)."
RAY_CPUS_HELP = "CPUs of the local Ray (default: this machine's)."
RAY_WORKERS_HELP = "Ray worker actors (default and most: the cluster's CPUs // --ray-threads)."
RAY_THREADS_HELP = "torch threads per Ray worker (each worker takes as many CPUs)."


def execution(engine: str, address: str | None, cpus: int | None, workers: int | None, threads: int) -> ExecutorConfig:
    """The checked ExecutorConfig of the --engine options (before anything heavy loads)."""
    config = ExecutorConfig(EngineKind(engine).value, address, cpus, workers, threads)
    config.validate()
    return config
