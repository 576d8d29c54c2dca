"""Sequence encoders. Each maps (B, L) left-padded item indices to (B, L, d) hidden states and owns an
`item_embedding` whose weight scores all items: logits = hidden @ item_embedding.weight.T."""

from recsys.models.gru4rec import GRU4Rec, GRU4RecConfig
from recsys.models.sasrec import SASRec, SASRecConfig

MODELS = {"sasrec": (SASRec, SASRecConfig), "gru4rec": (GRU4Rec, GRU4RecConfig)}

__all__ = ["GRU4Rec", "GRU4RecConfig", "MODELS", "SASRec", "SASRecConfig"]
