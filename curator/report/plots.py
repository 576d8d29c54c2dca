"""The report's figures as PNG bytes (matplotlib's object API: no pyplot, no global state)."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from curator.evaluation.detection import reliability_diagram

COLORS = {"input": "#8a94a8", "curated": "#2a62d0"}


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def distributions(series: Mapping[str, np.ndarray], xlabel: str, title: str, log: bool = True) -> bytes:
    """Overlaid histograms of one quantity for input and curated data (log-spaced bins when `log`)."""
    figure = Figure(figsize=(5.2, 3.4), layout="constrained")
    axes = figure.subplots()
    values = np.concatenate([v for v in series.values() if len(v)])
    low, high = max(values.min(), 1), max(values.max(), 2)
    bins = np.geomspace(low, high, 30) if log else np.linspace(values.min(), values.max(), 30)
    for name, data in series.items():
        axes.hist(data, bins=bins, histtype="step", linewidth=1.8, label=name, color=COLORS.get(name))
    if log:
        axes.set_xscale("log")
        axes.xaxis.set_minor_formatter(NullFormatter())  # the decades only: minor labels overlap
    axes.set(xlabel=xlabel, ylabel="count", title=title)
    axes.legend()
    return _png(figure)


def probability_histogram(p: np.ndarray, threshold: float | None, xlabel: str, title: str) -> bytes:
    """`threshold`: the gate's line on the histogram; None where no threshold on p decides."""
    figure = Figure(figsize=(5.2, 3.4), layout="constrained")
    axes = figure.subplots()
    axes.hist(p, bins=np.linspace(0, 1, 41), color="#2a62d0")
    if threshold is not None:
        axes.axvline(threshold, color="#c0392b", linestyle="--", label=f"threshold {threshold:g}")
        axes.legend()
    axes.set(xlabel=xlabel, ylabel="count (log)", yscale="log", title=title)
    return _png(figure)


def reliability(truth: np.ndarray, p: np.ndarray, title: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return reliability_diagram(truth, p, Path(folder) / "r.png", title=title).read_bytes()


def training_curves(curves: Mapping[str, Sequence[Sequence[float]]]) -> bytes:
    """Validation NDCG@10 per epoch, one line per seed, input vs curated."""
    figure = Figure(figsize=(5.2, 3.4), layout="constrained")
    axes = figure.subplots()
    for name, seeds in curves.items():
        for index, values in enumerate(seeds):
            axes.plot(
                range(1, len(values) + 1),
                values,
                color=COLORS.get(name),
                alpha=0.85,
                label=name if index == 0 else None,
            )
    axes.set(xlabel="epoch", ylabel="validation NDCG@10", title="Training curves (one line per seed)")
    axes.legend()
    return _png(figure)
