"""The local LLM engine: load (+ quantize, + adapters), batched generation, likelihood scoring, embeddings.

curator never downloads a model: everything loads from local files (see models.py).
"""

import logging
import os

# Set before transformers / huggingface_hub are imported by anything below: no network look-ups at all.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# bitsandbytes warns at import that an optional CPU kernel package is missing; it falls back to its own.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
