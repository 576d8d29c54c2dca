"""`curator defend DATA --fdr 0.05 | --user-threshold 0.5 --fraud-action drop|reweight --out DIR`: the user-level
defense.

Every user's p(fake) and suspicion score come from the detector (curator.fraud.detector: collaborative
evidence, the LLM-derived text and denoiser signals, a calibrator fitted on simulated attacks of the data
itself); the users the decision picks (BH at --fdr, or p(fake) >= --user-threshold) are dropped or
down-weighted through the ledger (curator.fraud.defense). The evidence's user-user products (blocks of
users) and, with `--denoiser`, the denoiser signal (its catalog encoding, collaborative evidence and
per-user scoring) run on `execution`'s engine (`--engine ray`: Ray workers); `execution` is not part of the
identity, since every engine gives the same bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curator.data.dataset import Dataset
from curator.data.hashing import path_digest
from curator.fraud.config import DefendConfig
from curator.inject.config import FAKE_USERS_LABELS
from curator.llm.adapters import adapter_folder
from curator.llm.config import EngineConfig
from curator.run.executor import Executor, ExecutorConfig, open_executor
from curator.run.stage import Stage, StageRun


@dataclass
class DefendStage(Stage):
    name = "defend"

    data: Dataset
    config: DefendConfig
    out: Path
    denoiser_engine: EngineConfig | None = None  # the --denoiser's base model, where one is used
    execution: ExecutorConfig = field(default_factory=ExecutorConfig)  # where the user blocks and the denoiser run

    def validate(self) -> None:
        self.config.validate()
        self.execution.validate()

    def inputs(self) -> dict[str, Dataset | Path]:
        # the fake-user labels of an injected attack are not in the data's content hash; the output reports on them
        labels = self.data.path / FAKE_USERS_LABELS
        return {"data": self.data, **({"fake_user_labels": labels} if labels.is_file() else {})}

    def options(self) -> dict[str, Any]:
        engine = self.denoiser_engine.to_dict() if self.config.denoiser and self.denoiser_engine else None
        return {**asdict(self.config), "denoiser_engine": engine}

    def versions(self) -> dict[str, Any]:
        if not self.config.denoiser:
            return {}
        return {"denoiser": path_digest(adapter_folder(self.config.denoiser, "--denoiser"))}

    def produce(self, run: StageRun) -> dict[str, Any]:
        # imported here: a rerun that finds the output recorded needs neither the detector nor its libraries
        from curator.fraud.defense import write_defended
        from curator.fraud.detector import detect

        vectors, embedding_model = self._item_vectors()
        preload = ("curator.fraud.features_collaborative", "curator.fraud.denoiser_signal")
        with open_executor(self.execution, preload=preload) as executor:
            signals = self._signals(run, executor)
            detection = detect(self.data, self.config.detector, vectors, signals, run.progress, executor)
        written = write_defended(
            run.folder,
            self.data,
            detection,
            self.config.detector,
            self.config.defense,
            name=self.out.name,
            command=run.command,
            embedding_model=embedding_model,
        )
        return {
            "users": len(detection.user_ids),
            "estimated_prior": detection.prior,
            "flagged": written["promise"]["acted_on"],
            **written,
        }

    def _item_vectors(self):
        """Item text vectors and the model that made them; none for the collaborative-only ablation."""
        if not self.config.detector.use_text:
            return None, None
        from curator.fraud.features_text import item_vectors
        from curator.llm.embeddings import TextEmbedder

        embedder = TextEmbedder(self.config.embedding_model)
        return item_vectors(self.data, embedder), embedder.name

    def _signals(self, run: StageRun, executor: Executor) -> tuple:
        if not self.config.denoiser:
            return ()
        from curator.fraud.denoiser_signal import DenoiserSignal

        return (DenoiserSignal(self.data, self.config.denoiser, self.denoiser_engine, run.progress, executor),)
