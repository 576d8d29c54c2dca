"""The LLM denoiser as a user-level signal: how noisy a user's sequence looks to `curator denoise`.

Each training interaction gets the denoiser's calibrated p(noise) (the LLM's item vectors through the
LoRA adapter, fused with leave-one-user-out co-occurrence); a user's signal is the mean and the max of
them. Fillers drawn without taste read as noise; a real user's items mostly fit their context. p stays at
the share of noise the adapter was calibrated on (`curator denoise` restates it at each dataset's own
share): the calibrator compares the data with its simulated copies, so all of them are read on one scale.

The calibrator needs the signal on every simulated copy of the data as well as on the data itself, so it
is a UserSignal (a function of a dataset). The engine, the adapter and the items' vectors are loaded on
the first call, once (copies share the data's items); each dataset then costs its collaborative evidence
and one scoring pass over its users, in chunks on the executor it is given (curator.run.executor: this
process, or Ray workers).
"""

from __future__ import annotations

import numpy as np

from curator.data.collaborative import training_interactions
from curator.data.dataset import Dataset
from curator.denoise.catalog import check_catalog
from curator.denoise.context import CollaborativeStats
from curator.denoise.inference import DenoiseRun, encode_items, load_model, user_probabilities, with_adapter
from curator.errors import InputError
from curator.fraud.features import per_user_mean_and_max
from curator.llm.adapters import adapter_folder
from curator.llm.config import EngineConfig
from curator.run.executor import Executor, LocalExecutor
from curator.run.progress import Progress, Silent

PREFIX = "denoiser_noise"  # the signal's columns: denoiser_noise_mean, denoiser_noise_max


class DenoiserSignal:
    def __init__(
        self,
        dataset: Dataset,
        adapter: str,
        engine_config: EngineConfig,
        progress: Progress | None = None,
        executor: Executor | None = None,
    ):
        self.dataset, self.adapter, self.engine_config = dataset, adapter, engine_config
        self.progress, self.executor = progress or Silent(), executor or LocalExecutor()
        self.items = dataset.items["item_id"].combine_chunks()
        self.loaded = None  # (denoiser, item vectors)

    def _load(self):
        if self.loaded is None:
            check_catalog(adapter_folder(self.adapter, "--denoiser"), self.dataset, allow_foreign=False)
            engine, denoiser = load_model(self.adapter, self.engine_config)
            # Every item, not only those real users hold: a simulated fake may draw any catalog item.
            rows = np.arange(len(self.items))
            config = with_adapter(self.engine_config, self.adapter)
            vectors = encode_items(self.dataset, engine, config, denoiser, rows, self.progress, self.executor)
            self.loaded = denoiser, vectors
        return self.loaded

    def __call__(self, dataset: Dataset) -> dict[str, np.ndarray]:
        if not dataset.items["item_id"].combine_chunks().equals(self.items):
            raise InputError("the denoiser signal was set up for another catalog (the items differ)")
        denoiser, vectors = self._load()
        train = training_interactions(dataset)
        stats = CollaborativeStats.of(train, denoiser.config.factor_rank, self.executor, self.progress)
        scores = user_probabilities(DenoiseRun(dataset, denoiser, train, stats, vectors), self.executor)
        return per_user_mean_and_max(scores["user"].to_numpy(), scores["p"].to_numpy(), train.num_users, PREFIX)
