"""What the LLM makes of each item's text: one vector per item, the mean of its last hidden states.

Training a LoRA adapter through a 135M-parameter model on a CPU is slow, so the adapter sits in the top
`top_layers` decoder layers only. The layers below it are frozen and carry no adapter, so what they make
of an item's text never changes: `ItemEncoder.trunk` computes it once per item, and each training step
runs only the top layers (with LoRA) over it. At inference `encode` runs the whole model; both give the
same vectors (the top layers see the same input either way; tested).

What the model reads of an item (`item_text` of the adapter's DenoiserConfig) is its text fields ("title |
year | genres"), or its title and the summary of its LLM profile (`curator profile`), which is longer and
so gets a larger token bound.

Item texts are right-padded: with causal attention a real token never attends to the padding after it,
so no attention mask is needed in the top layers and mean pooling over the real tokens is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow.parquet as pq
import torch

from curator.data.dataset import Dataset
from curator.data.item_text import clean_text
from curator.data.item_text import item_texts as text_lines
from curator.denoise.config import ITEM_TEXT_TOKENS
from curator.errors import InputError
from curator.profile.config import PROFILE_FILE
from curator.profile.tasks import valid_summaries


def item_texts(dataset: Dataset, source: str = "fields") -> list[str]:
    """What the LLM reads of each item, in items-table order: its text fields (curator.data.item_text), or
    (`source` "profiles") its title and its valid LLM profile's summary, its fields where it has no valid
    profile. An item without text is read as its id, since a text of no tokens has no hidden state to pool."""
    items = dataset.items["item_id"].to_pylist()
    texts = text_lines(dataset)
    if source == "profiles":
        summaries = profile_summaries(dataset)
        titles = [clean_text(title) if title else "" for title in dataset.items["title"].to_pylist()]
        texts = [
            " | ".join(part for part in (title, summaries[item]) if part) if item in summaries else text
            for item, title, text in zip(items, titles, texts)
        ]
    return [text or item for text, item in zip(texts, items)]


def check_item_text(dataset: Dataset, source: str) -> None:
    """A clear error, before any model loads, when `dataset` lacks what `source` reads."""
    if source == "profiles" and not (dataset.path / PROFILE_FILE["items"]).is_file():
        raise InputError(
            f"the adapter reads item profiles (--item-text profiles), and {dataset.path} has no "
            f"{PROFILE_FILE['items']}: write them with `curator profile {dataset.path} --out FOLDER` and use FOLDER"
        )


def profile_summaries(dataset: Dataset) -> dict[str, str]:
    """item_id -> the summary of its valid LLM profile (`profiles/items.parquet`)."""
    check_item_text(dataset, "profiles")
    table = pq.read_table(dataset.path / PROFILE_FILE["items"], columns=["item_id", "status", "summary"])
    summaries = valid_summaries(table).items()
    return {item: clean_text(summary) for item, summary in summaries if summary is not None}


def decoder(model):
    """The decoder stack (embeddings, layers, rotary embedding, final norm) of a Llama-like causal LM,
    with or without a peft wrapper."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.model


@dataclass
class Trunk:
    """The input of the top layers for a set of texts: hidden (n, tokens, dim) and the real-token mask."""

    hidden: torch.Tensor
    mask: torch.Tensor  # (n, tokens) bool

    def take(self, rows: torch.Tensor) -> Trunk:
        mask = self.mask[rows]
        tokens = int(mask.sum(dim=1).max())  # trim the padding no text in this batch needs
        return Trunk(self.hidden[rows, :tokens], mask[:, :tokens])


class ItemEncoder:
    def __init__(self, model, tokenizer, top_layers: int, max_tokens: int = ITEM_TEXT_TOKENS["fields"]):
        self.model = model
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.decoder = decoder(model)
        self.top_layers = top_layers
        self.first_top = len(self.decoder.layers) - top_layers

    def _tokenize(self, texts: Sequence[str]):
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "right"
        try:
            return self.tokenizer(
                list(texts), padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
            )
        finally:
            self.tokenizer.padding_side = side

    def _batches(self, texts: Sequence[str], batch_size: int):
        """(indices, tokenized batch) in batches of similar token length."""
        lengths = [len(ids) for ids in self.tokenizer(list(texts))["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: (lengths[i], i))
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            yield indices, self._tokenize([texts[i] for i in indices])

    @torch.no_grad()
    def trunk(self, texts: Sequence[str], batch_size: int = 64, progress=None) -> Trunk:
        """The frozen layers' output for every text, once."""
        device = self.decoder.embed_tokens.weight.device
        hidden = torch.zeros(len(texts), self.max_tokens, self.decoder.config.hidden_size)
        mask = torch.zeros(len(texts), self.max_tokens, dtype=torch.bool)
        for indices, batch in self._batches(texts, batch_size):
            out = self.decoder(
                input_ids=batch.input_ids.to(device),
                attention_mask=batch.attention_mask.to(device),
                output_hidden_states=True,
            )
            tokens = batch.input_ids.shape[1]
            hidden[indices, :tokens] = out.hidden_states[self.first_top].float().cpu()
            mask[indices, :tokens] = batch.attention_mask.bool()
            if progress:
                progress(len(indices))
        return Trunk(hidden, mask)

    def top(self, trunk: Trunk, rows: torch.Tensor, bucket: int = 128) -> torch.Tensor:
        """(len(rows), dim) float32 pooled vectors of items `rows` from the top layers, with gradients
        (training). Items go through in buckets of similar length, so that short titles pad little. The
        trunk stays on the CPU in float32; each bucket runs where the model is, in its dtype, and comes back
        to the CPU, where the small noise head lives."""
        device, dtype = self.decoder.norm.weight.device, self.decoder.norm.weight.dtype
        lengths = trunk.mask[rows].sum(dim=1)
        order = torch.argsort(lengths, stable=True)
        pooled = []
        for start in range(0, len(rows), bucket):
            part = trunk.take(rows[order[start : start + bucket]])
            hidden = part.hidden.to(device, dtype)  # (B, T, D)
            positions = torch.arange(hidden.shape[1], device=device).expand(hidden.shape[0], -1)
            rotary = self.decoder.rotary_emb(hidden, positions)
            for layer in self.decoder.layers[self.first_top :]:
                hidden = layer(hidden, position_embeddings=rotary, position_ids=positions)
            pooled.append(_mean_pool(self.decoder.norm(hidden), part.mask.to(device)).float().cpu())
        return torch.cat(pooled)[torch.argsort(order)]

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 64, progress=None) -> torch.Tensor:
        """(n, dim) pooled item vectors from a full forward pass (inference)."""
        device = self.decoder.embed_tokens.weight.device
        out = torch.zeros(len(texts), self.decoder.config.hidden_size)
        for indices, batch in self._batches(texts, batch_size):
            hidden = self.decoder(
                input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device)
            ).last_hidden_state
            out[indices] = _mean_pool(hidden.float().cpu(), batch.attention_mask.bool())
            if progress:
                progress(len(indices))
        return out


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
