"""LoRA adapters: found by name or folder, several on one base model, switched per block."""

import pytest
import torch
from peft import LoraConfig, get_peft_model

from curator.errors import ModelError
from curator.llm import adapters as adapters_module
from curator.llm.adapters import active_adapter, adapter_folder, attach_adapters

from conftest import tiny_llama


def save_adapter(tokenizer, folder, seed):
    torch.manual_seed(seed)
    # init_lora_weights=False: random A and B, so the adapter really changes the outputs.
    peft_model = get_peft_model(
        tiny_llama(tokenizer), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(folder)
    return folder


def logits(model, tokenizer):
    ids = tokenizer("Toy Story is an animated comedy", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return model(input_ids=ids).logits


@pytest.fixture(scope="module")
def two_adapters(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("adapters")
    return save_adapter(tokenizer, root / "denoise", 1), save_adapter(tokenizer, root / "fraud", 2)


def test_several_adapters_on_one_base_switch_per_block(tokenizer, two_adapters):
    denoise, fraud = two_adapters
    base_logits = logits(tiny_llama(tokenizer), tokenizer)
    only_fraud, _ = attach_adapters(tiny_llama(tokenizer), [str(fraud)])
    fraud_logits = logits(only_fraud, tokenizer)

    model, loaded = attach_adapters(tiny_llama(tokenizer), [str(denoise), str(fraud)])
    assert loaded == {"denoise": str(denoise), "fraud": str(fraud)}
    denoise_logits = logits(model, tokenizer)  # the first adapter is active
    assert not torch.allclose(denoise_logits, base_logits, atol=1e-3)
    with active_adapter(model, "fraud"):
        torch.testing.assert_close(logits(model, tokenizer), fraud_logits)
    with active_adapter(model, None):
        torch.testing.assert_close(logits(model, tokenizer), base_logits)
    torch.testing.assert_close(logits(model, tokenizer), denoise_logits)  # back to the active one


def test_adapters_are_found_by_shipped_name(tmp_path, monkeypatch, tokenizer, two_adapters):
    monkeypatch.setattr(adapters_module, "shipped_adapters", lambda: two_adapters[0].parent)
    assert adapter_folder("fraud") == two_adapters[1]
    with pytest.raises(ModelError, match="shipped adapters: denoise, fraud"):
        adapter_folder("nope")


def test_an_unknown_adapter_name_is_a_model_error(tokenizer, two_adapters):
    model, _ = attach_adapters(tiny_llama(tokenizer), [str(two_adapters[0])])
    with pytest.raises(ModelError, match="not loaded"):
        with active_adapter(model, "fraud"):
            pass
    with pytest.raises(ModelError, match="no adapters are"):
        with active_adapter(tiny_llama(tokenizer), "fraud"):
            pass
