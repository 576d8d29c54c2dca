"""`curator denoise`'s work: score every training interaction, edit the confident ones.

For each user, one pass of the denoiser over its training sequence gives p = the calibrated probability
that each interaction is noise, at the share of noise the calibration was fitted on. Once every user is
scored, p is restated at the data's own share (`--noise-share`, estimated from the scores by default and
never above the fitted share: curator.denoise.noise_share). Positions with p >= threshold are edited,
highest p first, at most `max_edits` per user: replaced by the ranker's best catalog item (never one
already in the sequence, never free text) when the ranker's confidence in it is >= replace_threshold,
else removed. Validation and test targets are never scored nor touched.

Work is planned in chunks of CHUNK_USERS users; each finished chunk (its scores, then its decisions) goes
to the work folder, so a killed run resumes, and a shard (`--shard K/N`) scores every N-th chunk. The
chunks are computed by an executor (curator.run.executor: this process, or Ray actors with `--engine ray`)
from what the driver computed once and shares with every worker (ScorePass, DecidePass); a chunk's result
depends on its number and those only, so every engine, shard and worker count writes the same bytes. Once
every chunk is scored, the share is estimated, the decisions are taken and the output is written: the
cleaned dataset, its ledger (input + ledger = output, exactly) and `scores.parquet`, one row per training
interaction, streamed from the decided chunks a row group at a time. Before anything is loaded, the
adapter's catalog is compared with the input's (curator.denoise.catalog): another catalog is refused unless
allowed, and then p is marked uncalibrated. The output's JSON also holds what lower thresholds would edit
(curator.denoise.outlook). The item vectors are kept in the user cache (curator.denoise.vector_cache), so a
resumed run, or a second run with another threshold, does not encode the catalog again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator.data.dataset import Dataset
from curator.data.ledger import Edit, build_ledger, ledger_counts, write_curated
from curator.denoise.calibration import Calibration
from curator.denoise.catalog import check_catalog
from curator.denoise.config import DenoiseConfig
from curator.denoise.denoiser import denoiser_meta
from curator.denoise.inference import ChunkScores, DenoiseRun, ScorePass, chunk_plan, load_run
from curator.denoise.item_states import check_item_text
from curator.denoise.noise_share import estimate_share, restate
from curator.denoise.outlook import gate_outlook
from curator.llm.adapters import adapter_folder
from curator.llm.config import EngineConfig
from curator.run.executor import ChunkJob, Executor
from curator.run.progress import Progress
from curator.run.sharding import Shard
from curator.run.workfolder import WorkFolder

SCORES_FILE = "scores.parquet"
ROW_GROUP = 1024 * 1024  # rows per row group of the score file: pyarrow's default for a whole table

SCORES_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string()),
        pa.field("position", pa.int32()),
        pa.field("item_id", pa.string()),
        pa.field("score", pa.float64()),  # calibrated p(noise), at the data's share of noise
        pa.field("action", pa.string()),  # keep, remove or replace
        pa.field("new_item", pa.string()),  # replace: the item put in its place
        pa.field("candidates", pa.list_(pa.string())),  # edited positions: the ranker's best items, best first
        pa.field("candidate_confidences", pa.list_(pa.float64())),
    ]
)


@dataclass(frozen=True)
class NoiseShare:
    fitted: float  # the share of noise the adapter's calibration was fitted on
    used: float  # the share p was restated at
    estimated: bool  # `used` was estimated from the data (--noise-share auto)


class Cleaning:
    """One `curator denoise` run over its work folder: the score pass (a shard's chunks), then, once every
    chunk is scored, p restated at the data's share of noise, the decide pass and the output. The denoiser
    is loaded only when a pass has a chunk left to compute."""

    def __init__(
        self,
        dataset: Dataset,
        config: DenoiseConfig,
        engine_config: EngineConfig,
        work: WorkFolder,
        progress: Progress,
        executor: Executor,
    ):
        self.dataset, self.config, self.engine_config = dataset, config, engine_config
        self.work, self.progress, self.executor = work, progress, executor
        self.chunks = chunk_plan(len(dataset.users))
        # Before anything is loaded: an adapter made for another catalog is refused unless allowed.
        folder = adapter_folder(config.adapter)
        self.catalog = check_catalog(folder, dataset, allow_foreign=config.allow_foreign_adapter)
        check_item_text(dataset, denoiser_meta(folder)["config"].get("item_text", "fields"))
        self._run: DenoiseRun | None = None

    def model(self) -> DenoiseRun:
        if self._run is None:
            self._run = load_run(self.dataset, self.config.adapter, self.engine_config, self.progress, self.executor)
        return self._run

    def score(self, shard: Shard) -> int:
        """Score `shard`'s chunks not yet in the work folder (p at the calibration's fitted share,
        FITTED_SCHEMA); the number of chunks scored so far, by every shard."""
        owned = [k for k in range(len(self.chunks)) if shard.owns(k)]
        mine = [k for k in owned if not self.work.has_chunk("scores", k)]
        if mine:
            self.model()  # before the users' bar: loading may encode the catalog, a task of its own
        self.progress.start(
            "users",
            total=sum(len(self.chunks[k]) for k in owned),
            done=sum(len(self.chunks[k]) for k in owned if k not in mine),
        )
        if mine:
            for k, table in self.executor.run(ChunkJob(ScorePass(self._run, self.chunks), ChunkScores), mine):
                self.work.write_chunk("scores", k, table)
                self.progress.advance("users", len(self.chunks[k]))
        return self.chunks_scored()

    def chunks_scored(self) -> int:
        return sum(self.work.has_chunk("scores", k) for k in range(len(self.chunks)))

    def restated(self) -> tuple[list[np.ndarray], NoiseShare]:
        """Every user's p restated at the data's share of noise (all chunks scored), and that share."""
        fitted = pa.concat_tables([self.work.read_chunk("scores", k) for k in range(len(self.chunks))])
        p_fitted = fitted["p"].to_numpy()
        calibration = Calibration.from_dict(self.meta()["calibration"])
        share = noise_share(p_fitted, calibration.share, self.config)
        p = restate(p_fitted, share.fitted, share.used)
        per_user = np.bincount(fitted["user"].to_numpy(), minlength=len(self.dataset.users))
        return np.split(p, np.cumsum(per_user)[:-1]), share

    def decide(self, p_of_user: list[np.ndarray]) -> None:
        """Decide the chunks not yet in the work folder from `p_of_user` (the restated p), and write their
        score tables (SCORES_SCHEMA) there."""
        undecided = [k for k in range(len(self.chunks)) if not self.work.has_chunk("decisions", k)]
        if undecided:
            self.model()  # before the decisions' bar, as in the score pass
        self.progress.start(
            "decisions",
            total=len(self.dataset.users),
            done=sum(len(self.chunks[k]) for k in range(len(self.chunks)) if k not in undecided),
        )
        if undecided:
            starts = np.cumsum([0, *(len(p) for p in p_of_user)])
            shared = DecidePass(self._run, self.chunks, np.concatenate(p_of_user), starts, self.config)
            for k, table in self.executor.run(ChunkJob(shared, ChunkDecisions), undecided):
                self.work.write_chunk("decisions", k, table)
                self.progress.advance("decisions", len(self.chunks[k]))

    def score_file(self) -> tuple[Path, list[Edit]]:
        """Every chunk's score table (all decided) streamed into one Parquet file in the work folder, a row
        group at a time (no process holds every user's scores); that file and the ledger's edits."""
        schema = SCORES_SCHEMA.with_metadata({"p": self.catalog.p_meaning()})
        edits: list[Edit] = []

        def write(target: Path) -> None:
            with pq.ParquetWriter(target, schema) as writer:
                waiting = schema.empty_table()
                for k in range(len(self.chunks)):
                    table = self.work.read_chunk("decisions", k).replace_schema_metadata(schema.metadata)
                    edits.extend(edits_of(table, self.config))
                    waiting = pa.concat_tables([waiting, table])
                    # Whole row groups until the last chunk: the file pq.write_table makes of the whole table.
                    ready = len(waiting) if k == len(self.chunks) - 1 else len(waiting) - len(waiting) % ROW_GROUP
                    if ready:
                        writer.write_table(waiting.slice(0, ready), row_group_size=ROW_GROUP)
                        waiting = waiting.slice(ready)

        self.work.write_file(SCORES_FILE, write)
        return self.work.path / SCORES_FILE, edits

    def write(self, folder: Path, *, name: str, command: list[str]) -> dict[str, Any]:
        """Restate, decide and write the cleaned dataset `name` into `folder` (every chunk scored); the
        ledger's counts and the share of noise."""
        p_of_user, share = self.restated()
        self.decide(p_of_user)
        scores, edits = self.score_file()
        ledger = build_ledger(
            self.dataset.tables,
            edits,
            stage="denoise",
            model=self.meta().get("base_model"),
            adapter=self.config.adapter,
        )
        found = {
            "share_of_noise": asdict(share),
            "adapter_catalog": self.catalog.to_dict(),
            "outlook": gate_outlook(p_of_user, self.config.max_edits),
        }
        write_curated(
            folder,
            self.dataset,
            ledger,
            "denoise",
            {**asdict(self.config), **found, "engine": self.engine_config.to_dict()},
            command,
            name=name,
            # The table says itself whether its scores are probabilities (not with a foreign adapter).
            extra_files={SCORES_FILE: scores},
        )
        return {"edits": ledger_counts(ledger), "scored": sum(map(len, p_of_user)), **found}

    def meta(self) -> dict[str, Any]:
        """What `curator adapt` recorded in the adapter folder (its calibration, its base model)."""
        return denoiser_meta(adapter_folder(self.config.adapter))


@dataclass(frozen=True)
class DecidePass:
    """What every worker of the decide pass shares: the restated p of every user, flat (user u's are
    p[starts[u]:starts[u + 1]])."""

    run: DenoiseRun
    chunks: list[range]
    p: np.ndarray
    starts: np.ndarray
    config: DenoiseConfig


class ChunkDecisions:
    """A worker of the decide pass: chunk k's rows of the score table, SCORES_SCHEMA."""

    def __init__(self, shared: DecidePass):
        self.shared = shared

    def __call__(self, k: int) -> pa.Table:
        run, p, starts = self.shared.run, self.shared.p, self.shared.starts
        rows = [
            row
            for user in self.shared.chunks[k]
            for row in decide_user(run, user, p[starts[user] : starts[user + 1]], self.shared.config)
        ]
        return pa.Table.from_pylist(rows, schema=SCORES_SCHEMA)


def decide_user(run: DenoiseRun, user: int, p: np.ndarray, config: DenoiseConfig) -> list[dict[str, Any]]:
    """Score table rows of one user's training interactions, scored `p`, with the decisions taken."""
    items = run.sequences[user]
    rows = [
        {
            "user_id": run.user_ids[user],
            "position": position,
            "item_id": run.item_ids[item],
            "score": float(score),
            "action": "keep",
            "new_item": None,
            "candidates": None,
            "candidate_confidences": None,
        }
        for position, (item, score) in enumerate(zip(items, p))
    ]
    flagged = [int(k) for k in np.lexsort((np.arange(len(p)), -p)) if p[k] >= config.threshold]
    taken = set(run.whole_sequences[user].tolist())
    for position in flagged[: config.max_edits]:
        found = run.denoiser.replacements(
            run.stats,
            user,
            items,
            items,
            position,
            run.text_space,
            run.evidence,
            exclude=np.fromiter(taken, np.int64),
            k=config.candidates,
        )
        row = rows[position]
        row["candidates"] = list(run.item_ids[found.items])
        row["candidate_confidences"] = found.confidence.tolist()
        if len(found.items) and found.confidence[0] >= config.replace_threshold:
            row["action"], row["new_item"] = "replace", run.item_ids[found.items[0]]
            taken.add(int(found.items[0]))
        else:
            row["action"] = "remove"
    return rows


def noise_share(p: np.ndarray, fitted: float, config: DenoiseConfig) -> NoiseShare:
    """The share of noise to restate `p` (calibrated at `fitted`) at: --noise-share, or estimated."""
    stated = config.stated_share()
    if stated is None:
        return NoiseShare(fitted, estimate_share(p, fitted), estimated=True)
    return NoiseShare(fitted, stated, estimated=False)


def edits_of(scores: pa.Table, config: DenoiseConfig) -> list[Edit]:
    """The ledger's edits: every row of the score table whose action is not keep."""
    edits = []
    for row in scores.filter(pc.not_equal(scores["action"], "keep")).to_pylist():
        edits.append(
            Edit(
                user_id=row["user_id"],
                action=row["action"],
                position=row["position"],
                new_item=row["new_item"],
                score=row["score"],
                threshold=config.threshold,
            )
        )
    return edits


def read_scores(dataset: Dataset) -> pa.Table:
    """The score table (SCORES_SCHEMA) a `curator denoise` output holds."""
    return pq.read_table(dataset.path / SCORES_FILE)
