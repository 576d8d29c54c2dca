"""What the LLM engine is asked to load (`EngineConfig`) and what it actually loaded (`EngineInfo`).

The config is plain data, recorded with every output as provenance; `curator.llm.engine.load_engine`
applies it. `EngineInfo` says what was used in the end (e.g. no quantization where bitsandbytes cannot
run), so outputs never claim a setting that did not happen. `generation_defaults` chooses the quantization
and dtype text generation runs with when the user gives neither.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from curator.devices import DEVICE_CHOICES, cpu_bfloat16_flags
from curator.errors import OptionError

QUANT_CHOICES = ("4bit", "8bit", "none")
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class EngineConfig:
    model: str | None = None  # a Hugging Face id, a local folder, a .gguf file; None: SmolLM2-135M-Instruct
    quant: str = "4bit"  # NF4 where bitsandbytes runs, else none (with the reason in EngineInfo)
    dtype: str = "auto"  # compute dtype: float32 on CPU, bfloat16 on CUDA
    adapters: tuple[str, ...] = ()  # adapter names (shipped in curator.adapters) or folders
    device: str = "auto"

    def validate(self) -> None:
        for name, choices in (("quant", QUANT_CHOICES), ("dtype", DTYPE_CHOICES), ("device", DEVICE_CHOICES)):
            if getattr(self, name) not in choices:
                raise OptionError(f"--{name}: '{getattr(self, name)}' is not one of {', '.join(choices)}")
        if len(set(self.adapters)) != len(self.adapters):
            raise OptionError(f"--adapter: the same adapter is named twice ({', '.join(self.adapters)})")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "adapters": list(self.adapters)}


@dataclass(frozen=True)
class EngineInfo:
    model: str  # what the model is called in provenance (the id, folder or default's name)
    model_path: str  # the folder the weights were loaded from
    quant: str  # what was used: "4bit-nf4", "8bit" or "none"
    quant_note: str  # why `quant` differs from the requested one ("" when it does not)
    dtype: str
    device: str
    adapters: dict[str, str] = field(default_factory=dict)  # adapter name -> folder
    base: dict[str, Any] = field(default_factory=dict)  # where the weights come from (ModelSource.base_record)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenerationDefaults:
    quant: str
    dtype: str
    why: str  # why this dtype, said to the user


def generation_defaults(device: str) -> GenerationDefaults:
    """--quant and --dtype for generating text (`curator profile`) on `device` (resolved: cpu or cuda) when they
    are not given.

    CUDA: 4-bit NF4 (DESIGN.md), dtype auto. CPU, as measured on this project's machine (docs/profiles.md;
    benchmarks/profile_generation.py): bitsandbytes' NF4 wrote far worse profiles (5% valid on the first try
    against 97%) and ran slower than bfloat16, which generated 1.6x as fast as float32 with the same validity,
    on a CPU with bfloat16 instructions. A CPU without them (neither AVX512-BF16 nor AMX) emulates bfloat16,
    slowly: float32 there.
    """
    if device == "cuda":
        return GenerationDefaults("4bit", "auto", "on CUDA: bfloat16 where the GPU supports it, else float16")
    flags = cpu_bfloat16_flags()
    if flags:
        return GenerationDefaults("none", "bfloat16", f"this CPU has bfloat16 instructions ({', '.join(flags)})")
    return GenerationDefaults(
        "none", "float32", "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX), which bfloat16 needs to be fast"
    )
