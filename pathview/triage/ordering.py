"""Which rows the grid shows and in what order: sort keys, filters, masks (no Qt)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pathview.stats import instability
from pathview.triage.suggested import queue_ranks
from pathview.triage.table import PatchTable, ReviewCode


class SortKey(str, enum.Enum):
    """Orders the grid offers; every order breaks ties by name."""

    NAME = "name"
    P_TUMOUR = "P(tumour), highest first"
    UNCERTAINTY = "uncertainty (closest to 0.5)"
    TTA_SPREAD = "TTA spread, largest first"
    DISAGREEMENT = "model vs truth disagreement"
    UNSTABLE = "unstable under flips/rotations"
    SUGGESTED = "suggested (review queue)"
    LEAST_TISSUE = "tissue fraction, least first"
    BLURRIEST = "sharpness, blurriest first"
    DARKEST = "brightness, darkest first"
    DUPLICATE_GROUP = "duplicate groups together"


#: Sort keys that need per-view scores (scoring with TTA); without them they sort nothing.
NEEDS_TTA: frozenset[SortKey] = frozenset({SortKey.UNSTABLE})
#: Sort keys on a quality measure (ascending: the worst first) and the measure.
QUALITY_SORTS: dict[SortKey, str] = {
    SortKey.LEAST_TISSUE: "tissue_fraction",
    SortKey.BLURRIEST: "sharpness",
    SortKey.DARKEST: "brightness",
}


class ReviewFilter(str, enum.Enum):
    ALL = "all"
    UNREVIEWED = "unreviewed"
    REVIEWED = "reviewed"


@dataclass(frozen=True)
class FilterSpec:
    """Which rows the grid shows. Defaults show everything."""

    review: ReviewFilter = ReviewFilter.ALL
    disagreements_only: bool = False
    p_min: float = 0.0
    p_max: float = 1.0
    truth: int | None = None  # 0 or 1 keeps rows with that ground truth
    #: "" for all, a quality flag's name (pathview.quality.FLAGS), "any flag" or "duplicates"
    quality: str = ""

    @property
    def p_range_active(self) -> bool:
        return self.p_min > 0.0 or self.p_max < 1.0


def disagreement_mask(p: np.ndarray, truth: np.ndarray, review: np.ndarray) -> np.ndarray:
    """Rows where the model's call (P >= 0.5) differs from the ground truth, or the reviewer
    disagreed with the model."""
    with np.errstate(invalid="ignore"):
        call = (p >= 0.5).astype(np.int8)
    model_vs_truth = (truth >= 0) & ~np.isnan(p) & (call != truth)
    return model_vs_truth | (review == ReviewCode.DISAGREE)


Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def sort_values(
    table: PatchTable,
    key: SortKey,
    threshold: float = 0.5,
    columns: Columns | None = None,
    suggested: np.ndarray | None = None,
) -> np.ndarray:
    """Per-row sort value, ascending sorts first; NaN (no value) sorts last.

    ``threshold`` is the call threshold of ``SortKey.UNSTABLE``: the number of the 8
    flips/rotations whose call differs from the majority (see
    :func:`pathview.stats.instability`), least stable first. Rows scored
    without TTA have no value. ``suggested``: the rows of the review queue in its order
    (:func:`pathview.triage.suggested.suggested_rows`), the order of ``SortKey.SUGGESTED``;
    rows off the queue (reviewed, unscored) have no value.
    """
    key = SortKey(key)
    if key is SortKey.SUGGESTED:
        if suggested is None:
            return np.full(len(table), np.nan)
        return queue_ranks(np.asarray(suggested, dtype=np.int64), len(table))
    if key in QUALITY_SORTS:
        return table.insight.measure(QUALITY_SORTS[key], len(table)).astype(np.float64)
    if key is SortKey.DUPLICATE_GROUP:
        n = len(table)
        table.insight.known(n)  # sized to the table
        number = table.insight.groups.combined()[:n]
        return np.where(number > 0, number, np.nan).astype(np.float64)
    if key is SortKey.UNSTABLE:
        values = np.full(len(table), np.nan)
        views = table.views()
        if views is not None:
            known = ~np.isnan(views).any(axis=1)
            values[known] = -instability(views[known], threshold)
        return values
    if key is SortKey.NAME:
        return np.zeros(len(table), dtype=np.float64)
    p, spread, truth, _ = columns or table.arrays()
    if key is SortKey.P_TUMOUR:
        return -p
    if key is SortKey.UNCERTAINTY:
        return np.abs(p - 0.5)
    if key is SortKey.TTA_SPREAD:
        return -spread
    if key is SortKey.DISAGREEMENT:
        values = np.full(len(table), np.nan)
        known = truth >= 0
        values[known] = -np.abs(p[known] - truth[known])
        return values
    raise ValueError(key)


def filter_mask(table: PatchTable, spec: FilterSpec, columns: Columns | None = None) -> np.ndarray:
    """Boolean mask of the rows ``spec`` keeps (``columns``: ``table.arrays()`` if known)."""
    mask = np.ones(len(table), dtype=bool)
    if spec == FilterSpec():
        return mask
    p, _, truth, review = columns or table.arrays()
    review_filter = ReviewFilter(spec.review)
    if review_filter is ReviewFilter.UNREVIEWED:
        mask &= review == ReviewCode.UNREVIEWED
    elif review_filter is ReviewFilter.REVIEWED:
        mask &= review != ReviewCode.UNREVIEWED
    if spec.disagreements_only:
        mask &= disagreement_mask(p, truth, review)
    if spec.p_range_active:
        with np.errstate(invalid="ignore"):
            mask &= (p >= spec.p_min) & (p <= spec.p_max)
    if spec.truth is not None:
        mask &= truth == spec.truth
    if spec.quality:
        mask &= table.insight.flag_mask(spec.quality, len(table))
    return mask


def ordered_rows(
    table: PatchTable,
    key: SortKey,
    spec: FilterSpec,
    threshold: float = 0.5,
    suggested: np.ndarray | None = None,
) -> list[int]:
    """Row indices the grid shows, in order: filtered by ``spec``, sorted by ``key`` (at
    ``threshold`` for ``SortKey.UNSTABLE``, in the queue ``suggested`` for
    ``SortKey.SUGGESTED``), ties (and rows without a value, which go last) by name."""
    if len(table) == 0:
        return []
    key = SortKey(key)
    # The columns once for both (converting a 220,025-row table's lists takes ~35 ms).
    no_columns = (
        SortKey.NAME,
        SortKey.UNSTABLE,
        SortKey.SUGGESTED,
        SortKey.DUPLICATE_GROUP,
        *QUALITY_SORTS,
    )
    needs_columns = key not in no_columns or spec != FilterSpec()
    columns = table.arrays() if needs_columns else None
    values = sort_values(table, key, threshold, columns, suggested)
    missing = np.isnan(values)
    if key is SortKey.NAME:
        rank = table.name_rank()  # a permutation: its inverse is the name order
        rows = np.empty_like(rank)
        rows[rank] = np.arange(len(rank), dtype=rank.dtype)
    else:
        values = np.where(missing, 0.0, values)
        rows = np.lexsort((table.name_rank(), values, missing))
    keep = filter_mask(table, spec, columns)
    return rows[keep[rows]].tolist()


def next_unreviewed(order: Sequence[int], position: int, review: Sequence[int]) -> int | None:
    """Position in ``order`` of the next unreviewed row after ``position`` (wrapping round);
    None when every row in ``order`` is reviewed."""
    n = len(order)
    for step in range(1, n + 1):
        pos = (position + step) % n
        if review[order[pos]] == ReviewCode.UNREVIEWED:
            return pos
    return None
