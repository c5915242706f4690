"""The grid's state without Qt: the patch table, sort keys and filters, review counts, the
P(tumour) histogram, the dwell clock and the review queue."""

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
from pathview.triage.queue import STRATEGIES, next_to_review
from pathview.triage.suggested import (
    SUGGESTED_COUNT,
    QueueInputs,
    queue_inputs,
    queue_rows,
    suggested_rows,
)
from pathview.triage.summary import Histogram, ReviewCounts, histogram_by, review_counts
from pathview.triage.table import PatchTable, ReviewCode

__all__ = [
    "NEEDS_TTA",
    "STRATEGIES",
    "SUGGESTED_COUNT",
    "DwellClock",
    "FilterSpec",
    "Histogram",
    "PatchTable",
    "QueueInputs",
    "ReviewCode",
    "ReviewCounts",
    "ReviewFilter",
    "SortKey",
    "disagreement_mask",
    "filter_mask",
    "histogram_by",
    "next_to_review",
    "next_unreviewed",
    "ordered_rows",
    "queue_inputs",
    "queue_rows",
    "review_counts",
    "sort_values",
    "suggested_rows",
]
