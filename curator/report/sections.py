"""The report's sections, each built only from what a run wrote: `plan.json` and the steps' output folders
(dataset tables, ledgers, score tables, labels, training metrics, per-user test ranks). No number is typed in.

A section whose inputs a run does not have (no labels, no denoise step) is left out, with a sentence saying why
in the plan section.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator.evaluation.detection import detection_report
from curator.report import plots
from curator.report.document import Section, counted
from curator.report.state import FINISHED, resumable_work, run_is_live, step_state

TOP_K = 10  # the cut-off of the per-group metrics
METRICS = ("HR@10", "NDCG@10", "MRR@10", "HR@20", "NDCG@20")
NOISE_LABELS = "labels/noise.parquet"  # curator.inject.config.NOISE_LABELS
FAKE_LABELS = "labels/fake_users.parquet"  # curator.inject.config.FAKE_USERS_LABELS


class RunOutputs:
    """The run folder's plan, each step's real state (curator.report.state) and the outputs of its steps."""

    def __init__(self, run: Path, plan: dict[str, Any]):
        self.run, self.plan = Path(run), plan
        self.steps = {step["name"]: step for step in self.plan["steps"]}
        self.live = run_is_live(self.run)
        self.states = {name: step_state(self.run, step, self.live) for name, step in self.steps.items()}

    def folder(self, step: str) -> Path | None:
        """The output folder of `step`, when it is finished (None otherwise, or for a step not in the plan)."""
        entry = self.steps.get(step)
        if not entry or not entry.get("out") or self.states[step] not in FINISHED:
            return None
        return self.run / entry["out"]

    def input_folder(self) -> Path | None:
        return self._read_by("train-input")

    def curated_folder(self) -> Path | None:
        return self._read_by("train-curated")

    def _read_by(self, step: str) -> Path | None:
        """The dataset folder `step` read (an absolute `out`, for data given as a folder, stays as it is)."""
        return self.folder(self.steps[step]["reads"][0])

    def labels_folder(self) -> Path | None:
        """The folder holding the ground truth: the inject step's output, or the data's own labels."""
        for folder in (self.folder("inject"), self._read_by("train-input")):
            if folder is not None and ((folder / NOISE_LABELS).is_file() or (folder / FAKE_LABELS).is_file()):
                return folder
        return None

    def titles(self) -> dict[str, str]:
        items = pq.read_table(self.input_folder() / "items.parquet", columns=["item_id", "title"]).to_pydict()
        return {i: t or "" for i, t in zip(items["item_id"], items["title"])}


def _table(folder: Path, name: str, columns: list[str] | None = None) -> dict[str, np.ndarray]:
    table = pq.read_table(folder / name, columns=columns)
    return {column: table[column].to_numpy(zero_copy_only=False) for column in table.column_names}


def _lengths(folder: Path) -> np.ndarray:
    users = _table(folder, "interactions.parquet", ["user_id"])["user_id"]
    return np.array(list(Counter(users).values()))


def _popularity(folder: Path) -> np.ndarray:
    items = _table(folder, "interactions.parquet", ["item_id"])["item_id"]
    return np.array(list(Counter(items).values()))


STD = "sample std (ddof=1)"  # the one definition of the ± over seeds, as `curator train` computes it


def _mean_std(values) -> str:
    """ "mean ± std" over seeds, the std being STD (0 for one seed)."""
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"


def summary_section(outputs: RunOutputs, ledger: dict[str, np.ndarray] | None) -> Section:
    """The headline: the training effect, what was edited, and how the edits match the labels."""
    section = Section("summary", "Summary")
    runs = {name: outputs.folder(f"train-{name}") for name in ("input", "curated")}
    if None not in runs.values():
        seeds = {
            name: {r["seed"]: r["test"]["NDCG@10"] for r in json.loads((f / "metrics.json").read_text())["seeds"]}
            for name, f in runs.items()
        }
        common = sorted(set(seeds["input"]) & set(seeds["curated"]))
        before, after = [seeds["input"][s] for s in common], [seeds["curated"][s] for s in common]
        section.text(
            f"Test NDCG@10: input {_mean_std(before)} → curated {_mean_std(after)}; difference "
            f"{_mean_std(np.subtract(after, before))} (paired over seeds {', '.join(map(str, common))}; {STD})."
        )
    else:
        section.text(f"Training: not finished yet ({_waiting_on(outputs, 'train-input', 'train-curated')}).")
    detected = _detection_summary(outputs, ledger)
    if detected:
        section.text("Detection against the labels: " + "; ".join(detected) + ".")
    if ledger is not None:
        counts = Counter(ledger["action"])
        users = {a: len(set(ledger["user_id"][ledger["action"] == a])) for a in ("drop-user", "reweight")}
        section.text(
            f"Edits: {counts.get('remove', 0):,} interactions removed, {counts.get('replace', 0):,} replaced; "
            f"{counted(users['drop-user'], 'user')} dropped, {users['reweight']:,} down-weighted."
        )
    findings = [f for name in ("defend", "denoise") if name in outputs.steps for f in outputs.steps[name]["findings"]]
    if findings:
        section.text("Found: " + "; ".join(findings) + ".")
    return section


def _waiting_on(outputs: RunOutputs, *steps: str) -> str:
    return ", ".join(f"{step}: {outputs.states[step]}" for step in steps if step in outputs.states)


def _detection_summary(outputs: RunOutputs, ledger: dict[str, np.ndarray] | None) -> list[str]:
    """The detectors' quality in a sentence each, beside the training effect: AUROC of the scores and what the
    edits the run made caught of the known noise and fakes."""
    said = []
    noise = _noise_truth(outputs)
    if noise is not None:
        truth, p, noisy = noise
        auroc = detection_report(truth, p)["auroc"]
        edited = set() if ledger is None else _edited_positions(ledger)
        caught = len(edited & noisy)
        precision = f"{caught / len(edited):.2f}" if edited else "—"
        said.append(
            f"noisy interactions: AUROC of p(noise) {auroc:.3f}; the {counted(len(edited), 'edit')} caught {caught:,} "
            f"of the {counted(len(noisy), 'noisy interaction')} (precision {precision}, recall "
            f"{caught / max(len(noisy), 1):.2f})"
        )
    fake = _fake_truth(outputs)
    if fake is not None:
        truth, p, fakes = fake
        auroc = detection_report(truth, p)["auroc"]
        acted = set() if ledger is None else _acted_on_users(ledger)
        said.append(
            f"fake users: AUROC of p(fake) {'—' if auroc is None else f'{auroc:.3f}'}; the defense acted on "
            f"{counted(len(acted), 'user')}, {len(acted & fakes):,} of them fake, of the {counted(len(fakes), 'fake')}"
        )
    return said


def _acted_on_users(ledger: dict[str, np.ndarray]) -> set[str]:
    return set(ledger["user_id"][np.isin(ledger["action"], ["drop-user", "reweight"])])


def _edited_positions(ledger: dict[str, np.ndarray]) -> set[tuple[str, int]]:
    edits = np.isin(ledger["action"], ["remove", "replace"])
    return set(zip(ledger["user_id"][edits], ledger["position"][edits].astype(int)))


def _noise_truth(outputs: RunOutputs) -> tuple[np.ndarray, np.ndarray, set[tuple[str, int]]] | None:
    """(is noise, p(noise)) of every scored interaction and the noisy (user, position) pairs, where the denoise
    step finished and the data has noise labels."""
    labels, denoise = outputs.labels_folder(), outputs.folder("denoise")
    if labels is None or denoise is None or not (labels / NOISE_LABELS).is_file():
        return None
    scores = _table(denoise, "scores.parquet", ["user_id", "position", "score"])
    noise = _table(labels, NOISE_LABELS, ["user_id", "position"])
    noisy = set(zip(noise["user_id"], noise["position"].astype(int)))
    truth = np.array([(u, int(p)) in noisy for u, p in zip(scores["user_id"], scores["position"])])
    return truth, scores["score"].astype(float), noisy


def _fake_truth(outputs: RunOutputs) -> tuple[np.ndarray, np.ndarray, set[str]] | None:
    """(is fake, p(fake)) of every user and the fake users, where the defend step finished and the data has
    fake-user labels."""
    labels, defend = outputs.labels_folder(), outputs.folder("defend")
    if labels is None or defend is None or not (labels / FAKE_LABELS).is_file():
        return None
    users = _table(defend, "user_scores.parquet", ["user_id", "p_fake"])
    fakes = set(_table(labels, FAKE_LABELS, ["user_id"])["user_id"])
    return np.isin(users["user_id"], list(fakes)), users["p_fake"].astype(float), fakes


def plan_section(outputs: RunOutputs) -> Section:
    section = Section("plan", "Plan and reasons")
    data = outputs.plan["data"]
    section.text(
        f"Data: {data['name']} — {data['users']:,} users, {data['items']:,} items, {data['interactions']:,} "
        f"interactions; {data['titled_items']:.0%} of items have a title; labels: "
        + ("noise" if data["noise_labels"] else "")
        + (" and " if data["noise_labels"] and data["fake_user_labels"] else "")
        + ("fake users" if data["fake_user_labels"] else "")
        + ("" if data["noise_labels"] or data["fake_user_labels"] else "none in the data itself")
        + (
            "; simulated noise and attacks with known truth come from the inject step"
            if outputs.folder("inject")
            else ""
        )
        + "."
    )
    section.text(_progress(outputs))
    rows = []
    for step in outputs.plan["steps"]:
        why = " ".join(_sentence(s) for s in step["reasons"] + step["findings"])
        state, seconds = outputs.states[step["name"]], "" if step["seconds"] is None else f"{step['seconds']:.1f} s"
        if step["stage"] == "report" and state == "running":
            state, seconds = "done", ""  # this very report, being written
        elif state == "interrupted" and resumable_work(outputs.run, step):
            state = "interrupted (resumable)"
        rows.append([step["name"], "yes" if step["runs"] else "no", state, seconds, why])
    section.table(["step", "runs", "status", "time", "why (and what it found)"], rows)
    return section


def _progress(outputs: RunOutputs) -> str:
    """Where the run stands: finished, still running, or stopped before its end (as the disk says)."""
    steps = [name for name, step in outputs.steps.items() if step["runs"] and step["stage"] != "report"]
    finished = sum(outputs.states[name] in FINISHED for name in steps)
    if finished == len(steps):
        return f"All {len(steps)} steps that run are finished."
    running = [name for name in steps if outputs.states[name] == "running"]
    if outputs.live:
        now = f" (now: {', '.join(running)})" if running else ""
        return (
            f"The run is in progress: {finished} of {len(steps)} steps finished{now}; this report shows what is "
            "there so far."
        )
    return (
        f"The run stopped before its end: {finished} of {len(steps)} steps finished; the same `curator run` "
        "continues it (an interrupted step inside its work folder) and writes the report again."
    )


def _sentence(text: str) -> str:
    return text.rstrip(".") + "."  # not capitalised: a reason may start with a name (sasrec, ml-100k)


def data_section(outputs: RunOutputs) -> Section | None:
    """The input and curated data side by side (the input alone while the curated data is not made yet)."""
    section = Section("data", "Data card: before and after")
    folders = {"input": outputs.input_folder(), "curated": outputs.curated_folder()}
    if folders["input"] is None:
        return None
    if folders["curated"] is None:
        section.text(f"The curated data is not made yet ({_waiting_on(outputs, 'defend', 'denoise')}).")
    names = [name for name, folder in folders.items() if folder is not None]
    lengths = {name: _lengths(folders[name]) for name in names}
    popularity = {name: _popularity(folders[name]) for name in names}
    rows = []
    for name, measure in (
        ("users", lambda n: f"{len(lengths[n]):,}"),
        ("items with interactions", lambda n: f"{len(popularity[n]):,}"),
        ("interactions", lambda n: f"{lengths[n].sum():,}"),
        ("sequence length: median", lambda n: f"{np.median(lengths[n]):.0f}"),
        ("sequence length: mean", lambda n: f"{lengths[n].mean():.1f}"),
        ("share of interactions on the top 10% items", lambda n: f"{_head_share(popularity[n]):.1%}"),
    ):
        rows.append([name, *map(measure, names)])
    section.table(["", *names], rows)
    png = plots.distributions(lengths, "interactions per user", "Sequence lengths")
    section.figure("lengths", png, "Sequence lengths (interactions per user)")
    section.figure(
        "popularity",
        plots.distributions(popularity, "interactions per item", "Item popularity"),
        "Item popularity (interactions per item)",
    )
    return section


def _head_share(popularity: np.ndarray) -> float:
    ordered = np.sort(popularity)[::-1]
    return ordered[: max(1, len(ordered) // 10)].sum() / ordered.sum()


def ledger_rows(outputs: RunOutputs) -> dict[str, np.ndarray] | None:
    """Every edit of the run's curation steps, in one table (each step's ledger holds the rows its stage wrote)."""
    parts = []
    for step in ("defend", "denoise"):
        folder = outputs.folder(step)
        if folder is not None and (folder / "ledger.parquet").is_file():
            table = pq.read_table(folder / "ledger.parquet")
            parts.append(table.filter(pc.equal(table["stage"], outputs.steps[step]["stage"])))
    if not parts:
        return None
    table = pa.concat_tables(parts)
    return {column: table[column].to_numpy(zero_copy_only=False) for column in table.column_names}


def ledger_section(outputs: RunOutputs, ledger: dict[str, np.ndarray]) -> Section:
    section = Section("ledger", "Ledger: what was changed")
    titles = outputs.titles()
    actions, stages = ledger["action"], ledger["stage"]
    by = Counter(zip(stages, actions))
    section.table(
        ["stage", "action", "rows"],
        [[stage, action, f"{count:,}"] for (stage, action), count in sorted(by.items())],
        "Edits by stage and action (a dropped user is one row per interaction)",
    )
    dropped = len(set(ledger["user_id"][actions == "drop-user"]))
    reweighted = len(set(ledger["user_id"][actions == "reweight"]))
    edited = len(set(ledger["user_id"][np.isin(actions, ["remove", "replace"])]))
    section.text(
        f"Users dropped: {dropped:,}; users down-weighted: {reweighted:,}; users with interactions removed or "
        f"replaced: {edited:,}."
    )
    for action, header in (("remove", "Most-removed items"), ("replace", "Most-replaced items")):
        counts = Counter(ledger["old_item"][actions == action]).most_common(8)
        if counts:
            section.table(["item", "title", "times"], [[i, titles.get(i, ""), n] for i, n in counts], header)
    edits = np.flatnonzero(np.isin(actions, ["remove", "replace"]))
    if len(edits):
        scores = np.nan_to_num(ledger["score"][edits].astype(float), nan=-1.0)
        chosen = edits[np.argsort(-scores, kind="stable")[:8]]
        rows = [
            [
                ledger["user_id"][i],
                ledger["position"][i],
                ledger["action"][i],
                titles.get(ledger["old_item"][i], ledger["old_item"][i]),
                titles.get(ledger["new_item"][i], "") if ledger["new_item"][i] else "—",
                f"{ledger['score'][i]:.3f}",
            ]
            for i in chosen
        ]
        section.table(["user", "position", "action", "item", "put in its place", "p(noise)"], rows, "Example edits")
    return section


def scores_section(outputs: RunOutputs) -> Section | None:
    section = Section("scores", "Scores: p(noise) and p(fake)")
    denoise, defend = outputs.folder("denoise"), outputs.folder("defend")
    pipeline = outputs.plan["pipeline"]
    if denoise is not None:
        p = _table(denoise, "scores.parquet", ["score"])["score"].astype(float)
        threshold = pipeline["denoise"]["threshold"]
        png = plots.probability_histogram(p, threshold, "p(noise)", "p(noise) of every training interaction")
        passed = f"{(p >= threshold).sum():,} at or above the threshold"
        section.figure("p_noise", png, f"p(noise) of {len(p):,} interactions; {passed}")
    if defend is not None:
        p = _table(defend, "user_scores.parquet", ["p_fake"])["p_fake"].astype(float)
        threshold = pipeline["defend"]["user_threshold"]  # None: the FDR decision, which p(fake) does not make
        png = plots.probability_histogram(p, threshold, "p(fake)", "p(fake) of every user")
        passed = f"{(p >= threshold).sum():,} at or above the threshold" if threshold is not None else "decided by FDR"
        section.figure("p_fake", png, f"p(fake) of {len(p):,} users; {passed}")
    return section if section.blocks else None


def detection_section(outputs: RunOutputs) -> Section | None:
    section = Section("detection", "Detection quality (against the labels)")
    rows = []
    noise, fake = _noise_truth(outputs), _fake_truth(outputs)
    if noise is not None:
        truth, p, _ = noise
        rows += _detection_rows("noisy interactions", truth, p)
        section.figure("reliability_noise", plots.reliability(truth, p, "p(noise)"), "Reliability of p(noise)")
    if fake is not None:
        truth, p, _ = fake
        rows += _detection_rows("fake users", truth, p)
        section.figure("reliability_fake", plots.reliability(truth, p, "p(fake)"), "Reliability of p(fake)")
    if not rows:
        return None
    section.table(
        ["what", "count", "positives", "AUROC", "ECE", "threshold", "flagged", "precision", "recall", "F1"],
        rows,
        "Precision/recall of flagging p >= threshold; AUROC is threshold-free",
    )
    return section


def _detection_rows(name: str, truth: np.ndarray, p: np.ndarray) -> list[list[Any]]:
    report = detection_report(truth, p)
    auroc = "—" if report["auroc"] is None else f"{report['auroc']:.3f}"
    rows = []
    for threshold, at in report["thresholds"].items():
        precision = f"{at['precision']:.3f}" if at["flagged"] else "—"
        rows.append(
            [name, f"{report['count']:,}", f"{report['positives']:,}", auroc, f"{report['ece']:.3f}", threshold,
             f"{at['flagged']:,}", precision, f"{at['recall']:.3f}", f"{at['f1']:.3f}"]
        )  # fmt: skip
    return rows


def training_section(outputs: RunOutputs) -> Section | None:
    section = Section("training", "Training: input vs curated (same seeds)")
    runs = {name: outputs.folder(f"train-{name}") for name in ("input", "curated")}
    if None in runs.values():
        return None
    metrics = {name: json.loads((folder / "metrics.json").read_text()) for name, folder in runs.items()}
    curves = {
        name: [_curve(folder / f"seed-{s['seed']}") for s in metrics[name]["seeds"]] for name, folder in runs.items()
    }
    section.figure("curves", plots.training_curves(curves), "Validation NDCG@10 per epoch")
    per_seed = {name: {s["seed"]: s["test"] for s in m["seeds"]} for name, m in metrics.items()}
    seeds = sorted(set(per_seed["input"]) & set(per_seed["curated"]))
    rows = []
    for metric in METRICS:
        before = [per_seed["input"][s][metric] for s in seeds]
        after = [per_seed["curated"][s][metric] for s in seeds]
        rows.append([metric, _mean_std(before), _mean_std(after), _mean_std(np.subtract(after, before))])
    section.table(
        ["test metric", "input", "curated", "difference (curated − input, paired by seed)"],
        rows,
        f"Mean ± {STD} over seeds {', '.join(map(str, seeds))}; full ranking over all items, seen items filtered",
    )
    return section


def _curve(seed_folder: Path) -> list[float]:
    """Validation NDCG@10 per epoch of one seed's training."""
    history = json.loads((seed_folder / "metrics.json").read_text(encoding="utf-8"))["history"]
    return [epoch["valid"]["NDCG@10"] for epoch in history]


def groups_section(outputs: RunOutputs, ledger: dict[str, np.ndarray] | None) -> Section | None:
    folders = {name: outputs.folder(f"ranks-{name}") for name in ("input", "curated")}
    if None in folders.values():
        return None
    ranks = {name: _table(folder, "user_ranks.parquet") for name, folder in folders.items()}
    edited = set() if ledger is None else set(ledger["user_id"][ledger["action"] != "drop-user"])
    common = set(ranks["input"]["user_id"]) & set(ranks["curated"]["user_id"])
    groups = {"edited users": common & edited, "the rest": common - edited}
    section = Section("groups", "Per user group: edited users vs the rest")
    section.text(
        f"Users evaluated in both runs: {len(common):,} (dropped users have no curated test rank). A user is "
        "edited when the ledger changed one of their interactions or their weight."
    )
    rows = []
    for group, members in groups.items():
        if not members:
            rows.append([group, "0", "—", "—", "—"])
            continue
        before = _group_ndcg(ranks["input"], members)
        after = _group_ndcg(ranks["curated"], members)
        seeds = sorted(set(before) & set(after))
        rows.append(
            [
                group,
                f"{len(members):,}",
                _mean_std([before[s] for s in seeds]),
                _mean_std([after[s] for s in seeds]),
                _mean_std([after[s] - before[s] for s in seeds]),
            ]
        )
    section.table(
        ["group", "users", "input NDCG@10", "curated NDCG@10", "difference"], rows, f"Mean ± {STD} over seeds"
    )
    return section


def _group_ndcg(ranks: dict[str, np.ndarray], members: set[str]) -> dict[int, float]:
    """NDCG@10 of the users in `members`, per seed (one target per user: 1 / log2(rank + 2) inside the top 10)."""
    inside = np.isin(ranks["user_id"], list(members))
    gains = np.where(ranks["rank"] < TOP_K, 1.0 / np.log2(ranks["rank"] + 2.0), 0.0)
    return {int(seed): float(gains[inside & (ranks["seed"] == seed)].mean()) for seed in np.unique(ranks["seed"])}
