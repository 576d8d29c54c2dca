"""A trained denoiser (head, replacement ranker, calibration) and what it says about one sequence.

An adapter folder made by `curator adapt --task denoise` holds, next to peft's own files
(adapter_config.json, adapter_model.safetensors: the LoRA weights of the LLM's top layers):

    denoiser_head.safetensors   the head and the replacement ranker
    id_model.safetensors        the ID model's fold models, and the item ids they know (curator.denoise.id_model;
    id_model.json               adapters made before it have neither)
    denoiser.json               DenoiserConfig, the calibration, the base model (where it comes from:
                                base_model_source) and quantization trained on
    README.md                   the card: data, budget, learning curve, held-out metrics, command
    catalog.json                the catalog trained on, which inputs are checked against (curator.denoise.catalog)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from curator.denoise.calibration import Calibration
from curator.denoise.config import DenoiserConfig
from curator.denoise.context import CollaborativeStats, candidate_features, sequence_features, window
from curator.denoise.id_model import IdModels, SequenceEvidence
from curator.denoise.model import NoiseHead, ReplacementRanker
from curator.errors import ModelError

HEAD_FILE = "denoiser_head.safetensors"
META_FILE = "denoiser.json"
TASK = "denoise"


@dataclass(frozen=True)
class Replacements:
    items: np.ndarray  # (k,) candidate item indices, best first
    confidence: np.ndarray  # (k,) the ranker's probability of each (softmax over every allowed item)


class Denoiser:
    def __init__(
        self,
        head: NoiseHead,
        ranker: ReplacementRanker,
        calibration: Calibration | None,
        meta: dict[str, Any],
        id_models: IdModels | None = None,
    ):
        self.head = head.eval()
        self.ranker = ranker.eval()
        self.calibration = calibration
        self.meta = meta
        self.id_models = id_models  # with the ID model's part (config.use_id_model) only

    @property
    def config(self) -> DenoiserConfig:
        return self.head.config

    def evidence(self, item_ids: list[str], user_ids: list[str]) -> SequenceEvidence | None:
        """The ID model's reading of a dataset of these items and users; None without the ID model's part."""
        return self.id_models.reading(item_ids, user_ids) if self.id_models else None

    @torch.no_grad()
    def logits(
        self,
        stats: CollaborativeStats,
        user: int,
        items: np.ndarray,
        own: np.ndarray,
        vectors: torch.Tensor,
        evidence: np.ndarray | None,
    ) -> np.ndarray:
        """(P,) raw noise logits of every position of `user`'s sequence `items`; `vectors` (catalog, D)
        item vectors, `evidence` (P, 2) the ID model's features of the sequence (SequenceEvidence.features;
        None without its part)."""
        collab = torch.from_numpy(sequence_features(stats, user, items, own))
        features = None if evidence is None else torch.from_numpy(evidence)
        return self.head(collab, features, vectors[torch.from_numpy(items)]).numpy().astype(np.float64)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        if self.calibration is None:
            raise ModelError("this denoiser has no calibration (it was saved before calibrating)")
        return self.calibration(logits)

    @torch.no_grad()
    def replacements(
        self,
        stats: CollaborativeStats,
        user: int,
        items: np.ndarray,
        own: np.ndarray,
        position: int,
        text_space: torch.Tensor,
        evidence: SequenceEvidence | None,
        exclude: np.ndarray,
        k: int = 10,
    ) -> Replacements:
        """The k catalog items that best fit `position` of `items`, none of `exclude`, among the items some
        training sequence holds (one that none does is unknown to the recommender the data is for).
        `text_space` (catalog, T) = head.text_space(vectors), computed once per catalog; `evidence` the ID
        model's reading of the dataset (None without its part)."""
        candidates = np.setdiff1d(np.flatnonzero(stats.users_of > 0), exclude)
        inputs = candidate_inputs(stats, user, items, own, position, text_space, evidence, candidates)
        logits = self.ranker(*inputs)
        probabilities = torch.softmax(logits, dim=0)
        best = torch.topk(probabilities, min(k, len(candidates)))
        return Replacements(candidates[best.indices.numpy()], best.values.numpy().astype(np.float64))

    def save(self, folder: Path, extra_meta: dict[str, Any]) -> dict[str, Any]:
        """Write the head, the ranker and META_FILE; return what META_FILE holds."""
        state = {f"head.{k}": v for k, v in self.head.state_dict().items()}
        state |= {f"ranker.{k}": v for k, v in self.ranker.state_dict().items()}
        save_file({k: v.contiguous() for k, v in state.items()}, str(folder / HEAD_FILE))
        if self.id_models:
            self.id_models.save(folder)
        meta = {
            **self.meta,
            **extra_meta,
            "task": TASK,
            "config": self.config.to_dict(),
            "calibration": self.calibration.to_dict() if self.calibration else None,
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return meta


def candidate_inputs(
    stats: CollaborativeStats,
    user: int,
    items: np.ndarray,
    own: np.ndarray,
    position: int,
    text_space: torch.Tensor,
    evidence: SequenceEvidence | None,
    candidates: np.ndarray,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The ranker's inputs for `candidates` at `position` of `user`'s `items`: (C, 3) co-occurrence fit,
    factor fit and popularity, (C,) mean text cos with the position's neighbours, and (C,) the ID model's
    cloze log-probability of each there (None without `evidence`)."""
    collab = torch.from_numpy(candidate_features(stats, user, items, own, position, candidates))
    context = torch.from_numpy(items[window(len(items), position)])
    if len(context):
        text_fit = (text_space[torch.from_numpy(candidates)] @ text_space[context].T).mean(dim=1)
    else:
        text_fit = torch.zeros(len(candidates))
    if evidence is None:
        return collab, text_fit, None
    return collab, text_fit, torch.from_numpy(evidence.cloze_log_probs(user, items, position)[candidates])


def denoiser_meta(folder: Path) -> dict[str, Any]:
    """What `curator adapt` recorded about the denoiser in adapter folder `folder`."""
    meta_file = folder / META_FILE
    if not meta_file.is_file() or not (folder / HEAD_FILE).is_file():
        raise ModelError(
            f"--adapter {folder}: not a denoise adapter (no {META_FILE} / {HEAD_FILE}; "
            "make one with `curator adapt DATA --task denoise`)"
        )
    return json.loads(meta_file.read_text(encoding="utf-8"))


def trained_quant(folder: Path) -> str:
    """The --quant value matching the quantization the denoiser was trained on: its item vectors are
    only right with the same base weights."""
    return {"4bit-nf4": "4bit", "8bit": "8bit"}.get(denoiser_meta(folder).get("quant"), "none")


def load_denoiser(folder: Path, state_dim: int) -> Denoiser:
    """The denoiser saved in adapter folder `folder` (ModelError when it is not a denoise adapter)."""
    meta = denoiser_meta(folder)
    # An adapter made before the ID model's part records no use_id_model, and has none.
    config = DenoiserConfig(**{"use_id_model": False, **meta["config"]})
    head, ranker = NoiseHead(config, state_dim), ReplacementRanker(config)
    state = load_file(str(folder / HEAD_FILE))
    try:
        head.load_state_dict({k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")})
        ranker.load_state_dict({k.removeprefix("ranker."): v for k, v in state.items() if k.startswith("ranker.")})
    except RuntimeError as error:
        raise ModelError(f"--adapter {folder}: the head does not fit this model ({error})") from None
    calibration = Calibration.from_dict(meta["calibration"]) if meta.get("calibration") else None
    return Denoiser(head, ranker, calibration, meta, IdModels.load(folder) if config.use_id_model else None)
