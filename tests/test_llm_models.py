"""Resolving --model offline, quantization plans with stated fallbacks, loading a local folder."""

import importlib.metadata

import pytest
import torch

from curator.errors import ModelError, OptionError
from curator.llm import quantization
from curator.llm.config import EngineConfig
from curator.llm.engine import load_engine
from curator.llm.generation import DecodingSettings
from curator.llm.models import cache_root, load_causal_lm, resolve_model

from conftest import CUDA, tiny_llama


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, tokenizer):
    folder = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama(tokenizer, hidden=64).save_pretrained(folder)  # bitsandbytes' 4-bit kernels need 64-wide blocks
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("device, default_dtype", [("cpu", "float32"), pytest.param("cuda", "bfloat16", marks=CUDA)])
def test_a_local_folder_loads_unquantized_and_in_4bit(model_folder, device, default_dtype):
    plain = load_engine(EngineConfig(model=str(model_folder), quant="none", device=device))
    assert (plain.info.quant, plain.info.dtype, plain.info.device) == ("none", default_dtype, device)
    nf4 = load_engine(EngineConfig(model=str(model_folder), quant="4bit", device=device))
    assert nf4.info.quant == "4bit-nf4" and nf4.info.quant_note == ""
    assert any(type(module).__name__ == "Linear4bit" for module in nf4.model.modules())
    prompt = nf4.chat_prompt("s", "u")
    assert nf4.generate([prompt], DecodingSettings(max_new_tokens=4), batch_size=1)[0].new_tokens >= 1


def test_without_bitsandbytes_the_plan_falls_back_and_says_why(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(quantization.importlib.metadata, "version", missing)
    plan = quantization.plan_quantization("4bit", "auto", "cpu")
    assert plan.used == "none" and "bitsandbytes is not installed" in plan.note
    assert plan.dtype == torch.float32


def test_old_bitsandbytes_has_no_cpu_backend(monkeypatch):
    monkeypatch.setattr(quantization.importlib.metadata, "version", lambda name: "0.45.0")
    assert "no CPU backend" in quantization.plan_quantization("8bit", "auto", "cpu").note
    assert quantization.plan_quantization("8bit", "bfloat16", "cuda").used == "8bit"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("/no/such/model.gguf", "does not exist"),
        ("{tmp}", "no config.json"),
        ("{tmp}/file.txt", "is a file"),
    ],
)
def test_model_specs_that_cannot_be_a_model(tmp_path, spec, message):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ModelError, match=message):
        resolve_model(spec.format(tmp=tmp_path))


def test_a_hub_id_that_is_not_cached_is_a_clear_error():
    source = resolve_model("no-such-org/no-such-model-xyz")
    with pytest.raises(ModelError, match="not in the local Hugging Face cache"):
        load_causal_lm(source, {}, "cpu")


def test_engine_options_are_checked():
    with pytest.raises(OptionError, match="--quant"):
        EngineConfig(quant="3bit").validate()
    with pytest.raises(OptionError, match="twice"):
        EngineConfig(adapters=("a", "a")).validate()


def test_the_cache_follows_curator_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CURATOR_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
