"""Prompt templates: text files in `prompts/` (shipped as `curator.prompts`), one per LLM role.

A template file has a header with a `version:` line, then three sections, each opened by a line of
its own: `[system]`, `[user]` and `[answer]` (the start of the model's answer, which it continues).
`{{name}}` in a section is filled with data, always as inert JSON (see `inert_json`), in one pass:
inserted text is never searched for placeholders again.

The version stored with every output is the file's `version:` plus a short hash of the whole file, so
an edit that forgot to bump the version still shows.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import re
from dataclasses import dataclass
from typing import Any

SECTIONS = ("system", "user", "answer")
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
SECTION_LINE = re.compile(r"^\[(\w+)\]$", re.MULTILINE)
VERSION_LINE = re.compile(r"^version:\s*(\S+)\s*$", re.MULTILINE)

# JSON leaves these as they are inside strings; escaped as \uXXXX they can no longer close a <tag>
# delimiter around the data or end a line of the prompt.
_NOT_LITERAL = {"<": "\\u003c", ">": "\\u003e", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def inert_json(value: Any) -> str:
    """`value` as JSON that cannot break out of the block it is placed in.

    Quotes, backslashes and newlines are escaped by JSON itself; '<' and '>' are escaped too, so that
    untrusted text cannot contain the block's closing tag. The text stays readable and decodes to
    exactly `value`.
    """
    text = json.dumps(value, ensure_ascii=False)
    return re.sub("[<>\u2028\u2029]", lambda match: _NOT_LITERAL[match.group()], text)


@dataclass(frozen=True)
class PromptTemplate:
    role: str
    version: str  # e.g. "item_profile/1+3f2a9c1e"
    system: str
    user: str
    answer: str  # the beginning of the model's answer

    @property
    def own_text(self) -> str:
        """The system and user messages without their placeholders: the template's words, never data's."""
        return PLACEHOLDER.sub(" ", f"{self.system}\n{self.user}")

    def render(self, **data: Any) -> tuple[str, str]:
        """(system, user) messages with every {{name}} replaced by inert_json(data[name])."""
        wanted = set(PLACEHOLDER.findall(self.system + self.user))
        if wanted != set(data):
            raise ValueError(f"template {self.role} takes {sorted(wanted)}, got {sorted(data)}")
        encoded = {name: inert_json(value) for name, value in data.items()}
        fill = lambda text: PLACEHOLDER.sub(lambda match: encoded[match.group(1)], text)  # noqa: E731
        return fill(self.system), fill(self.user)


def parse_template(role: str, text: str) -> PromptTemplate:
    version = VERSION_LINE.search(text.split("\n[", 1)[0])
    if version is None:
        raise ValueError(f"prompt template {role}: no 'version:' line before the first section")
    pieces = SECTION_LINE.split(text)  # [header, name, body, name, body, ...]
    sections = dict(zip(pieces[1::2], pieces[2::2]))
    if tuple(sections) != SECTIONS:
        raise ValueError(f"prompt template {role}: sections must be {', '.join(SECTIONS)} in this order")
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    # One newline separates a section line from its text; the answer keeps its trailing spaces.
    body = {name: sections[name].strip("\n") for name in SECTIONS}
    return PromptTemplate(role=role, version=f"{role}/{version.group(1)}+{digest}", **body)


def load_template(role: str) -> PromptTemplate:
    """The template `prompts/<role>.txt`."""
    resource = importlib.resources.files("curator.prompts") / f"{role}.txt"
    return parse_template(role, resource.read_text(encoding="utf-8"))
