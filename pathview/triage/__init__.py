"""The grid's state without Qt: the patch table, sort keys and filters, review counts, the
P(tumour) histogram and the dwell clock."""

from pathview.triage.dwell import DwellClock
from pathview.triage.ordering import (
    NEEDS_TTA,
    FilterSpec,
    ReviewFilter,
    SortKey,
    disagreement_mask,
    filter_mask,
    next_unreviewed,
    ordered_rows,
    sort_values,
)
from pathview.triage.summary import Histogram, ReviewCounts, histogram_by, review_counts
from pathview.triage.table import PatchTable, ReviewCode

__all__ = [
    "NEEDS_TTA",
    "DwellClock",
    "FilterSpec",
    "Histogram",
    "PatchTable",
    "ReviewCode",
    "ReviewCounts",
    "ReviewFilter",
    "SortKey",
    "disagreement_mask",
    "filter_mask",
    "histogram_by",
    "next_unreviewed",
    "ordered_rows",
    "review_counts",
    "sort_values",
]
