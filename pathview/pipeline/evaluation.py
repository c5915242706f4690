"""How good is the model, and how much do reviewers agree: evaluation without Qt.

Everything the metrics panel and ``pathview report`` show is computed here from plain arrays,
so the numbers are testable without a screen and identical in the app and the report. The
headline numbers (AUC, accuracy, ECE) come from :mod:`pathview.model.metrics`, the same
functions ``pathview score --labels`` prints; this module adds the curves and tables behind
them: ROC points, the confusion matrix at a threshold, reliability bins, the disagreement rate
per probability bin, TTA (in)stability over the 8 flips/rotations, and a summary of reviewer
agreement and the adjudication queue (delegating to :mod:`pathview.store`).

A patch is called tumour when P(tumour) >= threshold (as everywhere in pathview).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike

from pathview.core import CancelToken, Verdict
from pathview.model.metrics import (
    accuracy,
    expected_calibration_error,
    roc_auc,
    scores_and_labels,
)
from pathview.pipeline.scoring import ScoreResult, score_folder
from pathview.store import (
    ADJUDICATOR,
    ConsensusRule,
    ReviewEvent,
    ReviewInput,
    ReviewStore,
    adjudication_queue,
    reviewed_labels,
)
from pathview.store.agreement import Agreement, reviewer_agreement

#: What the model is compared with: ground truth, the reviewers' labels, or both side by side.
Source = Literal["truth", "reviews", "both"]
SOURCES: tuple[Source, ...] = ("truth", "reviews", "both")
#: Bins of the reliability diagram; the ECE uses the same 15 equal-width bins as
#: ``pathview.model.metrics.expected_calibration_error`` (and the model card).
RELIABILITY_BINS = 15
#: Bins of the disagreement-rate chart.
DISAGREEMENT_BINS = 10


# ------------------------------------------------------------------------------ ROC


@dataclass(frozen=True)
class RocCurve:
    """ROC points ordered by decreasing threshold, as ``sklearn.metrics.roc_curve`` returns.

    ``thresholds[0]`` is +inf (nothing called tumour: the point (0, 0)). ``auc`` is
    :func:`pathview.model.metrics.roc_auc` of the same data (NaN with one class only).
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


# ------------------------------------------------------------------------------ one reference


@dataclass(frozen=True)
class Evaluation:
    """The model's P(tumour) measured against one reference ("truth" or "reviews").

    ``ids``: the patches that have both a score and a reference label (the data the numbers
    were measured on). ``auc``, ``accuracy`` (at ``threshold``) and ``ece`` come from
    :mod:`pathview.model.metrics`, exactly as ``pathview score --labels`` computes them.
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


# ------------------------------------------------------------------------------ reviewers


@dataclass(frozen=True)
class ReviewerSummary:
    """Who reviewed, how much they agree, and what is left to adjudicate.

    ``agreement`` covers all reviewers together (Cohen's kappa for two, Fleiss' for more; None
    with fewer than two); ``pairwise`` has Cohen's kappa of every pair (useful when three or
    more reviewers share few patches). ``queue``: patches the reviewers disagree on with no
    final verdict yet; ``adjudicated``: patches with a final verdict.
    """

    reviewers: tuple[str, ...]
    agreement: Agreement | None
    pairwise: tuple[Agreement, ...]
    queue: tuple[str, ...]
    adjudicated: int


def summarise_reviewers(store: ReviewStore) -> ReviewerSummary:
    """Reviewer agreement and the adjudication queue of a store (see :class:`ReviewerSummary`).

    Only reviewers with a current review in the reviewer role count: an adjudicator who only
    gave final verdicts is not a rater.
    """
    states = store.reviewer_states()
    names = tuple(sorted({r for by_reviewer in states.values() for r in by_reviewer}))
    agreement = reviewer_agreement(store, names) if len(names) >= 2 else None
    pairwise: tuple[Agreement, ...] = ()
    if len(names) > 2:
        pairwise = tuple(
            reviewer_agreement(store, pair) for pair in itertools.combinations(names, 2)
        )
    return ReviewerSummary(
        reviewers=names,
        agreement=agreement,
        pairwise=pairwise,
        queue=tuple(adjudication_queue(store)),
        adjudicated=len(store.adjudications()),
    )


def review_labels(
    store: ReviewStore, rule: ConsensusRule | str = ConsensusRule.LATEST
) -> dict[str, int]:
    """patch id -> the label the reviews imply under ``rule``, final verdicts overriding (the
    labels ``pathview export`` writes)."""
    return reviewed_labels(store, rule)


def record_adjudication(
    store: ReviewStore,
    patch_id: str,
    label: int | None,
    adjudicator: str,
    p_tumour: float | None = None,
    model_id: str = "",
    note: str = "",
) -> ReviewEvent:
    """Record a final verdict ``label`` (1 tumour, 0 normal, None unsure) on ``patch_id``.

    Stored as a review in the adjudicator role: agree when the label is the model's call at
    ``p_tumour`` (P >= 0.5), disagree otherwise, so the store derives that label. Without a
    ``p_tumour`` the one the reviewers were shown is used. Export and retraining honour it.
    """
    if label not in (None, 0, 1):
        raise ValueError(f"label must be 0, 1 or None, not {label!r}")
    if p_tumour is None:
        shown = [
            s.p_tumour
            for s in store.reviewer_states().get(patch_id, {}).values()
            if s.p_tumour is not None
        ]
        p_tumour = shown[-1] if shown else None
    if label is None:
        verdict = Verdict.UNSURE
    else:
        if p_tumour is None:
            raise ValueError(f"no P(tumour) known for {patch_id}: cannot express label {label}")
        verdict = Verdict.AGREE if int(p_tumour >= 0.5) == label else Verdict.DISAGREE
    return store.record(
        ReviewInput(
            patch_id=patch_id,
            verdict=verdict,
            reviewer=adjudicator,
            model_id=model_id,
            p_tumour=p_tumour,
            note=note,
            role=ADJUDICATOR,
        )
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


# ------------------------------------------------------------------------------ TTA stability

#: The 8 flips/rotations as numpy operations on H x W x 3 pixels, numbered like
#: ``pathview.model.dihedral_view`` (bit 4 transpose, bit 2 flip rows, bit 1 flip columns).
N_VIEWS = 8


def dihedral_pixels(pixels: np.ndarray, k: int) -> np.ndarray:
    """View ``k`` (0..7) of an (N x) H x W x 3 pixel array (0 = identity)."""
    h_axis = pixels.ndim - 3
    if k & 4:
        pixels = np.swapaxes(pixels, h_axis, h_axis + 1)
    if k & 2:
        pixels = np.flip(pixels, h_axis)
    if k & 1:
        pixels = np.flip(pixels, h_axis + 1)
    return np.ascontiguousarray(pixels)


class _HasP(Protocol):
    @property
    def p(self) -> np.ndarray: ...


class _PredictsPlain(Protocol):
    def predict(
        self, pixels: np.ndarray | Sequence[np.ndarray], tta: bool = False, batch_size: int = 256
    ) -> _HasP: ...


def view_probabilities(
    classifier: _PredictsPlain,
    pixels: np.ndarray | Sequence[np.ndarray],
    batch_size: int = 256,
) -> np.ndarray:
    """P(tumour) of each patch under each of the 8 flips/rotations: float32 N x 8.

    Uses only the classifier's public ``predict`` (without TTA) on flipped/rotated pixels;
    the row mean is ``predict(..., tta=True).p`` up to float rounding for square patches.
    """
    views: list[np.ndarray | list[np.ndarray]]
    if isinstance(pixels, np.ndarray):
        views = [dihedral_pixels(pixels, k) for k in range(N_VIEWS)]
    else:
        views = [[dihedral_pixels(np.asarray(a), k) for a in pixels] for k in range(N_VIEWS)]
    cols = [
        np.asarray(classifier.predict(v, tta=False, batch_size=batch_size).p, np.float32)
        for v in views
    ]
    return np.stack(cols, axis=1)


def instability(view_probs: ArrayLike, threshold: float = 0.5) -> np.ndarray:
    """Per patch, how many of the views disagree with the majority call (0 = stable; 4 of 8
    = split evenly). A sort key: larger is less stable."""
    v = np.asarray(view_probs, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"expected N x views probabilities, got shape {v.shape}")
    tumour = (v >= threshold).sum(axis=1)
    return np.minimum(tumour, v.shape[1] - tumour).astype(np.int64)


def unstable_ids(ids: Sequence[str], view_probs: ArrayLike, threshold: float = 0.5) -> list[str]:
    """Ids whose call (P >= threshold) changes across the flips/rotations, least stable first
    (ties by id)."""
    counts = instability(view_probs, threshold)
    if counts.size != len(ids):
        raise ValueError(f"{len(ids)} ids but {counts.size} rows of view probabilities")
    flagged = [(-int(c), pid) for pid, c in zip(ids, counts.tolist(), strict=True) if c > 0]
    return [pid for _c, pid in sorted(flagged)]


class ViewRecorder:
    """Wraps a classifier for ``score_folder``: each ``predict`` call scores as asked (so ``p``
    is exactly what ``pathview score`` computes) and also records the 8 views' probabilities,
    in call order, in :attr:`views`."""

    def __init__(self, classifier: _PredictsPlain) -> None:
        self.classifier = classifier
        self.model_id = getattr(classifier, "model_id", None)
        self._views: list[np.ndarray] = []

    def predict(
        self, pixels: np.ndarray | Sequence[np.ndarray], tta: bool = False, batch_size: int = 256
    ) -> _HasP:
        """Score as asked, and record the 8 views' probabilities of the same patches."""
        pred = self.classifier.predict(pixels, tta=tta, batch_size=batch_size)
        self._views.append(view_probabilities(self.classifier, pixels, batch_size))
        return pred

    @property
    def views(self) -> np.ndarray:
        return np.concatenate(self._views) if self._views else np.zeros((0, N_VIEWS), np.float32)


def score_folder_with_views(
    folder: str | Path,
    classifier: _PredictsPlain,
    tta: bool = False,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
    recursive: bool = False,
) -> tuple[ScoreResult, np.ndarray]:
    """``score_folder`` plus the N x 8 per-view probabilities (for :func:`unstable_ids`).

    Returns (ScoreResult, views) with views row-aligned to ``result.ids``. Costs 8 more
    forward passes per patch than scoring alone.
    """
    recorder = ViewRecorder(classifier)
    result = score_folder(
        folder,
        recorder,  # type: ignore[arg-type]
        tta=tta,
        batch_size=batch_size,
        progress=progress,
        cancel=cancel,
        recursive=recursive,
    )
    return result, recorder.views
