"""A trained denoiser loaded for scoring: the item vectors, the collaborative evidence, and p per user.

`load_run` loads everything a pass over a dataset's users needs (`DenoiseRun`): the denoise adapter's head,
the collaborative statistics of the data's training interactions (computed once, in chunks by the
executor: curator.denoise.evidence_chunks) and the LLM vector of every item some training sequence holds.
The vectors are encoded in fixed chunks of ITEM_CHUNK items by an executor (curator.run.executor: in this
process, or on Ray actors that each load the LLM once) and kept in the user cache
(curator.denoise.vector_cache), so a second run over the same catalog does not encode it again. A chunk's
vectors depend on its texts only, so every engine and any number of workers give the same bytes.

A `DenoiseRun` holds no LLM: it is what every scoring worker shares (through Ray's object store on
`--engine ray`). `curator denoise` (curator.denoise.cleaning) and the fraud detector's denoiser signal
(curator.fraud.denoiser_signal) score users through it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from curator.data.collaborative import TrainingInteractions, training_interactions
from curator.data.dataset import Dataset
from curator.denoise.config import ITEM_TEXT_TOKENS
from curator.denoise.context import CollaborativeStats
from curator.denoise.denoiser import Denoiser, load_denoiser
from curator.denoise.item_states import ItemEncoder, item_texts
from curator.denoise.vector_cache import cached_vectors, vectors_key
from curator.llm.adapters import adapter_folder
from curator.llm.config import EngineConfig
from curator.llm.engine import Engine, load_engine
from curator.run.executor import ChunkJob, Executor, LocalExecutor
from curator.run.progress import Progress

ITEM_CHUNK = 512  # items encoded per chunk: the unit of work of a worker, fixed so that every engine agrees
CHUNK_USERS = 64  # users scored per chunk (and a killed run's unit of progress)
# a chunk's scores: p at the share the calibration was fitted on, users in order
FITTED_SCHEMA = pa.schema([pa.field("user", pa.int32()), pa.field("p", pa.float64())])


class DenoiseRun:
    """A loaded denoiser and the dataset-wide inputs it scores users with (no LLM: small enough to share)."""

    def __init__(
        self,
        dataset: Dataset,
        denoiser: Denoiser,
        train: TrainingInteractions,
        stats: CollaborativeStats,
        vectors: torch.Tensor,
    ):
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
        self.evidence = denoiser.evidence(list(self.item_ids), self.user_ids)

    def probabilities(self, user: int) -> np.ndarray:
        """(training items of `user`,) calibrated p(noise), at the share of noise the calibration was fitted
        on; empty for a user without training items."""
        items = self.sequences[user]
        if not len(items):
            return np.zeros(0)
        evidence = self.evidence.features([user], [items])[0] if self.evidence else None
        return self.denoiser.probabilities(self.denoiser.logits(self.stats, user, items, items, self.vectors, evidence))


def load_model(adapter: str, engine_config: EngineConfig) -> tuple[Engine, Denoiser]:
    """The engine with the denoise adapter, and the denoiser's head."""
    folder = adapter_folder(adapter)
    engine = load_engine(with_adapter(engine_config, adapter))
    return engine, load_denoiser(folder, engine.model.config.hidden_size)


def with_adapter(engine_config: EngineConfig, adapter: str) -> EngineConfig:
    return replace(engine_config, adapters=(str(adapter_folder(adapter)),))


@dataclass(frozen=True)
class CatalogTexts:
    """What encoding the catalog's chunks needs: the texts, how to load the engine, the layers the adapter
    reads, the tokens read of a text. `engine` (the driver's, already loaded) is used in this process and
    never travels: a worker elsewhere loads its own from `engine_config`."""

    texts: list[str]
    engine_config: EngineConfig
    top_layers: int
    max_tokens: int
    engine: Engine | None = None

    def chunk(self, k: int) -> list[str]:
        return self.texts[k * ITEM_CHUNK : (k + 1) * ITEM_CHUNK]

    def chunks(self) -> range:
        return range(-(-len(self.texts) // ITEM_CHUNK))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "engine": None}


class CatalogEncoding:
    """A worker that encodes one chunk of CatalogTexts: (texts of the chunk,) rows of `vector`."""

    def __init__(self, shared: CatalogTexts):
        self.shared = shared
        engine = shared.engine or load_engine(shared.engine_config)
        # Eager attention: torch's fused CPU attention splits its sums by thread, so the vectors' last bits
        # would depend on how many threads a worker has (1 per Ray worker, every core in one process).
        engine.model.set_attn_implementation("eager")
        self.encoder = ItemEncoder(engine.model, engine.tokenizer, shared.top_layers, shared.max_tokens)

    def __call__(self, k: int) -> pa.Table:
        vectors = self.encoder.encode(self.shared.chunk(k)).numpy()
        return pa.table({"vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])})


def encode_items(
    dataset: Dataset,
    engine: Engine,
    engine_config: EngineConfig,
    denoiser: Denoiser,
    rows: np.ndarray,
    progress: Progress,
    executor: Executor | None = None,
) -> torch.Tensor:
    """(items, dim): the LLM vector of each item in `rows`, zero for the others (and for all of them when
    the adapter has no LLM part, which never reads the vectors). Computed once per engine and texts
    (curator.denoise.vector_cache); `engine_config` (with the adapter) is how a worker elsewhere loads
    `engine`."""
    dim = engine.model.config.hidden_size
    vectors = torch.zeros(len(dataset.items), dim)
    if not denoiser.config.use_text:
        return vectors
    texts = item_texts(dataset, denoiser.config.item_text)
    max_tokens = ITEM_TEXT_TOKENS[denoiser.config.item_text]
    catalog = CatalogTexts([texts[i] for i in rows], engine_config, denoiser.config.top_layers, max_tokens, engine)

    def encode() -> np.ndarray:
        encoded = np.zeros((len(catalog.texts), dim), dtype=np.float32)
        progress.start("item vectors", total=len(catalog.texts))
        for k, table in (executor or LocalExecutor()).run(ChunkJob(catalog, CatalogEncoding), catalog.chunks()):
            part = table["vector"].combine_chunks()
            encoded[k * ITEM_CHUNK : k * ITEM_CHUNK + len(part)] = part.flatten().to_numpy().reshape(len(part), dim)
            progress.advance("item vectors", len(part))
        return encoded

    key = vectors_key(engine.info, catalog.texts, max_tokens)
    vectors[torch.from_numpy(rows)] = torch.from_numpy(cached_vectors(key, encode))
    return vectors


def load_run(
    dataset: Dataset, adapter: str, engine_config: EngineConfig, progress: Progress, executor: Executor | None = None
) -> DenoiseRun:
    """Load the denoiser and the vector of every item that some training sequence holds (the only ones scored
    or proposed; the others stay zero), the catalog encoded through `executor` (default: this process)."""
    engine, denoiser = load_model(adapter, engine_config)
    train = training_interactions(dataset)
    stats = CollaborativeStats.of(train, denoiser.config.factor_rank, executor, progress)
    rows = np.flatnonzero(stats.users_of > 0)
    vectors = encode_items(dataset, engine, with_adapter(engine_config, adapter), denoiser, rows, progress, executor)
    return DenoiseRun(dataset, denoiser, train, stats, vectors)


def chunk_plan(users: int) -> list[range]:
    """The users of each chunk, in order: the same plan in every shard, engine and resumed run."""
    return [range(start, min(start + CHUNK_USERS, users)) for start in range(0, users, CHUNK_USERS)]


@dataclass(frozen=True)
class ScorePass:
    """What every worker of the score pass shares."""

    run: DenoiseRun
    chunks: list[range]


class ChunkScores:
    """A worker of the score pass: the p (fitted share) of chunk k's users, FITTED_SCHEMA."""

    def __init__(self, shared: ScorePass):
        self.run, self.chunks = shared.run, shared.chunks

    def __call__(self, k: int) -> pa.Table:
        p = [self.run.probabilities(user) for user in self.chunks[k]]
        users = np.repeat(np.arange(self.chunks[k].start, self.chunks[k].stop), [len(q) for q in p])
        return pa.table({"user": users.astype(np.int32), "p": np.concatenate(p)}, schema=FITTED_SCHEMA)


def user_probabilities(run: DenoiseRun, executor: Executor) -> pa.Table:
    """Every user's p (FITTED_SCHEMA, users in order), scored in chunks by `executor`."""
    chunks = chunk_plan(len(run.sequences))
    tables = dict(executor.run(ChunkJob(ScorePass(run, chunks), ChunkScores), range(len(chunks))))
    parts = [tables[k] for k in range(len(chunks))]
    return pa.concat_tables(parts) if parts else FITTED_SCHEMA.empty_table()
