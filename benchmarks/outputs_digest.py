"""Behaviour-preservation check: digest what the CLI writes, so a refactor can be proved output-neutral.

    python benchmarks/outputs_digest.py --work DIR --out FILE.json    # run the chain, write its digest
    python benchmarks/outputs_digest.py --compare A.json B.json       # exit 0 only when they are identical

The run drives the real command line (`python -m curator ...` as subprocesses, in the repository this file
lives in, with its packages imported from there even when another checkout is installed editable: see
BOOTSTRAP) through one chain on MovieLens-100K:

    data import -> inject (10% noise + 1% bandwagon fakes) -> denoise -> evaluate
                                                           -> defend
                                     denoise -> train (2 epochs)

and records, keyed by path relative to --work:

- every `*.parquet` under each output folder: sha256 of its canonical content (schema without metadata,
  then each column's values as JSON), so parquet writer metadata (library version, row-group layout)
  cannot cause a false difference;
- every `metrics.json` / `report.json`: its leaves minus what legitimately varies run to run (timings, peak
  memory, the command line, paths, thread count, version);
- every `manifest.json`: `content_hash`, `counts` and `parent.content_hash`.

Only the `digest` section of the output is compared; `meta` (where the code was imported from, raw file
hashes, wall times) is printed by --compare as information, never as a failure.

Each run gets its own model / item-vector cache under DIR/cache: a warm item-vector cache written by the
code before a refactor would otherwise hide any change in how the code after it encodes items.

Standalone: stdlib + pyarrow, and it imports nothing from curator itself (the code under test runs only
in the subprocesses).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
CLI_TIMEOUT_S = 60 * 60  # no step should come near this; it only stops a hung run from hanging a CI job

# The subprocess entry point. `python -m curator` alone is not enough: an editable install's import
# hook maps the packages that pyproject's [tool.setuptools.package-dir] relocates (curator.adapters ->
# adapters/, curator.prompts -> prompts/) to the tree it was installed from, so with PYTHONPATH pointing
# at another checkout, `curator` would come from that checkout but the shipped adapter and the prompts
# from the installed one. This maps them to this checkout first, then runs `curator` exactly as `-m` does.
BOOTSTRAP = r"""
import importlib.abc, importlib.util, os, runpy, sys
root = os.environ["OUTPUTS_DIGEST_ROOT"]
try:
    import tomllib
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        package_dir = tomllib.load(f).get("tool", {}).get("setuptools", {}).get("package-dir", {})
except (ImportError, OSError):
    package_dir = {}
mapping = {name: os.path.join(root, folder) for name, folder in package_dir.items() if name}

class CheckoutFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in mapping:
            return None
        return importlib.util.spec_from_file_location(
            name, os.path.join(mapping[name], "__init__.py"), submodule_search_locations=[mapping[name]])

sys.meta_path.insert(0, CheckoutFinder())
sys.path.insert(0, root)
if sys.argv[1:2] == ["--where"]:
    import importlib
    print(__import__("json").dumps({name: importlib.import_module(name).__file__ for name in sys.argv[2:]}))
else:
    runpy.run_module("curator", run_name="__main__", alter_sys=True)
"""

# Packages whose origin is checked before the run: all must come from ROOT.
PACKAGES = ["curator", "curator.adapters", "curator.prompts", "recsys"]

# JSON fields that vary between two runs of the same code (or between checkouts) without meaning a change
# in behaviour: wall-clock timings, memory peaks, how the command was spelled, where the input lives (the
# work folder differs from run to run), how many threads torch got, the package version string. Kept to
# the names the CLI actually writes, so that a new result field is compared rather than silently dropped.
VOLATILE_KEYS = {
    "seconds",
    "seconds_per_epoch",
    "peak_memory_mib",
    "peak_gpu_memory_mib",
    "command",
    "data",
    "path",
    "torch_threads",
    "curator_version",
    "version",
}
VOLATILE_PREFIXES = ("seconds", "peak_")  # later timing / memory fields follow the same naming


def steps(work: Path) -> list[tuple[str, list[str]]]:
    """The chain, as (name, curator arguments); each step's output folder is work/name."""
    w = str(work)
    return [
        ("ml", ["data", "import", "movielens-100k", "--out", f"{w}/ml"]),
        (
            "noisy",
            [
                "inject",
                f"{w}/ml",
                "--noise",
                "0.1",
                "--attack",
                "bandwagon",
                "--fake-users",
                "0.01",
                "--seed",
                "1",
                "--out",
                f"{w}/noisy",
            ],
        ),
        # float32 is what --dtype auto picks on a CPU; spelled out so a GPU box runs the same arithmetic.
        ("denoised", ["denoise", f"{w}/noisy", "--threshold", "0.5", "--dtype", "float32", "--out", f"{w}/denoised"]),
        ("report", ["evaluate", f"{w}/denoised", "--labels", f"{w}/noisy", "--report", f"{w}/report"]),
        ("defended", ["defend", f"{w}/noisy", "--out", f"{w}/defended", "--seed", "1"]),
        ("run", ["train", f"{w}/denoised", "--epochs", "2", "--seed", "0", "--max-len", "50", "--out", f"{w}/run"]),
    ]


def child_env(work: Path) -> dict[str, str]:
    """The environment of every CLI subprocess: this checkout first on the path, a cache of its own."""
    env = dict(os.environ)
    env["OUTPUTS_DIGEST_ROOT"] = str(ROOT)
    # Also on PYTHONPATH (not only inserted by BOOTSTRAP) so that anything the CLI itself spawns with
    # sys.executable imports this checkout too.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != ROOT]
    )
    env["CURATOR_CACHE"] = str(work / "cache")
    return env


def where_imported(env: dict[str, str]) -> dict[str, str]:
    """Where a CLI subprocess imports each of PACKAGES from; SystemExit unless all are under ROOT."""
    result = subprocess.run(
        [sys.executable, "-c", BOOTSTRAP, "--where", *PACKAGES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    files = json.loads(result.stdout.strip().splitlines()[-1])
    outside = {name: file for name, file in files.items() if ROOT not in Path(file).resolve().parents}
    if outside:
        raise SystemExit(f"error: not imported from {ROOT}: {outside}")
    return files


def run_step(name: str, args: list[str], env: dict[str, str], logs: Path) -> float:
    """Run one CLI command, its output to logs/NAME.log; its wall time in seconds. Exits on failure."""
    print(f"[{time.strftime('%H:%M:%S')}] {name}: curator {' '.join(args)}", flush=True)
    log = logs / f"{name}.log"
    start = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(
            [sys.executable, "-c", BOOTSTRAP, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=CLI_TIMEOUT_S,
        ).returncode
    seconds = time.perf_counter() - start
    print(f"[{time.strftime('%H:%M:%S')}] {name}: exit {code} after {seconds:.1f} s", flush=True)
    if code != 0:
        print(log.read_text()[-4000:], file=sys.stderr)
        raise SystemExit(f"error: step {name} failed (log: {log})")
    return seconds


def json_default(value: Any) -> str:
    # Dates, decimals and bytes have no JSON form; their repr is exact and stable for a given value.
    return repr(value)


def parquet_digest(path: Path) -> str:
    """sha256 of a parquet file's content: schema (no metadata) and every column's values, in order."""
    table = pq.read_table(path)
    digest = hashlib.sha256(table.schema.remove_metadata().to_string().encode())
    for name in table.column_names:
        # Per column keeps peak memory to one column's Python objects; row order is part of the content.
        # json.dumps writes floats by their shortest round-trip repr, so equal text means equal bits
        # (NaN and infinities are written as NaN / Infinity, still distinct).
        values = json.dumps(table.column(name).to_pylist(), sort_keys=True, default=json_default)
        digest.update(f"\n{name}\n".encode())
        digest.update(values.encode())
    return digest.hexdigest()


def is_volatile(key: str) -> bool:
    return key in VOLATILE_KEYS or key.startswith(VOLATILE_PREFIXES)


def stable_leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """The JSON leaves of `value` as {dotted.key: leaf}, minus volatile fields and anything under them."""
    if isinstance(value, dict):
        leaves: dict[str, Any] = {}
        for key, item in value.items():
            if not is_volatile(str(key)):
                leaves.update(stable_leaves(item, f"{prefix}{key}."))
        return leaves
    if isinstance(value, list):
        leaves = {}
        for index, item in enumerate(value):
            leaves.update(stable_leaves(item, f"{prefix}{index}."))
        return leaves
    if isinstance(value, str) and os.path.isabs(value):
        return {}  # a path under another name than the ones above: the work folder differs between runs
    return {prefix.rstrip("."): value}


def manifest_digest(path: Path) -> dict[str, Any]:
    manifest = json.loads(path.read_text())
    parent = manifest.get("parent") or {}
    return {
        "content_hash": manifest.get("content_hash"),
        "counts": manifest.get("counts"),
        "parent.content_hash": parent.get("content_hash") if isinstance(parent, dict) else None,
    }


# A command's record of what made a folder (`stage.json`; `run.json` before it): bookkeeping of how a run is
# identified and resumed, which a refactor of that machinery may change; what the command produced may not.
BOOKKEEPING = ("stage.json", "run.json")


def folder_digest(work: Path, folder: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """(digest entries, raw sha256 of every file) for one output folder, keyed by path relative to work."""
    digest: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = path.relative_to(work).as_posix()
        raw[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        if path.suffix == ".parquet":
            digest[key] = parquet_digest(path)
        elif path.name == "manifest.json":
            digest[key] = manifest_digest(path)
        elif path.suffix == ".json" and path.name not in BOOKKEEPING:  # metrics.json, report.json
            digest[key] = stable_leaves(json.loads(path.read_text()))
        # Other files (checkpoint.pt, reliability.png) are only in meta's raw hashes: reading a checkpoint
        # needs torch, and the metrics computed from its weights are compared above.
    return digest, raw


def run_chain(work: Path, out: Path) -> None:
    # The code under test is found from this file's location: a copy outside a checkout's benchmarks/
    # would otherwise run whatever curator the interpreter happens to have installed.
    if not (ROOT / "pyproject.toml").is_file() or not (ROOT / "curator").is_dir():
        raise SystemExit(f"error: {ROOT} is not a curator checkout; put this file in its benchmarks/ folder")
    if work.exists() and any(work.iterdir()):
        raise SystemExit(f"error: --work {work} is not empty (outputs of another run would mix in)")
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = child_env(work)
    imported = where_imported(env)
    print(f"code under test: {ROOT} ({', '.join(f'{k}={v}' for k, v in imported.items())})", flush=True)
    wall: dict[str, float] = {}
    digest: dict[str, Any] = {}
    raw: dict[str, str] = {}
    total = time.perf_counter()
    for name, args in steps(work):
        wall[name] = round(run_step(name, args, env, logs), 1)
    for name, _ in steps(work):
        entries, hashes = folder_digest(work, work / name)
        digest.update(entries)
        raw.update(hashes)
    # The cache holds a converted model and item vectors (~0.5 GB), scratch by design (see the docstring).
    shutil.rmtree(work / "cache", ignore_errors=True)
    meta = {
        "root": str(ROOT),
        "git_head": git_head(),
        "python": sys.executable,
        "imported": imported,
        "wall_s": wall,
        "total_wall_s": round(time.perf_counter() - total, 1),
        "raw_sha256": raw,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "digest": digest}, indent=1, sort_keys=True) + "\n")
    print(f"digest of {len(digest)} files written to {out} (total {meta['total_wall_s']} s)", flush=True)


def git_head() -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip() or None


def flatten(digest: dict[str, Any]) -> dict[str, Any]:
    """{file: value or {field: value}} as {"file" or "file::field": value}, for one line per difference."""
    flat: dict[str, Any] = {}
    for file, value in digest.items():
        if isinstance(value, dict):
            flat.update({f"{file}::{field}": item for field, item in value.items()})
            if not value:
                flat[file] = {}
        else:
            flat[file] = value
    return flat


def compare(a_path: Path, b_path: Path) -> int:
    a, b = (json.loads(p.read_text()) for p in (a_path, b_path))
    fa, fb = (
        {
            key: value
            for key, value in flatten(digest["digest"]).items()
            if key.split("::")[0].rsplit("/", 1)[-1] not in BOOKKEEPING
        }
        for digest in (a, b)
    )
    differences = 0
    for key in sorted(fa.keys() | fb.keys()):
        if key not in fb:
            print(f"only in A: {key} = {fa[key]!r}")
        elif key not in fa:
            print(f"only in B: {key} = {fb[key]!r}")
        elif fa[key] != fb[key]:
            print(f"differs: {key}: A={fa[key]!r} B={fb[key]!r}")
        else:
            continue
        differences += 1
    # Raw file bytes are informational: a writer-metadata change is not a behaviour change.
    ra, rb = a.get("meta", {}).get("raw_sha256", {}), b.get("meta", {}).get("raw_sha256", {})
    raw_diff = sorted(k for k in ra.keys() & rb.keys() if ra[k] != rb[k])
    if raw_diff:
        print(f"note: raw bytes differ (not compared) for {len(raw_diff)} files: {', '.join(raw_diff)}")
    print(
        f"{len(fa)} / {len(fb)} keys; {differences} differ or are missing: "
        f"{'IDENTICAL' if differences == 0 else 'DIFFERENT'}"
    )
    return 0 if differences == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="empty or new folder for the chain's outputs")
    parser.add_argument("--out", type=Path, help="digest JSON to write")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="two digest JSON files")
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not (args.work and args.out):
        parser.error("give --work and --out, or --compare A B")
    run_chain(args.work.resolve(), args.out.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
