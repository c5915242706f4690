"""Curves and tables behind the headline metrics, in plain numpy: ROC points, the confusion
matrix at a threshold, and equal-width bins of P(tumour) (reliability and disagreement rate).

A patch is called tumour when P(tumour) >= threshold (as everywhere in pathview). Binning is
that of :func:`pathview.stats.metrics.expected_calibration_error`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from pathview.stats.metrics import roc_auc, scores_and_labels

#: Bins of the reliability diagram; the ECE uses the same 15 equal-width bins as
#: ``pathview.stats.metrics.expected_calibration_error`` (and the model card).
RELIABILITY_BINS = 15


# ------------------------------------------------------------------------------ ROC


@dataclass(frozen=True)
class RocCurve:
    """ROC points ordered by decreasing threshold, as ``sklearn.metrics.roc_curve`` returns.

    ``thresholds[0]`` is +inf (nothing called tumour: the point (0, 0)). ``auc`` is
    :func:`pathview.stats.metrics.roc_auc` of the same data (NaN with one class only).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float


def roc_curve_points(
    scores: ArrayLike, labels: ArrayLike, drop_intermediate: bool = True
) -> RocCurve:
    """False and true positive rates at every distinct score used as a threshold.

    Same points as ``sklearn.metrics.roc_curve`` (``drop_intermediate`` drops the points on a
    straight segment, which change nothing in the curve). With one class only, the rate of the
    missing class is NaN.
    """
    s, y = scores_and_labels(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # Last index of each run of tied scores: a threshold includes all of its ties.
    distinct = np.flatnonzero(np.diff(s_sorted))
    ends = np.concatenate((distinct, [s.size - 1])) if s.size else np.zeros(0, np.int64)
    tps = np.cumsum(y_sorted)[ends].astype(np.float64)
    fps = (ends + 1 - tps).astype(np.float64)
    thresholds = s_sorted[ends]
    if drop_intermediate and tps.size > 2:
        keep = np.flatnonzero(
            np.concatenate(([True], np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), [True]))
        )
        tps, fps, thresholds = tps[keep], fps[keep], thresholds[keep]
    tps = np.concatenate(([0.0], tps))
    fps = np.concatenate(([0.0], fps))
    thresholds = np.concatenate(([np.inf], thresholds))
    n_pos, n_neg = (tps[-1], fps[-1]) if s.size else (0.0, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tps / n_pos if n_pos else np.full_like(tps, np.nan)
        fpr = fps / n_neg if n_neg else np.full_like(fps, np.nan)
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=thresholds, auc=roc_auc(s, y))


# ------------------------------------------------------------------------------ confusion


@dataclass(frozen=True)
class Confusion:
    """The 2 x 2 confusion matrix at ``threshold`` (P >= threshold is called tumour)."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def sensitivity(self) -> float:
        """Recall of tumour: TP / (TP + FN); NaN without tumour patches."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def specificity(self) -> float:
        """Recall of normal: TN / (TN + FP); NaN without normal patches."""
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else math.nan

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.n if self.n else math.nan

    @property
    def precision(self) -> float:
        """Positive predictive value TP / (TP + FP); NaN when nothing is called tumour."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    def matrix(self) -> np.ndarray:
        """[[TN, FP], [FN, TP]]: rows are the reference label, columns the model's call
        (the layout of ``sklearn.metrics.confusion_matrix``)."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]], dtype=np.int64)


def confusion_at(probs: ArrayLike, labels: ArrayLike, threshold: float = 0.5) -> Confusion:
    """Confusion matrix of the calls ``P >= threshold`` against 0/1 labels."""
    p, y = scores_and_labels(probs, labels)
    call = p >= threshold
    pos = y == 1
    return Confusion(
        threshold=float(threshold),
        tp=int(np.sum(call & pos)),
        fp=int(np.sum(call & ~pos)),
        tn=int(np.sum(~call & ~pos)),
        fn=int(np.sum(~call & pos)),
    )


# ------------------------------------------------------------------------------ bins


@dataclass(frozen=True)
class ProbabilityBin:
    """One equal-width bin of P(tumour), [lo, hi) (the last bin includes 1).

    ``mean_p``: mean P(tumour) in the bin; ``positive_rate``: fraction labelled tumour;
    ``disagreements``: patches whose call at the threshold differs from the label. The means
    and rates are NaN for an empty bin.
    """

    lo: float
    hi: float
    count: int
    mean_p: float
    positive_rate: float
    disagreements: int

    @property
    def disagreement_rate(self) -> float:
        return self.disagreements / self.count if self.count else math.nan


def probability_bins(
    probs: ArrayLike, labels: ArrayLike, n_bins: int = RELIABILITY_BINS, threshold: float = 0.5
) -> tuple[ProbabilityBin, ...]:
    """Equal-width bins of P(tumour) with the counts behind a reliability diagram and the
    disagreement rate. Binning is that of ``expected_calibration_error``: bin = floor(p * n),
    p = 1 in the last bin."""
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    p, y = scores_and_labels(probs, labels)
    index = np.clip((p * n_bins).astype(np.int64), 0, n_bins - 1)
    wrong = (p >= threshold).astype(np.int64) != y
    bins = []
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        bins.append(
            ProbabilityBin(
                lo=b / n_bins,
                hi=(b + 1) / n_bins,
                count=count,
                mean_p=float(p[mask].mean()) if count else math.nan,
                positive_rate=float(y[mask].mean()) if count else math.nan,
                disagreements=int(wrong[mask].sum()),
            )
        )
    return tuple(bins)


def calibration_error_from_bins(bins: Sequence[ProbabilityBin]) -> float:
    """ECE recomputed from reliability bins (equals ``expected_calibration_error`` to float
    rounding; the reports show the latter)."""
    total = sum(b.count for b in bins)
    if not total:
        return math.nan
    return float(sum(b.count / total * abs(b.positive_rate - b.mean_p) for b in bins if b.count))
