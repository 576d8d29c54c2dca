"""Options commands share: which model, quantization and dtype (the LLM commands), and the device (those and
`curator train`)."""

from enum import Enum

from curator.devices import DEVICE_CHOICES
from curator.llm.config import DTYPE_CHOICES, QUANT_CHOICES

Quant = Enum("Quant", {name: name for name in QUANT_CHOICES}, type=str)
Dtype = Enum("Dtype", {name: name for name in DTYPE_CHOICES}, type=str)
Device = Enum("Device", {name: name for name in DEVICE_CHOICES}, type=str)

MODEL_HELP = "Hugging Face id (already cached), model folder or .gguf file (default: SmolLM2-135M-Instruct)."
DTYPE_HELP = "Compute dtype (auto: float32 on CPU, bfloat16 on CUDA)."
DEVICE_HELP = "Where the model runs."
