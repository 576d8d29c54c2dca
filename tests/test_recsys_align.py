"""recsys.align: the RLMRec alignment terms, and training with them (tiny models, synthetic sequences)."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_recsys_train import Killed, cyclic_sequences

from recsys.align import AlignConfig, Alignment, AlignText, TextTable, info_nce, reconstruction
from recsys.data import LeaveOneOut
from recsys.models import GRU4Rec, GRU4RecConfig, SASRec, SASRecConfig
from recsys.train import TrainConfig, fit

NUM_ITEMS = 40


def random_text(rows: int, dim: int = 12, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(rows, dim, generator=generator), dim=1)


def item_text(present_every: int = 1) -> AlignText:
    """Text for items 1..NUM_ITEMS (row 0 is padding), every `present_every`-th item has some."""
    present = torch.zeros(NUM_ITEMS + 1, dtype=torch.bool)
    present[1::present_every] = True
    return AlignText(TextTable(random_text(NUM_ITEMS + 1), present))


def test_info_nce_prefers_matching_rows_and_reconstruction_is_zero_on_equal_rows():
    text = random_text(16)
    assert info_nce(text * 3, text, 0.2) < info_nce(text.roll(1, dims=0), text, 0.2)
    assert info_nce(text * 3, text, 0.2) == pytest.approx(info_nce(text, text, 0.2).item())  # cosine: no scale
    assert reconstruction(text * 2, text).item() == pytest.approx(0.0, abs=1e-6)
    assert reconstruction(-text, text).item() == pytest.approx(2.0)


@pytest.mark.parametrize("kind", ["con", "gen"])
def test_rows_without_text_take_no_part(kind):
    torch.manual_seed(0)
    alignment = Alignment(AlignConfig(kind=kind, weight=1.0), hidden=8, text_dim=12)
    embedding, hidden = torch.randn(NUM_ITEMS + 1, 8), torch.randn(2, 5, 8)
    inputs = torch.tensor([[0, 1, 2, 3, 4], [0, 0, 5, 6, 7]])
    targets = torch.tensor([[0, 2, 3, 4, 5], [0, 0, 6, 7, 8]])
    text = item_text(present_every=2)  # odd items only
    loss = alignment.loss(embedding, hidden, inputs, targets, torch.tensor([0, 1]), text)
    changed = AlignText(TextTable(text.items.embeddings.clone(), text.items.present))
    changed.items.embeddings[2::2] = random_text(NUM_ITEMS // 2, seed=1)  # the even items' (absent) text
    assert alignment.loss(embedding, hidden, inputs, targets, torch.tensor([0, 1]), changed) == loss
    changed.items.embeddings[3] = random_text(1, seed=2)[0]  # a present item's text counts
    assert alignment.loss(embedding, hidden, inputs, targets, torch.tensor([0, 1]), changed) != loss


def mapped_retrieval(model: SASRec, alignment_head: torch.nn.Module, text: torch.Tensor) -> float:
    """Share of items whose mapped ID embedding is nearest (cosine) to their own text among all items'."""
    with torch.no_grad():
        mapped = F.normalize(alignment_head(model.item_embedding.weight[1:]), dim=1)
    nearest = (mapped @ F.normalize(text[1:], dim=1).T).argmax(dim=1)
    return (nearest == torch.arange(NUM_ITEMS)).float().mean().item()


def test_contrastive_alignment_maps_each_item_onto_its_own_text(tmp_path):
    split = LeaveOneOut(cyclic_sequences(num_items=NUM_ITEMS), num_items=NUM_ITEMS, user_weights=np.ones(60))
    text = item_text()
    config = TrainConfig(
        max_epochs=30, patience=30, batch_size=16, lr=5e-3, max_len=10, seed=0, align=AlignConfig(weight=1.0)
    )
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(num_items=NUM_ITEMS, max_len=10, hidden=32))
    result = fit(model, split, config, tmp_path, text=text)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    alignment = Alignment(config.align, 32, text.items.embeddings.shape[1])
    alignment.load_state_dict(saved["alignment"])
    model.load_state_dict(saved["model"])  # the last weights, which the heads were trained with
    assert mapped_retrieval(model, alignment.item_head, text.items.embeddings) > 0.9
    untrained = Alignment(config.align, 32, text.items.embeddings.shape[1])
    assert mapped_retrieval(model, untrained.item_head, text.items.embeddings) < 0.3
    assert result.test["HR@10"] == 1.0  # the recommendation task is still learnt


@pytest.mark.parametrize("kind", ["con", "gen"])
def test_aligned_gru4rec_resumes_to_the_uninterrupted_run(tmp_path: Path, kind):
    split = LeaveOneOut(cyclic_sequences(seed=1), num_items=NUM_ITEMS, user_weights=np.ones(60))
    users = AlignText(item_text().items, TextTable(random_text(60, seed=3), torch.ones(60, dtype=torch.bool)))
    config = TrainConfig(
        max_epochs=4, patience=10, batch_size=16, lr=5e-3, max_len=10, seed=3, align=AlignConfig(kind, users=True)
    )

    def new_model():
        torch.manual_seed(3)
        return GRU4Rec(GRU4RecConfig(num_items=NUM_ITEMS, max_len=10, hidden=16))

    uninterrupted = fit(new_model(), split, config, tmp_path / "a", text=users)

    def kill_after_two(log):
        if log.epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        fit(new_model(), split, config, tmp_path / "b", on_epoch=kill_after_two, text=users)
    resumed = fit(new_model(), split, config, tmp_path / "b", resume=True, text=users)
    assert [e.loss for e in resumed.history] == pytest.approx([e.loss for e in uninterrupted.history])
    assert resumed.test == pytest.approx(uninterrupted.test)
    plain = fit(new_model(), split, TrainConfig(**{**config.__dict__, "align": None}), tmp_path / "c")
    assert plain.history[0].loss != pytest.approx(uninterrupted.history[0].loss)  # the term is in the loss
