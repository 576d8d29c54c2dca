"""Options with a fixed set of values: an Enum per option, built from the library's own constants, so that
`--help` lists the choices and click refuses any other value before a command runs."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


def choices(name: str, values: Iterable[str]) -> type[Enum]:
    """A str Enum whose members are `values` (each member's name is its value)."""
    return Enum(name, {value: value for value in values}, type=str)
