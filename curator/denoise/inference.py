"""A trained denoiser loaded for scoring: the engine with its adapter, the item vectors, and p per user.

`load_run` loads everything a pass over a dataset's users needs (`DenoiseRun`): the engine with the
denoise adapter, the collaborative statistics of the data's training interactions and the LLM vector of
every item some training sequence holds (through the user cache, curator.denoise.vector_cache, so a
second run over the same catalog does not encode it again). `curator denoise` (curator.denoise.cleaning)
and the fraud detector's denoiser signal (curator.fraud.denoiser_signal) score users through it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow.compute as pc
import torch

from curator.data.collaborative import TrainingInteractions, training_interactions
from curator.data.dataset import Dataset
from curator.denoise.context import CollaborativeStats
from curator.denoise.denoiser import Denoiser, load_denoiser
from curator.denoise.item_states import MAX_ITEM_TOKENS, ItemEncoder, item_texts
from curator.denoise.vector_cache import cached_vectors, vectors_key
from curator.llm.adapters import adapter_folder
from curator.llm.config import EngineConfig
from curator.llm.engine import Engine, load_engine
from curator.run.progress import Progress


class DenoiseRun:
    """A loaded denoiser with its engine, and the dataset-wide inputs it scores users with."""

    def __init__(
        self,
        dataset: Dataset,
        engine: Engine,
        denoiser: Denoiser,
        train: TrainingInteractions,
        stats: CollaborativeStats,
        vectors: torch.Tensor,
    ):
        self.engine = engine
        self.denoiser = denoiser
        self.stats = stats
        self.sequences = train.sequences()
        # Replacements must avoid the user's validation and test items too, not only its training part.
        item_of_row = pc.index_in(dataset.interactions["item_id"], dataset.items["item_id"].combine_chunks())
        bounds = dataset.sequence_bounds()
        self.whole_sequences = np.split(item_of_row.to_numpy().astype(np.int64), bounds[1:-1])
        self.vectors = vectors
        with torch.no_grad():
            self.text_space = denoiser.head.text_space(vectors)
        self.user_ids = dataset.users["user_id"].to_pylist()
        self.item_ids = np.array(dataset.items["item_id"].to_pylist(), dtype=object)

    def probabilities(self, user: int) -> np.ndarray:
        """(training items of `user`,) calibrated p(noise), at the share of noise the calibration was fitted
        on; empty for a user without training items."""
        items = self.sequences[user]
        if not len(items):
            return np.zeros(0)
        return self.denoiser.probabilities(self.denoiser.logits(self.stats, user, items, items, self.vectors))


def load_model(adapter: str, engine_config: EngineConfig) -> tuple[Engine, Denoiser]:
    """The engine with the denoise adapter, and the denoiser's head."""
    folder = adapter_folder(adapter)
    engine = load_engine(replace(engine_config, adapters=(str(folder),)))
    return engine, load_denoiser(folder, engine.model.config.hidden_size)


def encode_items(
    dataset: Dataset, engine: Engine, denoiser: Denoiser, rows: np.ndarray, progress: Progress
) -> torch.Tensor:
    """(items, dim): the LLM vector of each item in `rows`, zero for the others (and for all of them when
    the adapter has no LLM part, which never reads the vectors). Computed once per engine and texts
    (curator.denoise.vector_cache)."""
    vectors = torch.zeros(len(dataset.items), engine.model.config.hidden_size)
    if not denoiser.config.use_text:
        return vectors
    texts = item_texts(dataset)
    wanted = [texts[i] for i in rows]

    def encode() -> np.ndarray:
        encoder = ItemEncoder(engine.model, engine.tokenizer, denoiser.config.top_layers)
        progress.start("item vectors", total=len(rows))
        return encoder.encode(wanted, progress=lambda n: progress.advance("item vectors", n)).numpy()

    key = vectors_key(engine.info, wanted, MAX_ITEM_TOKENS)
    vectors[torch.from_numpy(rows)] = torch.from_numpy(cached_vectors(key, encode))
    return vectors


def load_run(dataset: Dataset, adapter: str, engine_config: EngineConfig, progress: Progress) -> DenoiseRun:
    """Load the engine with the denoise adapter and the vector of every item that some training sequence
    holds (the only ones scored or proposed; the others stay zero)."""
    engine, denoiser = load_model(adapter, engine_config)
    train = training_interactions(dataset)
    stats = CollaborativeStats.of(train, denoiser.config.factor_rank)
    vectors = encode_items(dataset, engine, denoiser, np.flatnonzero(stats.users_of > 0), progress)
    return DenoiseRun(dataset, engine, denoiser, train, stats, vectors)
