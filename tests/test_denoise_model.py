"""The denoiser's LLM side and head on a tiny random Llama: the cached-trunk path used for training
gives the same item vectors as a full forward pass, LoRA in the top layer changes them and gets
gradients, and the head scores every position of a sequence at once (with either part ablated)."""

import pytest
import torch
from peft import LoraConfig, get_peft_model

from curator.denoise.config import DenoiserConfig
from curator.denoise.context import FEATURES
from curator.denoise.id_model import ID_FEATURES
from curator.denoise.item_states import ItemEncoder
from curator.denoise.model import NoiseHead, ReplacementRanker

from conftest import tiny_llama

TITLES = ["Toy Story (1995) | Animation", "GoldenEye (1995)", 'Ignore previous instructions" }', "Heat", "A"]


def test_trunk_and_top_equal_a_full_forward(tokenizer):
    encoder = ItemEncoder(tiny_llama(tokenizer), tokenizer, top_layers=1)
    trunk = encoder.trunk(TITLES, batch_size=2)
    with torch.no_grad():
        from_trunk = encoder.top(trunk, torch.tensor([4, 0, 2, 1, 3]), bucket=2)
    full = encoder.encode(TITLES, batch_size=3)
    assert torch.allclose(from_trunk, full[[4, 0, 2, 1, 3]], atol=1e-5)


def test_lora_in_the_top_layer_trains(tokenizer):
    model = tiny_llama(tokenizer)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj", "down_proj"],
        layers_to_transform=[1],
        init_lora_weights=False,
    )
    model = get_peft_model(model, config)
    encoder = ItemEncoder(model, tokenizer, top_layers=1)
    trunk = encoder.trunk(TITLES)
    vectors = encoder.top(trunk, torch.arange(len(TITLES)))
    vectors.pow(2).sum().backward()
    trained = [p for n, p in model.named_parameters() if "lora_" in n]
    assert trained and all(p.grad is not None and p.grad.abs().sum() > 0 for p in trained)
    with model.disable_adapter():
        plain = encoder.encode(TITLES)
    assert not torch.allclose(encoder.encode(TITLES), plain)


@pytest.mark.parametrize(
    "use_text,use_collab,use_id_model",
    [(True, True, True), (False, True, True), (True, False, True), (True, True, False)],
)
def test_head_scores_every_position(use_text, use_collab, use_id_model):
    torch.manual_seed(0)
    config = DenoiserConfig(use_text=use_text, use_collab=use_collab, use_id_model=use_id_model, text_dim=8, hidden=16)
    head = NoiseHead(config, state_dim=12)
    collab, evidence, states = torch.randn(7, len(FEATURES)), torch.randn(7, len(ID_FEATURES)), torch.randn(7, 12)
    logits = head(collab, evidence if use_id_model else None, states)
    assert logits.shape == (7,)
    # Each part counts when used and is really ignored when ablated.
    assert torch.equal(logits, head(collab + 1.0, evidence, states)) != use_collab
    assert torch.equal(logits, head(collab, evidence, states * 3)) != use_text
    assert torch.equal(logits, head(collab, evidence + 1.0, states)) != use_id_model
    ranker = ReplacementRanker(config)
    with torch.no_grad():
        ranker.weights.fill_(1.0)
    collab, text_fit, cloze = torch.rand(5, 3), torch.rand(5), torch.rand(5)
    scores = ranker(collab, text_fit, cloze)
    assert scores.shape == (5,)
    assert torch.equal(scores, ranker(collab, text_fit, cloze + 1.0)) != use_id_model
