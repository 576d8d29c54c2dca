"""`curator denoise DATA --threshold 0.9`: score every training interaction, edit the confident ones.

For each user, one pass of the denoiser over its training sequence gives p = the calibrated probability
that each interaction is noise, at the share of noise the calibration was fitted on. Once every user is
scored, p is restated at the data's own share (`--noise-share`, estimated from the scores by default and
never above the fitted share: curator.denoise.noise_share). Positions with p >= threshold are edited,
highest p first, at most `max_edits` per user: replaced by the ranker's best catalog item (never one
already in the sequence, never free text) when the ranker's confidence in it is >= replace_threshold,
else removed. Validation and test targets are never scored nor touched.

Work is planned in chunks of CHUNK_USERS users; each finished chunk (its scores, then its decisions) goes
to the work folder (OUT.partial/), so a killed run resumes, and `--shard K/N` scores every N-th chunk. The
run that scores the last chunk estimates the share, decides and writes the output: the cleaned dataset,
its ledger (input + ledger = output, exactly) and `scores.parquet`, one row per training interaction. The
item vectors are kept in the user cache (curator.denoise.vector_cache), so a resumed run, or a second run
with another threshold, does not encode the catalog again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from curator.data.atomic import check_not_overlapping, check_output_free
from curator.data.collaborative import TrainingInteractions, training_interactions
from curator.data.dataset import Dataset
from curator.data.ledger import Edit, build_ledger, ledger_counts, write_curated
from curator.denoise.calibration import Calibration
from curator.denoise.context import CollaborativeStats
from curator.denoise.denoiser import Denoiser, denoiser_meta, load_denoiser
from curator.denoise.item_states import MAX_ITEM_TOKENS, ItemEncoder, item_texts
from curator.denoise.noise_share import estimate_share, restate
from curator.denoise.vector_cache import cached_vectors, vectors_key
from curator.errors import OptionError
from curator.llm.adapters import adapter_folder
from curator.llm.config import EngineConfig
from curator.llm.engine import Engine, load_engine
from curator.stages.progress import Silent, StageProgress
from curator.stages.sharding import Shard
from curator.stages.workfolder import WorkFolder, work_folder_for

DEFAULT_ADAPTER = "denoise-ml100k"
SCORES_FILE = "scores.parquet"
CHUNK_USERS = 64

SCORES_SCHEMA = pa.schema([
    pa.field("user_id", pa.string()),
    pa.field("position", pa.int32()),
    pa.field("item_id", pa.string()),
    pa.field("score", pa.float64()),  # calibrated p(noise), at the data's share of noise
    pa.field("action", pa.string()),  # keep, remove or replace
    pa.field("new_item", pa.string()),  # replace: the item put in its place
    pa.field("candidates", pa.list_(pa.string())),  # edited positions: the ranker's best items, best first
    pa.field("candidate_confidences", pa.list_(pa.float64())),
])
# a chunk's scores before the decisions: p at the share the calibration was fitted on, users in order
FITTED_SCHEMA = pa.schema([pa.field("user", pa.int32()), pa.field("p", pa.float64())])


@dataclass(frozen=True)
class DenoiseConfig:
    threshold: float = 0.9
    max_edits: int | None = None  # per user; None: no limit
    replace_threshold: float = 0.5
    adapter: str = DEFAULT_ADAPTER
    candidates: int = 10  # ranked candidates kept in the score table for each edited position
    shard: str | None = None
    noise_share: float | str = "auto"  # the data's share of noise that p is restated at; "auto": estimated

    def stated_share(self) -> float | None:
        """The share given as --noise-share; None for "auto"."""
        if self.noise_share == "auto":
            return None
        try:
            share = float(self.noise_share)
        except ValueError:
            raise OptionError(f"--noise-share {self.noise_share}: give auto or a share in (0, 1)") from None
        if not 0.0 < share < 1.0:
            raise OptionError(f"--noise-share {self.noise_share}: a share of noise is in (0, 1)")
        return share

    def validate(self) -> None:
        for name in ("threshold", "replace_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise OptionError(f"--{name.replace('_', '-')} {value} is not a probability in [0, 1]")
        if self.max_edits is not None and self.max_edits < 1:
            raise OptionError(f"--max-edits {self.max_edits}: give at least 1 (or leave it out for no limit)")
        if self.candidates < 1:
            raise OptionError(f"--candidates {self.candidates}: at least one candidate is needed")
        Shard.parse(self.shard)
        self.stated_share()


@dataclass(frozen=True)
class NoiseShare:
    fitted: float  # the share of noise the adapter's calibration was fitted on
    used: float  # the share p was restated at
    estimated: bool  # `used` was estimated from the data (--noise-share auto)


@dataclass(frozen=True)
class DenoiseResult:
    dataset: Dataset | None  # None: this shard is done, other chunks are not yet
    chunks_done: int
    chunks: int
    counts: dict[str, int]  # ledger actions
    share: NoiseShare | None = None  # None until every chunk is scored


class DenoiseRun:
    """A loaded denoiser with its engine, and the dataset-wide inputs it scores users with."""

    def __init__(self, dataset: Dataset, engine: Engine, denoiser: Denoiser, train: TrainingInteractions,
                 stats: CollaborativeStats, vectors: torch.Tensor):
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

    def decide(self, user: int, p: np.ndarray, config: DenoiseConfig) -> list[dict[str, Any]]:
        """Score table rows of one user's training interactions, scored `p`, with the decisions taken."""
        items = self.sequences[user]
        rows = [{"user_id": self.user_ids[user], "position": position, "item_id": self.item_ids[item],
                 "score": float(score), "action": "keep", "new_item": None, "candidates": None,
                 "candidate_confidences": None} for position, (item, score) in enumerate(zip(items, p))]
        flagged = [int(k) for k in np.lexsort((np.arange(len(p)), -p)) if p[k] >= config.threshold]
        taken = set(self.whole_sequences[user].tolist())
        for position in flagged[:config.max_edits]:
            found = self.denoiser.replacements(self.stats, user, items, items, position, self.text_space,
                                               exclude=np.fromiter(taken, np.int64), k=config.candidates)
            row = rows[position]
            row["candidates"] = list(self.item_ids[found.items])
            row["candidate_confidences"] = found.confidence.tolist()
            if len(found.items) and found.confidence[0] >= config.replace_threshold:
                row["action"], row["new_item"] = "replace", self.item_ids[found.items[0]]
                taken.add(int(found.items[0]))
            else:
                row["action"] = "remove"
        return rows


def load_model(adapter: str, engine_config: EngineConfig) -> tuple[Engine, Denoiser]:
    """The engine with the denoise adapter, and the denoiser's head."""
    folder = adapter_folder(adapter)
    engine = load_engine(replace(engine_config, adapters=(str(folder),)))
    return engine, load_denoiser(folder, engine.model.config.hidden_size)


def encode_items(dataset: Dataset, engine: Engine, denoiser: Denoiser, rows: np.ndarray,
                 progress: StageProgress) -> torch.Tensor:
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


def load_run(dataset: Dataset, adapter: str, engine_config: EngineConfig, progress: StageProgress) -> DenoiseRun:
    """Load the engine with the denoise adapter and the vector of every item that some training sequence
    holds (the only ones scored or proposed; the others stay zero)."""
    engine, denoiser = load_model(adapter, engine_config)
    train = training_interactions(dataset)
    stats = CollaborativeStats.of(train, denoiser.config.factor_rank)
    vectors = encode_items(dataset, engine, denoiser, np.flatnonzero(stats.users_of > 0), progress)
    return DenoiseRun(dataset, engine, denoiser, train, stats, vectors)


def denoise(dataset: Dataset, config: DenoiseConfig, engine_config: EngineConfig, out_dir: str | Path, *,
            command: list[str], resume: bool = False, overwrite: bool = False,
            progress: StageProgress | None = None) -> DenoiseResult:
    config.validate()
    progress = progress or Silent()
    out_dir = Path(out_dir)
    check_output_free(out_dir, overwrite)
    check_not_overlapping([dataset.path], out_dir)
    shard = Shard.parse(config.shard)
    identity = {"data": dataset.content_hash, "config": {**asdict(config), "shard": None},
                "engine": engine_config.to_dict()}
    # Shards share one work folder: each joins it as a resumed run.
    work = WorkFolder.open(work_folder_for(out_dir), identity, resume=resume or shard.count > 1,
                           overwrite=overwrite)
    chunks = [range(start, min(start + CHUNK_USERS, len(dataset.users)))
              for start in range(0, len(dataset.users), CHUNK_USERS)]
    run = score_chunks(dataset, config, engine_config, work, chunks, shard, progress)
    done = sum(work.has_chunk("scores", k) for k in range(len(chunks)))
    if done < len(chunks):
        return DenoiseResult(None, done, len(chunks), {})

    fitted = pa.concat_tables([work.read_chunk("scores", k) for k in range(len(chunks))])
    meta = run.denoiser.meta if run else denoiser_meta(adapter_folder(config.adapter))
    p_fitted = fitted["p"].to_numpy()
    share = noise_share(p_fitted, Calibration.from_dict(meta["calibration"]).share, config)
    p = restate(p_fitted, share.fitted, share.used)
    p_of_user = np.split(p, np.cumsum(np.bincount(fitted["user"].to_numpy(), minlength=len(dataset.users)))[:-1])
    scores = decide_chunks(dataset, config, engine_config, work, chunks, p_of_user, run, progress)

    ledger = build_ledger(dataset.tables, edits_of(scores, config), stage="denoise",
                          model=meta.get("base_model"), adapter=config.adapter)
    out = write_curated(out_dir, dataset, ledger, "denoise",
                        {**asdict(config), "share_of_noise": asdict(share), "engine": engine_config.to_dict()},
                        command, overwrite=overwrite, extra_files={SCORES_FILE: scores})
    work.remove()
    return DenoiseResult(out, done, len(chunks), ledger_counts(ledger), share)


def score_chunks(dataset: Dataset, config: DenoiseConfig, engine_config: EngineConfig, work: WorkFolder,
                 chunks: list[range], shard: Shard, progress: StageProgress) -> DenoiseRun | None:
    """Score the shard's chunks not yet in `work` (p at the calibration's fitted share, FITTED_SCHEMA);
    the loaded run, None when there was nothing to score."""
    mine = [k for k in range(len(chunks)) if shard.owns(k) and not work.has_chunk("scores", k)]
    run = load_run(dataset, config.adapter, engine_config, progress) if mine else None
    progress.start("users", total=sum(len(chunks[k]) for k in range(len(chunks)) if shard.owns(k)),
                   done=sum(len(chunks[k]) for k in range(len(chunks)) if shard.owns(k) and k not in mine))
    for k in mine:
        p = [run.probabilities(user) for user in chunks[k]]
        users = np.repeat(np.arange(chunks[k].start, chunks[k].stop), [len(q) for q in p])
        work.write_chunk("scores", k, pa.table({"user": users.astype(np.int32), "p": np.concatenate(p)},
                                               schema=FITTED_SCHEMA))
        progress.advance("users", len(chunks[k]))
    return run


def decide_chunks(dataset: Dataset, config: DenoiseConfig, engine_config: EngineConfig, work: WorkFolder,
                  chunks: list[range], p_of_user: list[np.ndarray], run: DenoiseRun | None,
                  progress: StageProgress) -> pa.Table:
    """The score table (SCORES_SCHEMA) of every chunk: those already in `work`, the others decided now
    from `p_of_user` (the restated p) and written there; `run` is loaded when there is none."""
    undecided = [k for k in range(len(chunks)) if not work.has_chunk("decisions", k)]
    if undecided and run is None:
        run = load_run(dataset, config.adapter, engine_config, progress)
    progress.start("decisions", total=len(dataset.users),
                   done=sum(len(chunks[k]) for k in range(len(chunks)) if k not in undecided))
    for k in undecided:
        rows = [row for user in chunks[k] for row in run.decide(user, p_of_user[user], config)]
        work.write_chunk("decisions", k, pa.Table.from_pylist(rows, schema=SCORES_SCHEMA))
        progress.advance("decisions", len(chunks[k]))
    return pa.concat_tables([work.read_chunk("decisions", k) for k in range(len(chunks))])


def noise_share(p: np.ndarray, fitted: float, config: DenoiseConfig) -> NoiseShare:
    """The share of noise to restate `p` (calibrated at `fitted`) at: --noise-share, or estimated."""
    stated = config.stated_share()
    if stated is None:
        return NoiseShare(fitted, estimate_share(p, fitted), estimated=True)
    return NoiseShare(fitted, stated, estimated=False)


def edits_of(scores: pa.Table, config: DenoiseConfig) -> list[Edit]:
    edits = []
    for row in scores.filter(pc.not_equal(scores["action"], "keep")).to_pylist():
        edits.append(Edit(user_id=row["user_id"], action=row["action"], position=row["position"],
                          new_item=row["new_item"], score=row["score"], threshold=config.threshold))
    return edits


def read_scores(dataset: Dataset) -> pa.Table:
    return pq.read_table(dataset.path / SCORES_FILE)
