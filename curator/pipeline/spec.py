"""A pipeline file's schema (typed dataclasses, one per stage section) and how a YAML file becomes one.

Everything is checked before anything runs: an unknown key (with the close name when it looks like a typo),
a value of the wrong type, a missing dataset. Each mistake is one PipelineError naming the key and where it is
in the file (line:col, from PyYAML's node marks) or the `--set` override that gave it.

The sections hold what a stage is run with; how they become each stage's own config is curator.pipeline.configs.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from curator.errors import OptionError


class PipelineError(OptionError):
    """A pipeline file or override that cannot run: one line naming the key and its position."""


@dataclass(frozen=True)
class InjectSection:
    """Simulated noise and an attack, with the ground truth kept apart (for experiments with known truth)."""

    enabled: bool = False
    noise: float | None = 0.1
    noise_dist: str = "uniform"
    attack: str | None = "bandwagon"
    fake_users: float = 0.01
    targets: int = 1


@dataclass(frozen=True)
class ProfileSection:
    """LLM-written item/user profiles (slow on a CPU: generation, not scoring)."""

    enabled: bool = False
    stage: str = "items"
    limit: int | None = None
    batch_size: int = 16


@dataclass(frozen=True)
class AdaptSection:
    """Training a denoise adapter on the data's own sequences; `when: auto` does it when the shipped one does not
    fit the data."""

    when: str = "auto"  # auto | always | never
    max_steps: int = 480
    warmup_steps: int = 400
    time_budget: float | None = 240.0


@dataclass(frozen=True)
class DefendSection:
    enabled: bool = True
    fdr: float = 0.05  # act on the users Benjamini-Hochberg picks at this false-discovery rate
    user_threshold: float | None = None  # given: act on p(fake) >= it instead (the gate; fdr is then unused)
    action: str = "drop"
    budgets: tuple[float, ...] = (0.01, 0.05)
    targets: int = 5
    text: bool = True


@dataclass(frozen=True)
class DenoiseSection:
    enabled: bool = True
    threshold: float = 0.5
    replace_threshold: float = 0.5
    max_edits: int | None = None
    adapter: str = "denoise-ml100k"
    noise_share: str = "auto"


@dataclass(frozen=True)
class TrainSection:
    model: str = "sasrec"
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 30
    patience: int = 5
    max_len: int = 50
    batch_size: int = 128
    align: str = "none"  # none | text | profiles (`curator train --align`)
    align_kind: str = "con"
    align_weight: float = 0.1


@dataclass(frozen=True)
class RaySection:
    """Ray's options, with `engine: ray` (as `--ray-address`, `--ray-cpus`, `--ray-workers`, `--ray-threads`)."""

    address: str | None = None
    cpus: int | None = None
    workers: int | None = None
    threads: int = 1


@dataclass(frozen=True)
class PipelineSpec:
    """A whole pipeline: the data, the seed every random choice follows, and one section per stage."""

    data: str = "movielens-100k"  # a dataset folder, or a source `curator data import` reads
    format: str | None = None  # the source's format, when it is not a dataset folder or a bundled name
    seed: int = 0
    device: str = "auto"
    engine: str = "local"  # where profile, defend and denoise compute their chunks: local | ray (same output)
    ray: RaySection = field(default_factory=RaySection)
    inject: InjectSection = field(default_factory=InjectSection)
    profile: ProfileSection = field(default_factory=ProfileSection)
    adapt: AdaptSection = field(default_factory=AdaptSection)
    defend: DefendSection = field(default_factory=DefendSection)
    denoise: DenoiseSection = field(default_factory=DenoiseSection)
    train: TrainSection = field(default_factory=TrainSection)
    base: Path | None = field(default=None, compare=False)  # the folder relative `data` paths are read from


def load_spec(file: Path, overrides: list[str] = ()) -> PipelineSpec:
    """The pipeline in `file`, with `overrides` ("section.key=value") applied, checked."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineError(f"{file}: cannot read the pipeline file ({error})") from None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise PipelineError(f"{file}{where}: not valid YAML ({getattr(error, 'problem', error)})") from None
    positions: dict[str, str] = {}
    values = {} if node is None else _mapping(node, PipelineSpec, str(file), "", positions)
    spec = with_overrides(PipelineSpec(**values, base=file.resolve().parent), overrides)
    check_data(spec, positions.get("data", str(file)))
    return spec


def check_data(spec: PipelineSpec, where: str) -> None:
    """Refuse a `data` that is neither a bundled dataset's name nor an existing file or folder."""
    from curator.data.importers import SHORTCUTS

    if spec.data not in SHORTCUTS and not data_path(spec).exists():
        raise PipelineError(f"{where}: 'data' {spec.data}: no such dataset folder or file (nor a bundled dataset)")


def data_path(spec: PipelineSpec) -> Path:
    """Where `data` is, relative paths read from the pipeline file's folder."""
    path = Path(spec.data).expanduser()
    return path if path.is_absolute() or spec.base is None else spec.base / path


def default_spec(data: str, overrides: list[str] = ()) -> PipelineSpec:
    """The default pipeline (curator.pipeline.pipelines/default.yaml) on `data`."""
    from importlib.resources import files

    default = Path(str(files("curator.pipeline") / "pipelines" / "default.yaml"))
    spec = with_overrides(replace(load_spec(default, ()), data=data, base=Path.cwd()), overrides)
    check_data(spec, "DATA")
    return spec


def with_overrides(spec: PipelineSpec, overrides: list[str]) -> PipelineSpec:
    """`spec` with each "section.key=value" (or "key=value" for a top-level key) set; the value is read as YAML."""
    for override in overrides:
        key, equals, text = override.partition("=")
        if not equals or not key:
            raise PipelineError(f"--set {override}: expected section.key=value, e.g. denoise.threshold=0.7")
        node = yaml.compose(text) or yaml.ScalarNode("tag:yaml.org,2002:null", "null")
        spec = _set(spec, key.split("."), node, f"--set {key}", key)
    return spec


def _set(obj: Any, path: list[str], node: yaml.Node, where: str, label: str) -> Any:
    names = {f.name: f for f in fields(obj) if f.name != "base"}
    if path[0] not in names:
        raise PipelineError(f"{where}: unknown key '{path[0]}'{_suggestion(path[0], names)}")
    hint = typing.get_type_hints(type(obj))[path[0]]
    if len(path) == 1:
        value = _value(node, hint, label, where)
    elif is_dataclass(hint):
        value = _set(getattr(obj, path[0]), path[1:], node, where, label)
    else:
        raise PipelineError(f"{where}: '{path[0]}' is a value, not a section")
    return replace(obj, **{path[0]: value})


def _position(source: str, node: yaml.Node) -> str:
    return f"{source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _suggestion(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"


def _mapping(node: yaml.Node, cls: type, source: str, prefix: str, positions: dict[str, str]) -> dict[str, Any]:
    """The keyword arguments of `cls` that the YAML mapping `node` gives, each checked against its type; each
    key's position goes into `positions`."""
    if not isinstance(node, yaml.MappingNode):
        raise PipelineError(
            f"{_position(source, node)}: '{prefix.rstrip('.') or 'the file'}' must be a mapping of keys"
        )
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls) if f.name != "base"]
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        label = f"{prefix}{key}"
        if key not in names:
            raise PipelineError(f"{_position(source, key_node)}: unknown key '{label}'{_suggestion(key, names)}")
        if key in values:
            raise PipelineError(f"{_position(source, key_node)}: '{label}' is given twice")
        hint = hints[key]
        positions[label] = _position(source, key_node)
        if is_dataclass(hint):
            values[key] = hint(**_mapping(value_node, hint, source, f"{label}.", positions))
        else:
            values[key] = _value(value_node, hint, label, _position(source, value_node))
    return values


def _value(node: yaml.Node, hint: Any, label: str, where: str) -> Any:
    """The value of `node` as type `hint` (a scalar type, an optional one, or a tuple of one)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if type(None) in options and _is_null(node):
        return None
    for option in (o for o in options if o is not type(None)):
        if typing.get_origin(option) is tuple:
            item_type = typing.get_args(option)[0]
            items = node.value if isinstance(node, yaml.SequenceNode) else None
            if items is not None:
                return tuple(_value(item, item_type, label, where) for item in items)
            continue
        value = _scalar(node, option)
        if value is not None:
            return value
    wanted = " or ".join(_type_name(o) for o in options)
    shown = node.value if isinstance(node, yaml.ScalarNode) else f"a {node.id}"
    raise PipelineError(f"{where}: '{label}' must be {wanted}, got '{shown}'")


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _scalar(node: yaml.Node, wanted: type) -> Any:
    """`node`'s value when it is a `wanted` (an int is a float too; a path is a str), else None."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    value = yaml.safe_load(yaml.serialize(node))
    if wanted is bool:
        return value if isinstance(value, bool) else None
    if wanted is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if wanted is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if wanted in (str, Path):
        return wanted(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    return None


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return f"a list of {({int: 'integers', float: 'numbers'}).get(item, 'texts')}"
    return {bool: "true/false", int: "an integer", float: "a number", str: "text", type(None): "null"}.get(
        hint, str(hint)
    )
