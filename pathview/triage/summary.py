"""What the status bar and the histogram show: review counts and P(tumour) histograms."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pathview.triage.table import PatchTable, ReviewCode


@dataclass(frozen=True)
class ReviewCounts:
    total: int
    reviewed: int
    agree: int
    disagree: int
    unsure: int
    labelled: int = 0  # labels given with a label key and no model (no verdict)

    @property
    def agreement_rate(self) -> float | None:
        decided = self.agree + self.disagree
        return None if decided == 0 else self.agree / decided

    def summary(self) -> str:
        rate = self.agreement_rate
        rate_text = "agreement n/a" if rate is None else f"agreement {rate:.0%}"
        labelled = f", {self.labelled:,} labelled" if self.labelled else ""
        return (
            f"reviewed {self.reviewed:,} / {self.total:,} · {rate_text} "
            f"({self.agree:,} agree, {self.disagree:,} disagree, {self.unsure:,} unsure"
            f"{labelled})"
        )


def review_counts(table: PatchTable) -> ReviewCounts:
    review = table.arrays()[3]
    agree = int(np.count_nonzero(review == ReviewCode.AGREE))
    disagree = int(np.count_nonzero(review == ReviewCode.DISAGREE))
    unsure = int(np.count_nonzero(review == ReviewCode.UNSURE))
    labelled = int(np.count_nonzero(review == ReviewCode.LABELLED))
    reviewed = agree + disagree + unsure + labelled
    return ReviewCounts(len(table), reviewed, agree, disagree, unsure, labelled)


@dataclass
class Histogram:
    """Counts of P(tumour) per bin, split by a category (verdict or truth)."""

    edges: np.ndarray
    counts: dict[str, np.ndarray] = field(default_factory=dict)


def histogram_by(table: PatchTable, by: str = "verdict", bins: int = 20) -> Histogram:
    """Histogram of P(tumour) over scored rows, split by review verdict or by ground truth."""
    p, _, truth, review = table.arrays()
    edges = np.linspace(0.0, 1.0, bins + 1)
    scored = ~np.isnan(p)
    if by == "verdict":
        groups = {
            "unreviewed": review == ReviewCode.UNREVIEWED,
            "agree": review == ReviewCode.AGREE,
            "disagree": review == ReviewCode.DISAGREE,
            "unsure": review == ReviewCode.UNSURE,
            "labelled": review == ReviewCode.LABELLED,  # a label key with no P shown
        }
    elif by == "truth":
        groups = {"truth unknown": truth < 0, "truth 0": truth == 0, "truth 1": truth == 1}
    else:
        raise ValueError(f"unknown grouping {by!r}")
    hist = Histogram(edges)
    for name, mask in groups.items():
        hist.counts[name], _ = np.histogram(p[scored & mask], bins=edges)
    return hist
