"""Reading a JSON answer of a model into a pydantic schema: strictly first, then with a bounded repair.

Small models wrap their JSON in prose or code fences, stop in the middle of a string at the token limit,
leave trailing commas or add keys of their own. The repair is a fixed sequence of steps, never a loop:
take the first JSON object in the text (closing it if it was cut off), drop trailing commas, then keep
only the schema's keys. What still does not validate is an error, never a guess.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

Schema = TypeVar("Schema", bound=BaseModel)

TRAILING_COMMA = re.compile(r",\s*([}\]])")
CLOSERS = {"{": "}", "[": "]"}


@dataclass(frozen=True)
class Parsed(Generic[Schema]):
    value: Schema | None  # None: the text could not be read, even repaired
    repaired: bool  # the value needed the repair
    error: str  # why the strict reading (or, when value is None, the repair) failed; "" when it did not


def parse_answer(text: str, schema: type[Schema]) -> Parsed[Schema]:
    strict = _validate(text, schema)
    if not isinstance(strict, str):
        return Parsed(strict, repaired=False, error="")
    candidates = first_json_object(text)
    if not candidates:
        return Parsed(None, repaired=False, error=f"no JSON object in the answer ({strict})")
    error = ""
    for candidate in candidates:
        try:
            decoded = json.loads(TRAILING_COMMA.sub(r"\1", candidate))
        except json.JSONDecodeError as problem:
            error = f"not JSON even repaired: {problem}"
            continue
        if isinstance(decoded, dict):
            decoded = {key: value for key, value in decoded.items() if key in schema.model_fields}
        repaired = _validate_object(decoded, schema)
        if not isinstance(repaired, str):
            return Parsed(repaired, repaired=True, error=strict)
        error = repaired
    return Parsed(None, repaired=False, error=error)


def first_json_object(text: str) -> list[str]:
    """Readings of the first {...} in `text`, best first ([] when there is none).

    A complete object is read up to its matching brace (braces inside strings do not count). A cut-off
    one is closed as it stands (open string, then open brackets), and also cut back to its last complete
    member ("key": value) and closed there, for when it was cut inside a key or right after one.
    """
    start = text.find("{")
    if start < 0:
        return []
    stack, in_string, escaped = [], False, False
    last_member_end = None  # (position of a comma between two top-level members, brackets open there)
    for position in range(start, len(text)):
        char = text[position]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in CLOSERS:
            stack.append(CLOSERS[char])
        elif char in "}]":
            if not stack or stack.pop() != char:
                return []
            if not stack:
                return [text[start : position + 1]]
        elif char == "," and len(stack) == 1:
            last_member_end = position
    tail = text[start:]
    if escaped:
        tail = tail[:-1]  # a lone backslash at the cut would escape the closing quote
    readings = [tail + ('"' if in_string else "") + "".join(reversed(stack))]
    if last_member_end is not None:
        readings.append(text[start:last_member_end] + "}")
    return readings


def _validate(text: str, schema: type[Schema]) -> Schema | str:
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError as error:
        return f"not JSON: {error}"
    return _validate_object(decoded, schema)


def _validate_object(decoded: object, schema: type[Schema]) -> Schema | str:
    try:
        return schema.model_validate(decoded)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "answer"
        return f"{where}: {first['msg']}"
