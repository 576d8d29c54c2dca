"""`curator adapt` under `torchrun --nproc-per-node 2` (gloo, CPU): the same adapter as one process for the same
global batch, up to float rounding (each rank takes half of every batch, the gradients are summed), written by
rank 0 only; a run killed in one process resumes under torchrun from its checkpoint to the same adapter.

A tiny random Llama saved to a folder on 130 MovieLens-100K users: 22 steps (20 warm-up steps of the head, then
LoRA steps through the tiny model), so that the kill falls after the checkpoint of step 20."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from curator.data.dataset import read_dataset
from curator.denoise.config import AdaptConfig, IdModelConfig
from curator.denoise.denoiser import HEAD_FILE, META_FILE
from curator.llm.config import EngineConfig
from curator.run.progress import Silent
from curator.run.stage import run_stage
from curator.stages.adapt import AdaptStage

from builders import first_users
from conftest import tiny_llama, tiny_tokenizer

pytestmark = [
    pytest.mark.e2e,  # fresh processes import torch, transformers and peft
    pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun"),
]

STEPS, WARMUP, USERS_PER_STEP, SEED = 22, 20, 5, 1  # 5 users: the ranks take 3 and 2 of each batch
ID_STEPS = 40  # per fold model of the ID model part (400 by default): its training is not what is tested here
TORCHRUN = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc-per-node", "2"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, movielens):
    root = tmp_path_factory.mktemp("adapt-ddp")
    tokenizer = tiny_tokenizer()
    tiny_llama(tokenizer).save_pretrained(root / "tiny")
    tokenizer.save_pretrained(root / "tiny")
    first_users(movielens, 130, root / "ml-slice")
    return root


def adapt(setup, *launcher, out, resume=False):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    command = [*launcher, "-m", "curator", "adapt", str(setup / "ml-slice"), "--model", str(setup / "tiny"),
               "--max-steps", str(STEPS), "--warmup-steps", str(WARMUP), "--users-per-step", str(USERS_PER_STEP),
               "--id-steps", str(ID_STEPS), "--seed", str(SEED), "--device", "cpu",
               "--out", str(setup / out)]  # fmt: skip
    done = subprocess.run([*command, *(["--resume"] if resume else [])], capture_output=True, text=True, env=env,
                          timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return adapter_of(setup / out)


def adapter_of(folder):
    """The adapter's trained weights (head, ranker, LoRA), its learning curve and held-out figures."""
    weights = load_file(folder / HEAD_FILE) | load_file(folder / "adapter_model.safetensors")
    meta = json.loads((folder / META_FILE).read_text())
    return weights, [point["loss"] for point in meta["curve"]], meta["heldout"]


def assert_same_adapter(two, one):
    weights, curve, heldout = two
    assert sorted(weights) == sorted(one[0])
    # The ranker's bias is not identified (its softmax over the candidates ignores a shift they all share): Adam
    # moves it on float noise alone, so it differs between any two runs that round differently.
    for name in sorted(set(one[0]) - {"ranker.bias"}):
        # abs: LoRA's B starts at zero and is ~1e-3 after two steps, where Adam's normalisation shows rounding
        assert weights[name].numpy() == pytest.approx(one[0][name].numpy(), rel=1e-4, abs=1e-5), name
    assert curve == pytest.approx(one[1], rel=1e-6)
    assert heldout["auroc"] == pytest.approx(one[2]["auroc"], abs=1e-6)
    assert heldout["replacement"] == one[2]["replacement"]


@pytest.fixture(scope="module")
def one_process(setup):
    return adapt(setup, sys.executable, out="one")


def test_two_process_adapt_equals_one_process(setup, one_process):
    two = adapt(setup, *TORCHRUN, out="two")
    assert_same_adapter(two, one_process)
    assert not (setup / "two.partial").exists()  # rank 0 published, nobody else wrote beside it


def test_a_run_killed_in_one_process_resumes_under_torchrun(setup, one_process):
    class KillAfterStep21(Silent):
        def advance(self, task, amount=1, note="", counted=None):
            self.steps = getattr(self, "steps", 0) + (task == "adapt steps")
            if self.steps == 21:
                raise KeyboardInterrupt

    config = AdaptConfig(
        max_steps=STEPS, warmup_steps=WARMUP, users_per_step=USERS_PER_STEP, seed=SEED,
        id_model=IdModelConfig(steps=ID_STEPS),
    )  # fmt: skip
    engine = EngineConfig(model=str(setup / "tiny"), quant="none", device="cpu")
    stage = AdaptStage(read_dataset(setup / "ml-slice"), config, setup / "resumed", engine)
    # The killed part runs in this process, with the subprocesses' one thread: the ID models it trains before the
    # kill (AdamW steps, read back on resume) then round as the uninterrupted run's do (with two threads and
    # the default 400 steps per fold they put the resumed LoRA weights 3% off)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_stage(stage, progress=KillAfterStep21())
    finally:
        torch.set_num_threads(threads)
    assert (setup / "resumed.partial" / "checkpoint.pt").is_file()  # of step 20: steps 21-22 are done again
    assert_same_adapter(adapt(setup, *TORCHRUN, out="resumed", resume=True), one_process)
