"""How good is the model against a reference: the evaluation the metrics panel and ``pathview
report`` show, without Qt.

Everything is computed from plain arrays, so the numbers are testable without a screen and
identical in the app and the report. The headline numbers (AUC, accuracy, ECE) and the curves
and tables behind them (ROC points, the confusion matrix at a threshold, reliability and
disagreement bins, TTA (in)stability) come from :mod:`pathview.stats`, the same functions
``pathview score --labels`` prints; reviewer agreement and the adjudication queue from
:mod:`pathview.evaluation.reviewers`.

A patch is called tumour when P(tumour) >= threshold (as everywhere in pathview).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from pathview.evaluation.reviewers import ReviewerSummary, review_labels, summarise_reviewers
from pathview.stats import (
    RELIABILITY_BINS,
    Confusion,
    ProbabilityBin,
    RocCurve,
    accuracy,
    confusion_at,
    expected_calibration_error,
    probability_bins,
    roc_auc,
    roc_curve_points,
    unstable_ids,
)
from pathview.store import ConsensusRule, ReviewStore

#: What the model is compared with: ground truth, the reviewers' labels, or both side by side.
Source = Literal["truth", "reviews", "both"]
SOURCES: tuple[Source, ...] = ("truth", "reviews", "both")
#: Bins of the disagreement-rate chart (the reliability diagram has ``RELIABILITY_BINS``).
DISAGREEMENT_BINS = 10


# ------------------------------------------------------------------------------ one reference


@dataclass(frozen=True)
class Evaluation:
    """The model's P(tumour) measured against one reference ("truth" or "reviews").

    ``ids``: the patches that have both a score and a reference label (the data the numbers
    were measured on). ``auc``, ``accuracy`` (at ``threshold``) and ``ece`` come from
    :mod:`pathview.stats`, exactly as ``pathview score --labels`` computes them.
    """

    reference: str
    ids: tuple[str, ...]
    probs: np.ndarray
    labels: np.ndarray
    threshold: float
    auc: float
    accuracy: float
    ece: float
    roc: RocCurve
    confusion: Confusion
    reliability: tuple[ProbabilityBin, ...]
    disagreement: tuple[ProbabilityBin, ...]

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def n_tumour(self) -> int:
        return int(self.labels.sum())

    @property
    def disagreeing_ids(self) -> tuple[str, ...]:
        """Patches whose call at the threshold differs from the reference label."""
        wrong = (self.probs >= self.threshold).astype(np.int64) != self.labels
        return tuple(pid for pid, w in zip(self.ids, wrong.tolist(), strict=True) if w)

    def at_threshold(self, threshold: float) -> Evaluation:
        """The same evaluation with the threshold-dependent parts recomputed (cheap)."""
        return dataclasses.replace(
            self,
            threshold=float(threshold),
            accuracy=accuracy(self.probs, self.labels, threshold) if self.n else math.nan,
            confusion=confusion_at(self.probs, self.labels, threshold),
            disagreement=probability_bins(
                self.probs, self.labels, len(self.disagreement), threshold
            ),
        )


def evaluate(
    reference: str,
    ids: Sequence[str],
    probs: ArrayLike,
    labels: Mapping[str, int],
    threshold: float = 0.5,
    reliability_bins: int = RELIABILITY_BINS,
    disagreement_bins: int = DISAGREEMENT_BINS,
) -> Evaluation:
    """Evaluate scores ``probs`` (aligned with ``ids``) on the ids that ``labels`` knows."""
    p_all = np.asarray(probs, dtype=np.float64).ravel()
    if p_all.size != len(ids):
        raise ValueError(f"{len(ids)} ids but {p_all.size} scores")
    keep = [i for i, pid in enumerate(ids) if pid in labels]
    kept_ids = tuple(ids[i] for i in keep)
    # The float32 scores as score_folder returns them, so AUC ties are those `score` sees.
    p = np.asarray(probs).ravel()[keep]
    y = np.array([int(labels[pid]) for pid in kept_ids], dtype=np.int64)
    n = y.size
    return Evaluation(
        reference=reference,
        ids=kept_ids,
        probs=p,
        labels=y,
        threshold=float(threshold),
        auc=roc_auc(p, y) if n else math.nan,
        accuracy=accuracy(p, y, threshold) if n else math.nan,
        ece=expected_calibration_error(p, y, n_bins=reliability_bins) if n else math.nan,
        roc=roc_curve_points(p, y),
        confusion=confusion_at(p, y, threshold),
        reliability=probability_bins(p, y, reliability_bins, threshold),
        disagreement=probability_bins(p, y, disagreement_bins, threshold),
    )


# ------------------------------------------------------------------------------ the report


def available_sources(
    truth: Mapping[str, int] | None, reviews: Mapping[str, int] | None
) -> list[str]:
    """The references there is data for: "truth" and/or "reviews", and "both" when both."""
    found = [name for name, labels in (("truth", truth), ("reviews", reviews)) if labels]
    return [*found, "both"] if len(found) == 2 else found


@dataclass(frozen=True)
class EvaluationReport:
    """Everything the metrics panel and the HTML report show for one folder and one model.

    Built by :func:`build_report`; ``evaluations`` holds one :class:`Evaluation` per reference
    selected by ``source`` that has data ("both" gives truth then reviews). ``data_name`` and
    ``model_id`` say what the numbers were measured on.
    """

    ids: tuple[str, ...]
    probs: np.ndarray
    truth: Mapping[str, int]
    reviews: Mapping[str, int]
    source: str
    threshold: float
    evaluations: tuple[Evaluation, ...]
    data_name: str = ""
    model_id: str = ""
    model_name: str = ""
    tta: bool = False
    reviewers: ReviewerSummary | None = None
    unstable: tuple[str, ...] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sources(self) -> list[str]:
        """The sources there is data for (see :func:`available_sources`)."""
        return available_sources(self.truth, self.reviews)

    def evaluation(self, reference: str) -> Evaluation | None:
        return next((e for e in self.evaluations if e.reference == reference), None)

    def at_threshold(self, threshold: float) -> EvaluationReport:
        """The report at another threshold (ROC and calibration are not recomputed)."""
        return dataclasses.replace(
            self,
            threshold=float(threshold),
            evaluations=tuple(e.at_threshold(threshold) for e in self.evaluations),
        )

    def with_source(self, source: str) -> EvaluationReport:
        """The report against another reference (``truth``, ``reviews`` or ``both``)."""
        return build_report(
            self.ids,
            self.probs,
            self.truth,
            self.reviews,
            source=source,
            threshold=self.threshold,
            data_name=self.data_name,
            model_id=self.model_id,
            model_name=self.model_name,
            tta=self.tta,
            reviewers=self.reviewers,
            unstable=self.unstable,
        )


def build_report(
    ids: Sequence[str],
    probs: ArrayLike,
    truth: Mapping[str, int] | None = None,
    reviews: Mapping[str, int] | None = None,
    source: str = "both",
    threshold: float = 0.5,
    data_name: str = "",
    model_id: str = "",
    model_name: str = "",
    tta: bool = False,
    reviewers: ReviewerSummary | None = None,
    unstable: Sequence[str] | None = None,
) -> EvaluationReport:
    """Evaluate scores against ground truth (``truth``), reviewers' labels (``reviews``) or
    both, as ``source`` says. A selected reference without data is left out with a note."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold {threshold} is outside [0, 1]")
    id_tuple = tuple(ids)
    p = np.asarray(probs).ravel()
    if p.size != len(id_tuple):
        raise ValueError(f"{len(id_tuple)} ids but {p.size} scores")
    truth = dict(truth or {})
    reviews = dict(reviews or {})
    wanted = ("truth", "reviews") if source == "both" else (source,)
    evaluations = []
    notes = []
    for reference in wanted:
        labels = truth if reference == "truth" else reviews
        ev = evaluate(reference, id_tuple, p, labels, threshold) if labels else None
        if ev is None or ev.n == 0:
            what = "ground truth" if reference == "truth" else "reviewed labels"
            notes.append(f"no scored patch has {what}")
            continue
        if ev.n_tumour in (0, ev.n):
            notes.append(f"{reference}: only one class present, AUC undefined")
        evaluations.append(ev)
    return EvaluationReport(
        ids=id_tuple,
        probs=p,
        truth=truth,
        reviews=reviews,
        source=source,
        threshold=float(threshold),
        evaluations=tuple(evaluations),
        data_name=data_name,
        model_id=model_id,
        model_name=model_name,
        tta=tta,
        reviewers=reviewers,
        unstable=None if unstable is None else tuple(unstable),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class EvaluationRequest:
    """A snapshot of what the metrics panel evaluates, taken on the GUI thread (cheap) and
    evaluated anywhere by :func:`evaluate_request`.

    ``ids``/``probs``: the patches and their P(tumour), NaN for a patch not scored (left
    out), float32 as ``score_folder`` gives them, so ties and AUC are those of ``pathview
    score``. ``truth``: ground truth by id. ``store``: the review store whose reviews
    (combined by ``rule``, final verdicts overriding, as the labels export does) and reviewer
    agreement are read, or None. ``views``: per-view P(tumour) (len(ids) x 8, NaN rows for
    patches scored without TTA) or None. ``source`` is the wanted reference; with no data for
    it the first one with data is used.
    """

    ids: tuple[str, ...]
    probs: np.ndarray
    truth: Mapping[str, int]
    store: ReviewStore | None = None
    views: np.ndarray | None = None
    source: str = "both"
    threshold: float = 0.5
    rule: ConsensusRule | str = ConsensusRule.LATEST
    data_name: str = ""
    model_id: str = ""
    model_name: str = ""
    tta: bool = False


def choose_source(wanted: str, available: Sequence[str]) -> str:
    """``wanted`` if there is data for it, else the first source with data (else ``wanted``)."""
    return wanted if wanted in available or not available else available[0]


def evaluate_request(request: EvaluationRequest) -> EvaluationReport:
    """The report the metrics panel shows for ``request`` (reads the store; no Qt).

    Reviews, agreement and the adjudication queue come from the store with the same functions
    as ``pathview export`` and ``pathview report``; the unstable list is
    :func:`unstable_ids` of the patches that have per-view scores.
    """
    reviews: dict[str, int] = {}
    summary: ReviewerSummary | None = None
    if request.store is not None:
        reviews = review_labels(request.store, request.rule)
        summary = summarise_reviewers(request.store)
    ids: Sequence[str] = request.ids
    probs = np.asarray(request.probs).ravel()
    if probs.size != len(ids):
        raise ValueError(f"{len(ids)} ids but {probs.size} scores")
    views = None if request.views is None else np.asarray(request.views, dtype=np.float32)
    scored = ~np.isnan(probs)
    if not scored.all():
        ids = [ids[i] for i in np.flatnonzero(scored).tolist()]
        probs = probs[scored]
        views = None if views is None else views[scored]
    unstable = None
    if views is not None:
        known = ~np.isnan(views).any(axis=1)
        if known.any():
            kept = [ids[i] for i in np.flatnonzero(known).tolist()]
            unstable = unstable_ids(kept, views[known], request.threshold)
    source = choose_source(request.source, available_sources(request.truth, reviews))
    return build_report(
        ids,
        probs,
        request.truth,
        reviews,
        source=source,
        threshold=request.threshold,
        data_name=request.data_name,
        model_id=request.model_id,
        model_name=request.model_name,
        tta=request.tta,
        reviewers=summary,
        unstable=unstable,
    )


def score_line(evaluation: Evaluation) -> str:
    """The ``AUC ... accuracy ...`` figures formatted as ``pathview score --labels`` prints them."""
    return f"AUC {evaluation.auc:.4f}  accuracy {evaluation.accuracy:.4f}"
