"""Shared fixtures and helpers: a tiny randomly initialised Llama and its tokenizer, built here (no
downloads), MovieLens-100K imported once per session, and the CLI runner."""

import os
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from typer.testing import CliRunner

from curator.cli import app
from curator.llm.config import EngineInfo
from curator.llm.engine import Engine

# Tests that run on CUDA where there is one (and are skipped elsewhere); CI has none.
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
# The project's shared real data (Amazon Beauty, the LLM4DSR Toys windows), beside the repository.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NEEDS_SHARED_DATA = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"needs the shared real data in {SHARED_DATA}, which is absent here"
)

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    'You write profiles. Reply with {"summary": "...", "reasoning": "..."}',
    "Toy Story is an animated comedy for children and families.",
    "GoldenEye is an action adventure thriller with James Bond.",
    "The user enjoys comedies and avoids horror films.",
] * 20


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE: every string encodes (no unknown tokens), whatever a hostile title holds."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="<|im_end|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.padding_side = "left"
    return tokenizer


def tiny_llama(tokenizer, seed: int = 0, hidden: int = 32) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        initializer_range=0.5,
    )  # wide init: peaked logits, no near-ties
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def tiny_engine(model=None, tokenizer=None) -> Engine:
    tokenizer = tokenizer or tiny_tokenizer()
    model = model if model is not None else tiny_llama(tokenizer)
    info = EngineInfo(
        model="tiny-llama", model_path="(built in the test)", quant="none", quant_note="", dtype="float32", device="cpu"
    )
    return Engine(model, tokenizer, info)


@pytest.fixture(autouse=True, scope="session")
def private_vector_cache(tmp_path_factory):
    """Item vectors of the tests' throwaway models go to a folder of this session, not the user cache
    (which keeps the converted default model, too slow to convert again for every run)."""
    folder = tmp_path_factory.mktemp("item-vectors")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("curator.denoise.vector_cache.cache_folder", lambda: folder)
        yield folder


@pytest.fixture(scope="session")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="session")
def engine(tokenizer):
    return tiny_engine(tokenizer=tokenizer)


@pytest.fixture(scope="session")
def movielens(tmp_path_factory):
    """MovieLens-100K imported from the recbole wheel, once per test session."""
    from builders import imported

    return imported("movielens-100k", tmp_path_factory.mktemp("movielens") / "ml-100k")


def run_cli(*args):
    """`curator ARGS...` in-process (paths and numbers may be passed as they are)."""
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs, as in CI, for the tests of one module."""
    ray = pytest.importorskip("ray")
    # The workers import test modules too (a test's worker class is pickled by reference): tests/ on their path.
    tests = Path(__file__).resolve().parent
    path = os.pathsep.join([str(tests.parent), str(tests), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()
