"""Paired bootstrap comparison of two models scored on the same patches, and the verdict it
gives (better / no measurable change / worse).

Both models' scores are resampled with the same patch indices, so the interval is that of the
difference on this validation set, not of two independent estimates (a paired comparison is
far tighter: the models agree on most patches).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from pathview.stats.metrics import accuracy, expected_calibration_error, scores_and_labels

#: Verdicts, by where the 95% interval of (new - parent) lies.
BETTER, NO_CHANGE, WORSE = "better", "no measurable change", "worse"


@dataclass(frozen=True)
class PairedDifference:
    """``new - parent`` on one metric: the observed difference and its bootstrap interval."""

    metric: str
    parent: float
    new: float
    delta: float
    low: float
    high: float
    n: int
    resamples: int

    @property
    def verdict(self) -> str:
        """``better`` when the 95% interval lies above 0, ``worse`` below, otherwise no
        measurable change. For ECE (lower is better) the sign is reversed."""
        good_if_positive = self.metric.split("_")[0] != "ece"
        low, high = (self.low, self.high) if good_if_positive else (-self.high, -self.low)
        if low > 0:
            return BETTER
        if high < 0:
            return WORSE
        return NO_CHANGE


def _auc_rows(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AUC of each row of ``scores`` (R x N) against the matching row of ``labels`` (R x N),
    tied scores counting one half (via average ranks of each row)."""
    order = np.argsort(scores, axis=1, kind="mergesort")
    sorted_s = np.take_along_axis(scores, order, axis=1)
    n = scores.shape[1]
    ranks_sorted = np.empty_like(sorted_s)
    for r in range(scores.shape[0]):  # average ranks over runs of ties, row by row
        s = sorted_s[r]
        bounds = np.flatnonzero(np.diff(s)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [n]))
        ranks_sorted[r] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    ranks = np.empty_like(ranks_sorted)
    np.put_along_axis(ranks, order, ranks_sorted, axis=1)
    pos = labels.sum(axis=1)
    neg = n - pos
    u = (ranks * labels).sum(axis=1) - pos * (pos + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((pos > 0) & (neg > 0), u / (pos * neg), np.nan)


def _metric(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    base = name.split("_")[0]
    if base == "auc":
        return _auc_rows
    if base == "accuracy":
        return lambda p, y: ((p >= 0.5) == (y == 1)).mean(axis=1)
    if base == "ece":
        return lambda p, y: np.array(
            [expected_calibration_error(p[r], y[r]) for r in range(p.shape[0])]
        )
    raise ValueError(f"unknown metric {name!r} (auc, accuracy or ece)")


def paired_bootstrap(
    parent: ArrayLike,
    new: ArrayLike,
    labels: ArrayLike,
    metric: str = "auc",
    resamples: int = 2000,
    seed: int = 0,
    chunk: int = 200,
) -> PairedDifference:
    """The difference ``metric(new) - metric(parent)`` on the same patches with a 95%
    percentile interval from ``resamples`` paired bootstrap resamples (seeded).

    ``metric`` is ``auc``, ``accuracy`` or ``ece``, optionally with a suffix naming the
    view (``auc_tta``); resamples with one class only are skipped for AUC.
    """
    p_old, y = scores_and_labels(parent, labels)
    p_new, _ = scores_and_labels(new, labels)
    if p_old.shape != p_new.shape:
        raise ValueError(f"{p_old.size} parent scores but {p_new.size} new scores")
    if y.size == 0:
        raise ValueError("no patches to compare on")
    fn = _metric(metric)
    observed_old = float(fn(p_old[None], y[None])[0])
    observed_new = float(fn(p_new[None], y[None])[0])
    rng = np.random.default_rng(seed)
    deltas: list[np.ndarray] = []
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        idx = rng.integers(0, y.size, size=(rows, y.size))
        yy = y[idx]
        deltas.append(fn(p_new[idx], yy) - fn(p_old[idx], yy))
    d = np.concatenate(deltas)
    d = d[np.isfinite(d)]
    low, high = (float(v) for v in np.percentile(d, [2.5, 97.5])) if d.size else (np.nan,) * 2
    return PairedDifference(
        metric=metric,
        parent=observed_old,
        new=observed_new,
        delta=observed_new - observed_old,
        low=low,
        high=high,
        n=int(y.size),
        resamples=int(d.size),
    )


def corrections_per_100(calls: ArrayLike, truth: ArrayLike) -> float:
    """How many of the reviewed patches the model had wrong, per 100 reviews."""
    c = np.asarray(calls).astype(np.int64).ravel()
    t = np.asarray(truth).astype(np.int64).ravel()
    return float(100.0 * (c != t).mean()) if c.size else float("nan")


__all__ = [
    "BETTER",
    "NO_CHANGE",
    "WORSE",
    "PairedDifference",
    "accuracy",
    "corrections_per_100",
    "paired_bootstrap",
]
