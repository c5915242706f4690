"""Evaluating the model against ground truth and reviews: the report the metrics panel and
``pathview report`` show, reviewer agreement, and the self-contained HTML page."""

from pathview.evaluation.report import (
    DISAGREEMENT_BINS,
    SOURCES,
    Evaluation,
    EvaluationReport,
    EvaluationRequest,
    Source,
    available_sources,
    build_report,
    choose_source,
    evaluate,
    evaluate_request,
    score_line,
)
from pathview.evaluation.reviewers import ReviewerSummary, review_labels, summarise_reviewers

__all__ = [
    "DISAGREEMENT_BINS",
    "SOURCES",
    "Evaluation",
    "EvaluationReport",
    "EvaluationRequest",
    "ReviewerSummary",
    "Source",
    "available_sources",
    "build_report",
    "choose_source",
    "evaluate",
    "evaluate_request",
    "review_labels",
    "score_line",
    "summarise_reviewers",
]
