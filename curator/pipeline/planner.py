"""The plan: which stages run on this data, with what, and why, decided from the data before anything heavy runs.

The order is fixed by what each stage reads: the data (imported, or an existing dataset folder) -> [inject] ->
[profile] -> [adapt] -> defend -> denoise -> train on the input and on the curated data with the same seeds ->
report. Fake users are screened before interactions are denoised: their sequences distort the co-occurrence
evidence the denoiser reads. The plan records a reason, as a sentence, for every decision; what the stages
then find (estimated shares of noise and fakes, gates that pass nothing) is added as findings while it runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from curator.pipeline.facts import AdapterFit, DataFacts
from curator.pipeline.spec import PipelineError, PipelineSpec

ADAPT_WHEN = ("auto", "always", "never")
PLAN_FILE = "plan.json"


@dataclass
class Step:
    name: str  # the step's name in the run (train-input and train-curated are both the `train` stage)
    stage: str  # the registered stage it runs (curator.stages.STAGES), or "report"
    runs: bool
    reasons: list[str]
    reads: list[str] = field(default_factory=list)  # the steps whose outputs it reads
    settings: dict[str, Any] = field(default_factory=dict)  # what it runs with (adapter, thresholds, ...)
    out: str | None = None  # its output folder, relative to the run folder, once known
    status: str = "waiting"  # waiting | running | done | reused (recorded by an earlier run) | skipped | given
    summary: dict[str, Any] | None = None
    findings: list[str] = field(default_factory=list)
    seconds: float | None = None


@dataclass
class Plan:
    pipeline: dict[str, Any]
    data: dict[str, Any]
    adapter: dict[str, Any] | None
    steps: list[Step]

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "data": self.data,
            "adapter": self.adapter,
            "steps": [asdict(step) for step in self.steps],
        }


def make_plan(spec: PipelineSpec, facts: DataFacts, fit: AdapterFit | None, imported: bool) -> Plan:
    """Decide the steps for `spec` on data described by `facts` (`fit`: the shipped adapter's fit, when the
    denoise stage is on; `imported`: whether the data is read from a source first)."""
    if spec.adapt.when not in ADAPT_WHEN:
        raise PipelineError(f"adapt.when: '{spec.adapt.when}' is not one of {', '.join(ADAPT_WHEN)}")
    steps = [_source(spec, facts, imported), _inject(spec, facts)]
    data = "inject" if spec.inject.enabled else "data"
    labelled = spec.inject.enabled or (facts.noise_labels or facts.fake_user_labels)
    steps.append(_profile(spec, facts, data))
    adapt = _adapt(spec, facts, fit, data)
    steps.append(adapt)
    defend = _defend(spec, facts, data)
    steps.append(defend)
    denoised_from = "defend" if defend.runs else data
    steps.append(_denoise(spec, adapt, denoised_from))
    curated = "denoise" if spec.denoise.enabled else denoised_from
    if curated == data:
        raise PipelineError("nothing curates the data: enable defend and/or denoise in the pipeline")
    seeds = ", ".join(map(str, spec.train.seeds))
    for variant, reads in (("input", data), ("curated", curated)):
        steps.append(
            Step(
                f"train-{variant}",
                "train",
                True,
                [
                    f"{spec.train.model} on the {variant} data with seeds {seeds}: the same seeds on both sides, so "
                    "that the difference is the curation's, not the initialisation's"
                ],
                [reads],
                {"model": spec.train.model, "seeds": list(spec.train.seeds), "epochs": spec.train.epochs},
            )
        )
        steps.append(
            Step(
                f"ranks-{variant}",
                "ranks",
                True,
                [
                    f"each user's test rank under the {variant} models, for the per-group comparison (edited users "
                    "vs the rest)"
                ],
                [f"train-{variant}", reads],
            )
        )
    report_reason = "plan, data card before/after, ledger, score histograms, training curves and test metrics"
    if labelled:
        report_reason += "; detection metrics and reliability diagrams from the labels"
    else:
        report_reason += "; the data has no labels, so no detection metrics are shown"
    steps.append(Step("report", "report", True, [report_reason], [step.name for step in steps if step.runs]))
    return Plan(_spec_dict(spec), facts.to_dict(), None if fit is None else asdict(fit), steps)


def _spec_dict(spec: PipelineSpec) -> dict[str, Any]:
    values = asdict(spec)
    values["base"] = None if spec.base is None else str(spec.base)
    return values


def _source(spec: PipelineSpec, facts: DataFacts, imported: bool) -> Step:
    size = f"{facts.users:,} users, {facts.items:,} items, {facts.interactions:,} interactions"
    if imported:
        reason = f"{spec.data} is a source, not a dataset folder: imported first ({size})"
    else:
        reason = f"{spec.data} is already a dataset folder ({size}): read as it is"
    return Step("data", "import", imported, [reason], settings={"source": spec.data, "format": spec.format})


def _inject(spec: PipelineSpec, facts: DataFacts) -> Step:
    s = spec.inject
    if not s.enabled:
        if facts.noise_labels or facts.fake_user_labels:
            reason = "not asked; the data carries its own labels, so detection metrics are reported from them"
        else:
            reason = "not asked (inject.enabled: false): no known truth, so the report shows no detection metrics"
        return Step("inject", "inject", False, [reason], ["data"])
    parts = []
    if s.noise:
        parts.append(f"{s.noise:.0%} of training interactions replaced ({s.noise_dist} draws)")
    if s.attack:
        targets = f"{s.targets} target item{'' if s.targets == 1 else 's'}"
        parts.append(f"{s.fake_users:.0%} fake users ({s.attack} attack on {targets})")
    reason = (
        f"an experiment with known truth: {' and '.join(parts)}; the labels are kept apart (labels/), read only by "
        "the report to measure detection"
    )
    return Step("inject", "inject", True, [reason], ["data"], {"noise": s.noise, "attack": s.attack})


def _profile(spec: PipelineSpec, facts: DataFacts, data: str) -> Step:
    if not facts.has_text:
        reason = (
            f"skipped: only {facts.titled_items:.0%} of the items have a title, and profiles are written from item "
            "text; the LLM-free parts run instead"
        )
        return Step("profile", "profile", False, [reason], [data])
    if not spec.profile.enabled:
        reason = (
            "not asked (profile.enabled: false): the denoiser and the fake-user detector read item titles directly; "
            "generating profiles on a CPU takes far longer than the rest of the pipeline"
        )
        return Step("profile", "profile", False, [reason], [data])
    reason = f"item/user profiles ({spec.profile.stage}) written by the LLM, kept in profiles/ for later stages"
    return Step("profile", "profile", True, [reason], [data], {"stage": spec.profile.stage})


def _adapt(spec: PipelineSpec, facts: DataFacts, fit: AdapterFit | None, data: str) -> Step:
    use_text = facts.has_text
    settings = {"max_steps": spec.adapt.max_steps, "time_budget": spec.adapt.time_budget, "use_text": use_text}
    if not spec.denoise.enabled:
        return Step("adapt", "adapt", False, ["the denoise stage is off, so no denoiser is needed"], [data])
    reasons = [fit.reason] if fit else []
    text_misfit = fit is not None and fit.uses_text and not facts.has_text
    if text_misfit:
        reasons.append(
            f"the shipped adapter reads item titles, and only {facts.titled_items:.0%} of the items have one: "
            "a collaborative-only denoiser is adapted instead (no LLM part)"
        )
    if spec.adapt.when == "always":
        reasons.append("asked for (adapt.when: always): a denoiser is trained on this data's own training sequences")
        return Step("adapt", "adapt", True, reasons, [data], settings)
    if spec.adapt.when == "never":
        if fit is not None and not fit.fits:
            reasons.append("adapt.when: never, so the foreign adapter is used anyway: treat its p(noise) with care")
        return Step("adapt", "adapt", False, reasons, [data])
    if fit is not None and fit.fits and not text_misfit:
        reasons.append("no adapting needed")
        return Step("adapt", "adapt", False, reasons, [data])
    reasons.append(
        "so a denoiser is adapted on this data's own training sequences first (self-made corruptions; no labels "
        f"read), within {spec.adapt.max_steps} steps"
        + (f" or {spec.adapt.time_budget:g} s" if spec.adapt.time_budget else "")
    )
    return Step("adapt", "adapt", True, reasons, [data], settings)


def _defend(spec: PipelineSpec, facts: DataFacts, data: str) -> Step:
    s = spec.defend
    if not s.enabled:
        reason = "not asked (defend.enabled: false): fake users are not screened"
        return Step("defend", "defend", False, [reason], [data])
    use_text = s.text and facts.has_text
    reasons = [
        "fake users are screened before interactions are denoised: their sequences distort the co-occurrence "
        "evidence the denoiser reads",
        f"{_acted_on(s)} are {'dropped' if s.action == 'drop' else 'down-weighted'}; p(fake) comes from a "
        f"calibrator fitted on attacks simulated on this data (budgets {', '.join(f'{b:g}' for b in s.budgets)})",
    ]
    if not use_text:
        why = "asked for (defend.text: false)" if not s.text else f"only {facts.titled_items:.0%} of items have a title"
        reasons.append(f"collaborative signals only, no item-text signals: {why}")
    decision = {"user_threshold": s.user_threshold} if s.user_threshold is not None else {"fdr": s.fdr}
    settings = {**decision, "action": s.action, "use_text": use_text}
    return Step("defend", "defend", True, reasons, [data], settings)


def _acted_on(s) -> str:
    if s.user_threshold is not None:
        return f"users with p(fake) >= {s.user_threshold:g}"
    return (
        f"the users Benjamini-Hochberg picks at a {s.fdr:.0%} false-discovery rate (at most ~{s.fdr:.0%} of them "
        "real, whatever kind the fakes are, against a null fitted on the bulk of the users' suspicion scores)"
    )


def _denoise(spec: PipelineSpec, adapt: Step, reads: str) -> Step:
    s = spec.denoise
    if not s.enabled:
        return Step("denoise", "denoise", False, ["not asked (denoise.enabled: false)"], [reads])
    adapter = "the adapter made by the adapt step" if adapt.runs else s.adapter
    reasons = [
        f"interactions with calibrated p(noise) >= {s.threshold:g} are edited (replaced when the best candidate's "
        f"confidence is >= {s.replace_threshold:g}, else removed), scored by {adapter}"
    ]
    settings = {"threshold": s.threshold, "adapter": "adapt" if adapt.runs else s.adapter}
    return Step("denoise", "denoise", True, reasons, [reads, *(["adapt"] if adapt.runs else [])], settings)
