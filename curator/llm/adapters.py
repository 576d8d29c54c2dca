"""LoRA adapters (peft): found by name among the shipped ones or by folder, several on one base model.

An adapter name is the name of its folder. The shipped adapters live in the repository's top-level
`adapters/`, installed as the package `curator.adapters`.
"""

from __future__ import annotations

import importlib.resources
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from curator.errors import ModelError

ADAPTER_CONFIG = "adapter_config.json"


def shipped_adapters() -> Path:
    return Path(str(importlib.resources.files("curator.adapters")))


def adapter_folder(spec: str, option: str = "--adapter") -> Path:
    """The folder of the adapter named `spec` (a shipped name, or a path); ModelError, naming the command
    line `option` it came from, when there is none."""
    shipped = shipped_adapters()
    path = Path(spec).expanduser()
    if not path.is_dir() and (shipped / spec / ADAPTER_CONFIG).is_file():
        path = shipped / spec
    if not (path / ADAPTER_CONFIG).is_file():
        available = sorted(p.name for p in shipped.iterdir() if (p / ADAPTER_CONFIG).is_file())
        raise ModelError(
            f"{option} {spec}: no adapter folder with {ADAPTER_CONFIG} there "
            f"(shipped adapters: {', '.join(available) or 'none'})"
        )
    return path


@contextmanager
def peft_quietly() -> Iterator[None]:
    """Run the block (peft wrapping a model in LoRA) without the FutureWarning peft triggers by reading
    transformers' deprecated `is_gradient_checkpointing`: it is for peft's authors, not for the user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def attach_adapters(model, specs: Sequence[str]):
    """`model` with the adapters `specs` loaded (the first one active), and {adapter name: folder}.

    Returns `model` itself when `specs` is empty.
    """
    from peft import PeftModel

    folders = {}
    for spec in specs:
        folder = adapter_folder(spec)
        if folder.name in folders:
            raise ModelError(f"--adapter: two adapters are called '{folder.name}'")
        folders[folder.name] = folder
    for name, folder in folders.items():
        try:
            with peft_quietly():
                if isinstance(model, PeftModel):
                    model.load_adapter(str(folder), adapter_name=name)
                else:
                    model = PeftModel.from_pretrained(model, str(folder), adapter_name=name)
        except (ValueError, KeyError, RuntimeError, OSError) as error:
            raise ModelError(f"--adapter {folder}: does not fit the model ({error})") from None
    if folders:
        model.set_adapter(next(iter(folders)))
        model.eval()
    return model, {name: str(folder) for name, folder in folders.items()}


@contextmanager
def active_adapter(model, name: str | None) -> Iterator[None]:
    """Run the block with adapter `name` active, or with no adapter when `name` is None."""
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        if name is not None:
            raise ModelError(f"adapter '{name}' is not loaded (no adapters are)")
        yield
        return
    if name is None:
        with model.disable_adapter():
            yield
        return
    if name not in model.peft_config:
        raise ModelError(f"adapter '{name}' is not loaded (loaded: {', '.join(model.peft_config)})")
    previous = model.active_adapter
    model.set_adapter(name)
    try:
        yield
    finally:
        model.set_adapter(previous)
