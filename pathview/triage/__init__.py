"""The grid's state without Qt: the patch table, sort keys and filters, review counts, the
P(tumour) histogram, the dwell clock and the review queue."""

from pathview.triage.dwell import DwellClock
from pathview.triage.insight import (
    ANY_FLAG,
    DUPLICATES,
    DuplicateGroups,
    GroupConflict,
    InsightColumns,
    group_conflicts,
    group_rows,
    implied_labels,
)
from pathview.triage.ordering import (
    NEEDS_TTA,
    QUALITY_SORTS,
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
from pathview.triage.table import PatchTable, ReviewCode, name_rank_of

__all__ = [
    "ANY_FLAG",
    "DUPLICATES",
    "NEEDS_TTA",
    "QUALITY_SORTS",
    "STRATEGIES",
    "SUGGESTED_COUNT",
    "DuplicateGroups",
    "DwellClock",
    "FilterSpec",
    "GroupConflict",
    "Histogram",
    "InsightColumns",
    "PatchTable",
    "QueueInputs",
    "ReviewCode",
    "ReviewCounts",
    "ReviewFilter",
    "SortKey",
    "disagreement_mask",
    "filter_mask",
    "group_conflicts",
    "group_rows",
    "histogram_by",
    "implied_labels",
    "name_rank_of",
    "next_to_review",
    "next_unreviewed",
    "ordered_rows",
    "queue_inputs",
    "queue_rows",
    "review_counts",
    "sort_values",
    "suggested_rows",
]
