"""Options commands share: which model, quantization and dtype (the LLM commands), and the device (those and
`curator train`)."""

from curator.cli.choices import choices
from curator.devices import DEVICE_CHOICES
from curator.llm.config import DTYPE_CHOICES, QUANT_CHOICES

Quant = choices("Quant", QUANT_CHOICES)
Dtype = choices("Dtype", DTYPE_CHOICES)
Device = choices("Device", DEVICE_CHOICES)

MODEL_HELP = "Hugging Face id (already cached), model folder or .gguf file (default: SmolLM2-135M-Instruct)."
DTYPE_HELP = "Compute dtype (auto: float32 on CPU, bfloat16 on CUDA)."
DEVICE_HELP = "Where the model runs."
