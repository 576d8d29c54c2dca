"""The stages: one thin file per command, each a `curator.run.stage.Stage` (a typed config, declared inputs
and output, a fingerprint, and `produce`) run by `curator.run.stage.run_stage`.

STAGES names each stage's class by its module path, so that looking one up imports only that stage.
"""

from __future__ import annotations

import importlib

STAGES = {
    "import": "curator.stages.data_import:ImportStage",
    "inject": "curator.stages.inject:InjectStage",
    "profile": "curator.stages.profile:ProfileStage",
    "profile-merge": "curator.stages.profile_merge:ProfileMergeStage",
    "adapt": "curator.stages.adapt:AdaptStage",
    "denoise": "curator.stages.denoise:DenoiseStage",
    "defend": "curator.stages.defend:DefendStage",
    "evaluate": "curator.stages.evaluate:EvaluateStage",
    "train": "curator.stages.train:TrainStage",
    "revert": "curator.stages.ledger:RevertStage",
    "apply": "curator.stages.ledger:ApplyStage",
}


def stage_class(name: str) -> type:
    module, _, attribute = STAGES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
