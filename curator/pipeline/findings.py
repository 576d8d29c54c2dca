"""What a finished step found, as sentences for the plan: the estimated share of fakes or noise (reported before
it is read as an edit count), and, for a gate that passes nothing, what lower thresholds would pass.

Read from the step's own output (its summary in stage.json and its score tables), never from labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curator.pipeline.spec import PipelineSpec
from curator.report.document import counted

LOWER_THRESHOLDS = (0.7, 0.5, 0.3, 0.1)
USER_SCORES = "user_scores.parquet"  # curator.fraud.defense.USER_SCORES_FILE
SCORES = "scores.parquet"  # curator.denoise.cleaning.SCORES_FILE
DONE = {"remove": "removed", "replace": "replaced"}  # a ledger action, as what was done


def step_findings(step, out: Path, spec: PipelineSpec) -> list[str]:
    summary = step.summary or {}
    if step.stage == "defend":
        return _defend(summary, out, spec.defend.user_threshold)
    if step.stage == "denoise":
        return _denoise(summary, out, spec.denoise.threshold)
    if step.stage == "train":
        ndcg = summary["test"]["NDCG@10"]
        seeds = len(summary["seeds"])
        return [f"test NDCG@10 {ndcg['mean']:.4f} ± {ndcg['std']:.4f} over {counted(seeds, 'seed')} (sample std)"]
    return []


def _defend(summary: dict, out: Path, threshold: float | None) -> list[str]:
    """`threshold`: the gate's p(fake) threshold, None under the false-discovery-rate decision."""
    users, prior = summary["users"], summary["estimated_prior"]
    findings = [f"estimated share of fake users: {prior:.2%} (about {prior * users:.0f} of {users:,} users)"]
    if threshold is None:  # the FDR decision says itself what it promises, acted on or not
        return [*findings, summary["promise"]["text"]]
    if summary["flagged"]:
        findings.append(f"{counted(summary['flagged'], 'user')} at p(fake) >= {threshold:g} acted on")
        return findings
    p = pq.read_table(out / USER_SCORES, columns=["p_fake"])["p_fake"].to_numpy()
    findings.append(f"the gate at {threshold:g} passes no user: {_lower(p, threshold, 'user')}")
    return findings


def _denoise(summary: dict, out: Path, threshold: float) -> list[str]:
    share = summary["share_of_noise"]
    how = "estimated from the scores" if share["estimated"] else "given"
    findings = [f"share of noise {share['used']:.1%} ({how}; the adapter is calibrated at {share['fitted']:.1%})"]
    edits = {action: count for action, count in summary["edits"].items() if count}
    if edits:
        counts = ", ".join(f"{count:,} {DONE.get(action, action)}" for action, count in edits.items())
        findings.append(f"edits at p(noise) >= {threshold:g}: {counts}")
        return findings
    p = pq.read_table(out / SCORES, columns=["score"])["score"].to_numpy()
    findings.append(f"the gate at {threshold:g} passes no interaction: {_lower(p, threshold, 'interaction')}")
    return findings


def _lower(p: np.ndarray, threshold: float, what: str) -> str:
    """What the lower thresholds would pass, e.g. "at 0.3 it would pass 12 users, at 0.1 40"."""
    counts = [(t, int((p >= t).sum())) for t in LOWER_THRESHOLDS if t < threshold]
    if not counts:
        return "no lower threshold to try"
    parts = [f"at {t:g} it would pass {counted(n, what)}" for t, n in counts]
    return ", ".join(parts) + f" (highest p: {p.max():.3f})" if len(p) else "no scores"
