"""A trained denoiser (head, replacement ranker, calibration) and what it says about one sequence.

An adapter folder made by `curator adapt --task denoise` holds, next to peft's own files
(adapter_config.json, adapter_model.safetensors: the LoRA weights of the LLM's top layers):

    denoiser_head.safetensors   the head and the replacement ranker
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
        self, head: NoiseHead, ranker: ReplacementRanker, calibration: Calibration | None, meta: dict[str, Any]
    ):
        self.head = head.eval()
        self.ranker = ranker.eval()
        self.calibration = calibration
        self.meta = meta

    @property
    def config(self) -> DenoiserConfig:
        return self.head.config

    @torch.no_grad()
    def logits(
        self, stats: CollaborativeStats, user: int, items: np.ndarray, own: np.ndarray, vectors: torch.Tensor
    ) -> np.ndarray:
        """(P,) raw noise logits of every position of `user`'s sequence `items`; `vectors` (catalog, D)
        item vectors."""
        collab = torch.from_numpy(sequence_features(stats, user, items, own))
        return self.head(collab, vectors[torch.from_numpy(items)]).numpy().astype(np.float64)

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
        exclude: np.ndarray,
        k: int = 10,
    ) -> Replacements:
        """The k catalog items that best fit `position` of `items`, none of `exclude`, among the items some
        training sequence holds (one that none does is unknown to the recommender the data is for).
        `text_space` (catalog, T) = head.text_space(vectors), computed once per catalog."""
        candidates = np.setdiff1d(np.flatnonzero(stats.users_of > 0), exclude)
        logits = self.candidate_logits(stats, user, items, own, position, text_space, candidates)
        probabilities = torch.softmax(logits, dim=0)
        best = torch.topk(probabilities, min(k, len(candidates)))
        return Replacements(candidates[best.indices.numpy()], best.values.numpy().astype(np.float64))

    def candidate_logits(
        self,
        stats: CollaborativeStats,
        user: int,
        items: np.ndarray,
        own: np.ndarray,
        position: int,
        text_space: torch.Tensor,
        candidates: np.ndarray,
    ) -> torch.Tensor:
        """(C,) ranker logits of putting each of `candidates` at `position` (differentiable in the ranker)."""
        return self.ranker(*candidate_inputs(stats, user, items, own, position, text_space, candidates))

    def save(self, folder: Path, extra_meta: dict[str, Any]) -> dict[str, Any]:
        """Write the head, the ranker and META_FILE; return what META_FILE holds."""
        state = {f"head.{k}": v for k, v in self.head.state_dict().items()}
        state |= {f"ranker.{k}": v for k, v in self.ranker.state_dict().items()}
        save_file({k: v.contiguous() for k, v in state.items()}, str(folder / HEAD_FILE))
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
    candidates: np.ndarray,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ranker's inputs for `candidates` at `position` of `user`'s `items`: (C, 3) co-occurrence fit,
    factor fit and popularity, and (C,) mean text cos with the position's neighbours."""
    collab = torch.from_numpy(candidate_features(stats, user, items, own, position, candidates))
    context = torch.from_numpy(items[window(len(items), position)])
    if len(context):
        text_fit = (text_space[torch.from_numpy(candidates)] @ text_space[context].T).mean(dim=1)
    else:
        text_fit = torch.zeros(len(candidates))
    return collab, text_fit


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
    config = DenoiserConfig(**meta["config"])
    head, ranker = NoiseHead(config, state_dim), ReplacementRanker(config)
    state = load_file(str(folder / HEAD_FILE))
    try:
        head.load_state_dict({k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")})
        ranker.load_state_dict({k.removeprefix("ranker."): v for k, v in state.items() if k.startswith("ranker.")})
    except RuntimeError as error:
        raise ModelError(f"--adapter {folder}: the head does not fit this model ({error})") from None
    calibration = Calibration.from_dict(meta["calibration"]) if meta.get("calibration") else None
    return Denoiser(head, ranker, calibration, meta)
