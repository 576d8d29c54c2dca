"""Which quantization and dtype to load a model with, and why.

bitsandbytes quantizes the linear layers at load time: 4-bit NF4 (the default) or 8-bit (LLM.int8).
It runs on CUDA, and on CPU from version 0.47 on. Where it cannot run, the model loads unquantized and
the plan says why, so that the choice is reported instead of silently changed.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from packaging.version import Version

CPU_MIN_BITSANDBYTES = Version("0.47")

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class QuantPlan:
    used: str  # "4bit-nf4", "8bit" or "none"
    dtype: torch.dtype  # compute dtype (and storage dtype of what is not quantized)
    note: str  # why `used` differs from what was asked; "" when it does not

    def from_pretrained_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `AutoModelForCausalLM.from_pretrained`."""
        from transformers import BitsAndBytesConfig

        if self.used == "4bit-nf4":
            config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=self.dtype)
            return {"quantization_config": config, "dtype": self.dtype}
        if self.used == "8bit":
            # LLM.int8 casts activations to float16 by design; its warning about it would repeat every layer.
            warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")
            return {"quantization_config": BitsAndBytesConfig(load_in_8bit=True), "dtype": self.dtype}
        return {"dtype": self.dtype}


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype != "auto":
        return DTYPES[dtype]
    # Half precision is slow or unsupported for many CPU kernels; on CUDA bfloat16 is the usual choice.
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32 if device == "cpu" else torch.float16


def bitsandbytes_problem(device: str) -> str:
    """Why bitsandbytes cannot quantize on `device`, or "" when it can."""
    try:
        installed = Version(importlib.metadata.version("bitsandbytes"))
    except importlib.metadata.PackageNotFoundError:
        return "bitsandbytes is not installed"
    if device == "cpu" and installed < CPU_MIN_BITSANDBYTES:
        return f"bitsandbytes {installed} has no CPU backend (needs >= {CPU_MIN_BITSANDBYTES})"
    if device not in ("cpu", "cuda"):
        return f"bitsandbytes does not run on {device}"
    return ""


def plan_quantization(quant: str, dtype: str, device: str) -> QuantPlan:
    """The plan for `--quant`/`--dtype` on `device` (already resolved: cpu or cuda)."""
    compute = resolve_dtype(dtype, device)
    if quant == "none":
        return QuantPlan("none", compute, "")
    problem = bitsandbytes_problem(device)
    if problem:
        return QuantPlan("none", compute, f"--quant {quant} not used: {problem}")
    return QuantPlan("4bit-nf4" if quant == "4bit" else "8bit", compute, "")
