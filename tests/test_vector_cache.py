"""The item-vector cache: a hit only when everything the vectors depend on is the same, and a cache that
cannot be read or written costs time, never a result."""

import numpy as np
import pytest

from curator.denoise import vector_cache
from curator.denoise.vector_cache import cached_vectors, vectors_key
from curator.llm.config import EngineInfo


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(vector_cache, "cache_folder", lambda: tmp_path / "cache")
    return tmp_path / "cache"


def engine_info(tmp_path, **changes):
    model, adapter = tmp_path / "model", tmp_path / "adapter"
    for path in (model, adapter):
        path.mkdir(exist_ok=True)
    for weights, content in (
        (model / "model.safetensors", b"weights"),
        (adapter / "adapter_model.safetensors", b"lora"),
    ):
        if not weights.exists():
            weights.write_bytes(content)
    fields = dict(
        model="m",
        model_path=str(model),
        quant="none",
        quant_note="",
        dtype="float32",
        device="cpu",
        adapters={"denoise": str(adapter)},
    )
    return EngineInfo(**{**fields, **changes})


class Encoder:
    def __init__(self, vectors):
        self.vectors, self.calls = vectors, 0

    def __call__(self):
        self.calls += 1
        return self.vectors


def test_the_second_request_is_served_from_the_cache(folder):
    encoder = Encoder(np.arange(12, dtype=np.float32).reshape(3, 4))
    first = cached_vectors("k", encoder)
    second = cached_vectors("k", encoder)
    assert encoder.calls == 1 and np.array_equal(first, second) and second.dtype == np.float32
    assert [p.name for p in folder.iterdir()] == ["k.npy"]  # no staging file left behind


def test_the_key_changes_with_texts_adapter_weights_and_engine_settings(tmp_path):
    info = engine_info(tmp_path)
    key = vectors_key(info, ["Toy Story", "Heat"], 32)
    assert vectors_key(engine_info(tmp_path), ["Toy Story", "Heat"], 32) == key  # same inputs, same name
    assert vectors_key(info, ["Heat", "Toy Story"], 32) != key
    assert vectors_key(info, ["Toy Story", "Heat (1995)"], 32) != key
    assert vectors_key(info, ["Toy Story", "Heat"], 16) != key
    assert vectors_key(engine_info(tmp_path, dtype="bfloat16"), ["Toy Story", "Heat"], 32) != key
    assert vectors_key(engine_info(tmp_path, adapters={}), ["Toy Story", "Heat"], 32) != key
    (tmp_path / "adapter" / "adapter_model.safetensors").write_bytes(b"lora, retrained")
    retrained = vectors_key(engine_info(tmp_path), ["Toy Story", "Heat"], 32)
    (tmp_path / "model" / "model.safetensors").write_bytes(b"weights, replaced")
    assert len({key, retrained, vectors_key(engine_info(tmp_path), ["Toy Story", "Heat"], 32)}) == 3


def test_a_damaged_entry_is_computed_again(folder):
    folder.mkdir()
    (folder / "k.npy").write_bytes(b"not an array")
    encoder = Encoder(np.ones((2, 2), dtype=np.float32))
    assert np.array_equal(cached_vectors("k", encoder), encoder.vectors) and encoder.calls == 1
    assert np.array_equal(np.load(folder / "k.npy"), encoder.vectors)  # and replaced


def test_an_unwritable_cache_still_returns_the_vectors(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(vector_cache, "cache_folder", lambda: blocker / "cache")  # mkdir fails
    encoder = Encoder(np.ones((2, 2), dtype=np.float32))
    assert np.array_equal(cached_vectors("k", encoder), encoder.vectors)
