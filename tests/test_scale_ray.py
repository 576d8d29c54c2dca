"""`--engine ray`: the same bytes as the single-process run, with 1 and 2 workers and with `--shard`;
a worker killed mid-run is retried; a killed run resumes on either engine; the default never imports ray.

A local Ray with 2 CPUs (as in CI) on 130 MovieLens-100K users (3 chunks of users, 4 of items) and a tiny
random Llama with a 2-step adapter: the mechanics of the engines, not the quality of the denoiser."""

import os
import signal
import subprocess
import sys

import pyarrow as pa
import pytest

from curator.data.dataset import read_dataset
from curator.denoise.config import DenoiseConfig
from curator.llm.config import EngineConfig
from curator.run.executor import ChunkJob, ExecutorConfig, open_executor
from curator.run.stage import run_stage
from curator.stages.denoise import DenoiseStage

from builders import first_users
from conftest import run_cli as run
from conftest import tiny_llama, tiny_tokenizer

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.e2e  # a local Ray takes seconds to start, and each engine encodes the catalog afresh

USERS = 130
# the files that hold the output's data (the manifest and stage.json record the command line and times)
DATA_FILES = ("interactions.parquet", "items.parquet", "users.parquet", "ledger.parquet", "scores.parquet")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, movielens):
    root = tmp_path_factory.mktemp("scale")
    tokenizer = tiny_tokenizer()
    tiny_llama(tokenizer).save_pretrained(root / "tiny")
    tokenizer.save_pretrained(root / "tiny")
    first_users(movielens, USERS, root / "ml-slice")
    assert run("inject", root / "ml-slice", "--noise", 0.1, "--seed", 3, "--out", root / "noisy").exit_code == 0
    result = run("adapt", root / "noisy", "--model", root / "tiny", "--max-steps", 2, "--users-per-step", 4,
                 "--out", root / "adapter")  # fmt: skip
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def cold_vector_cache(tmp_path, monkeypatch):
    """Each run encodes the catalog itself (through its engine), instead of reading the last run's vectors."""
    monkeypatch.setattr("curator.denoise.vector_cache.cache_folder", lambda: tmp_path / "item-vectors")


def denoise_stage(setup, out, **options):
    config = DenoiseConfig(threshold=0.05, max_edits=2, replace_threshold=0.3, adapter=str(setup / "adapter"))
    engine = EngineConfig(model=str(setup / "tiny"), quant="none")
    return DenoiseStage(read_dataset(setup / "noisy"), config, setup / out, engine, **options)


def data_bytes(folder):
    return {name: (folder / name).read_bytes() for name in DATA_FILES}


@pytest.fixture(scope="module")
def local_output(setup):
    result = run_stage(denoise_stage(setup, "local"))
    assert result.summary["edits"]["remove"] + result.summary["edits"]["replace"] > 0  # something to compare
    return data_bytes(setup / "local")


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_writes_the_bytes_of_the_single_process_run(setup, local_ray, local_output, cold_vector_cache, workers):
    execution = ExecutorConfig("ray", workers=workers)
    run_stage(denoise_stage(setup, f"ray-{workers}", execution=execution))
    assert data_bytes(setup / f"ray-{workers}") == local_output


def test_ray_shards_merge_into_the_bytes_of_the_single_process_run(setup, local_ray, local_output):
    from curator.run.sharding import Shard

    execution = ExecutorConfig("ray", workers=2)
    first = run_stage(denoise_stage(setup, "sharded", shard=Shard(1, 2), execution=execution), resume=True)
    assert not first.finished and not (setup / "sharded").exists()
    run_stage(denoise_stage(setup, "sharded", shard=Shard(2, 2)), resume=True)  # the other shard, local
    assert data_bytes(setup / "sharded") == local_output


def test_a_run_killed_on_one_engine_resumes_on_the_other(setup, local_ray, local_output):
    class KillAfterFirstChunk:
        def start(self, task, total, done=0):
            pass

        def advance(self, task, amount=1, note="", counted=None):
            if task == "users":
                raise KeyboardInterrupt

        def log(self, line):
            pass

    with pytest.raises(KeyboardInterrupt):
        run_stage(denoise_stage(setup, "resumed"), progress=KillAfterFirstChunk())
    assert len(list((setup / "resumed.partial" / "scores").glob("chunk-*.parquet"))) == 1
    run_stage(denoise_stage(setup, "resumed", execution=ExecutorConfig("ray", workers=2)), resume=True)
    assert data_bytes(setup / "resumed") == local_output


class SuicidalWorker:
    """Squares its chunk's numbers; the first process to reach chunk 2 kills itself with SIGKILL (as `kill -9`
    would), once (a marker file remembers it)."""

    def __init__(self, shared):
        self.marker = shared

    def __call__(self, k):
        if k == 2 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return pa.table({"square": [k * k] * 3})


def test_a_killed_ray_worker_is_retried_and_every_chunk_comes_back(local_ray, tmp_path):
    marker = tmp_path / "killed"
    with open_executor(ExecutorConfig("ray", workers=2)) as executor:
        results = dict(executor.run(ChunkJob(str(marker), SuicidalWorker), range(6)))
    assert marker.exists()  # a worker did die
    assert sorted(results) == list(range(6))
    assert all(results[k]["square"].to_pylist() == [k * k] * 3 for k in range(6))


def test_the_collaborative_evidence_computed_on_ray_workers_is_the_local_evidence(movielens, local_ray):
    from curator.data.collaborative import training_interactions
    from curator.denoise.context import CollaborativeStats

    # 5 folds and 27 blocks of co-occurrence rows, shared by 2 workers
    train = training_interactions(movielens)
    local = CollaborativeStats.of(train, factor_rank=8)
    with open_executor(ExecutorConfig("ray", workers=2)) as executor:
        distributed = CollaborativeStats.of(train, factor_rank=8, executor=executor)
    for name in ("data", "indices", "indptr"):
        assert getattr(distributed.together, name).tobytes() == getattr(local.together, name).tobytes()
    assert distributed.factors.tobytes() == local.factors.tobytes()


def test_the_local_engine_never_imports_ray(setup):
    code = (
        "import sys\n"
        "from curator.cli import app\n"
        "from typer.testing import CliRunner\n"
        f"args = ['denoise', {str(setup / 'noisy')!r}, '--model', {str(setup / 'tiny')!r}, "
        f"'--adapter', {str(setup / 'adapter')!r}, '--out', {str(setup / 'no-ray')!r}]\n"
        "result = CliRunner().invoke(app, args)\n"
        "assert result.exit_code == 0, result.output\n"
        "print('ray' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_defend_with_the_denoiser_signal_on_ray_writes_the_bytes_of_the_local_run(setup, local_ray):
    def defend(out, *engine):
        options = ("--simulate", "random", "--budgets", "0.05", "--no-text", "--denoiser", setup / "adapter")
        result = run("defend", setup / "noisy", *options, "--model", setup / "tiny", "--out", setup / out, *engine)
        assert result.exit_code == 0, result.output
        return {name: (setup / out / name).read_bytes() for name in ("user_scores.parquet", "ledger.parquet")}

    assert defend("defended-ray", "--engine", "ray", "--ray-workers", "2") == defend("defended-local")
