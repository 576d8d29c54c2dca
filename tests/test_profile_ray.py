"""`curator profile --engine ray`: generation in Ray actors (each loads the model and the embedder once) writes
the bytes of the single-process run, with 1 and 2 workers, and a run killed on one engine resumes on the other.

A local Ray with 2 CPUs on two MovieLens-100K users (their 3 most recent training items each: 3 chunks of item
profiles, 1 of user profiles), a tiny random Llama saved to a folder (as a worker elsewhere loads it) and the
shipped MiniLM embedder: the mechanics of the engines, not the quality of the profiles."""

import pyarrow.parquet as pq
import pytest

from curator.data.dataset import read_dataset
from curator.llm.config import EngineConfig
from curator.profile.config import ProfileOptions
from curator.run.executor import ExecutorConfig
from curator.run.progress import Silent
from curator.run.stage import run_stage
from curator.stages.profile import ProfileStage

from builders import first_users
from conftest import run_cli, tiny_llama, tiny_tokenizer

pytest.importorskip("ray")

pytestmark = pytest.mark.e2e  # a local Ray takes seconds to start, and each worker loads both models

PROFILE_FILES = ("profiles/items.parquet", "profiles/users.parquet")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, movielens):
    root = tmp_path_factory.mktemp("profile-ray")
    tokenizer = tiny_tokenizer()
    tiny_llama(tokenizer).save_pretrained(root / "tiny")
    tokenizer.save_pretrained(root / "tiny")
    dataset = first_users(movielens, 2, root / "ml-two")
    return root, dataset


def profile_stage(setup, out, **execution):
    root, dataset = setup
    # batch size 1: a chunk is CHUNK_BATCHES prompts, so the 6 items make 2 chunks for the 2 workers to share
    options = ProfileOptions(users=tuple(dataset.users["user_id"].to_pylist()), recent=3, batch_size=1,
                             max_new_tokens=40, attempts=2, seed=5)  # fmt: skip
    engine = EngineConfig(model=str(root / "tiny"), quant="none", dtype="float32", device="cpu")
    return ProfileStage(read_dataset(dataset.path), options, engine, root / out, execution=ExecutorConfig(**execution))


def profile_bytes(folder):
    return {name: (folder / name).read_bytes() for name in PROFILE_FILES}


@pytest.fixture(scope="module")
def local_output(setup):
    root, dataset = setup
    run_stage(profile_stage(setup, "local"))
    items = pq.read_table(root / "local" / PROFILE_FILES[0])
    assert len(items) == 6  # the 3 recent items of each user
    # Something to compare: greedy answers, sampled retries (seeded by chunk) and embeddings, and failures.
    assert {"retried", "failed"} <= set(items["status"].to_pylist())
    users = pq.read_table(root / "local" / PROFILE_FILES[1])["user_id"].to_pylist()
    assert users == dataset.users["user_id"].to_pylist()
    return profile_bytes(root / "local")


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_profiles_are_the_bytes_of_the_single_process_run(setup, local_ray, local_output, workers):
    run_stage(profile_stage(setup, f"ray-{workers}", engine="ray", workers=workers))
    assert profile_bytes(setup[0] / f"ray-{workers}") == local_output


def test_a_profile_run_killed_on_one_engine_resumes_on_the_other(setup, local_ray, local_output):
    class KillAfterFirstChunk(Silent):
        def advance(self, task, amount=1, note="", counted=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stage(profile_stage(setup, "resumed"), progress=KillAfterFirstChunk())
    root = setup[0]
    assert len(list((root / "resumed.partial" / "items").glob("chunk-*.parquet"))) == 1
    run_stage(profile_stage(setup, "resumed", engine="ray", workers=2), resume=True)
    assert profile_bytes(root / "resumed") == local_output


def test_the_cli_takes_the_ray_options(setup, local_ray, local_output):
    root, dataset = setup
    users = ",".join(dataset.users["user_id"].to_pylist())
    result = run_cli("profile", dataset.path, "--model", root / "tiny", "--quant", "none", "--dtype", "float32",
                     "--device", "cpu", "--users", users, "--recent", 3, "--batch-size", 1, "--max-new-tokens", 40,
                     "--attempts", 2, "--seed", 5, "--engine", "ray", "--ray-workers", 2,
                     "--out", root / "cli")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert profile_bytes(root / "cli") == local_output
