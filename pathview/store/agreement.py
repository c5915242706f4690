"""Agreement between reviewers: Cohen's kappa (two raters) and Fleiss' kappa (several).

Ratings are the labels reviewers' current reviews imply (tumour 1 / normal 0); unsure reviews
imply no label and do not count. Only patches rated by every reviewer compared are used; the
number of such shared patches is always reported with the kappa.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from pathview.store.reviews import ReviewStore


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa for two raters' paired categorical ratings.

    kappa = (p_o - p_e) / (1 - p_e). When chance agreement is total (p_e == 1, both raters
    always gave one and the same category) kappa is undefined: NaN is returned.
    """
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    n = len(a)
    if n == 0:
        raise ValueError("no items rated by both raters")
    categories = set(a) | set(b)
    p_o = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    p_e = sum((list(a).count(c) / n) * (list(b).count(c) / n) for c in categories)
    if p_e == 1.0:
        return float("nan")
    return (p_o - p_e) / (1.0 - p_e)


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa from a subjects x categories table of rating counts.

    Every row must sum to the same number of raters (at least two). NaN when chance agreement
    is total.
    """
    if not counts:
        raise ValueError("no subjects")
    raters = sum(counts[0])
    if raters < 2 or any(sum(row) != raters for row in counts):
        raise ValueError("every subject needs the same number (>= 2) of ratings")
    n_subjects = len(counts)
    n_categories = len(counts[0])
    p_j = [sum(row[j] for row in counts) / (n_subjects * raters) for j in range(n_categories)]
    p_i = [(sum(c * c for c in row) - raters) / (raters * (raters - 1)) for row in counts]
    p_bar = sum(p_i) / n_subjects
    p_e = sum(p * p for p in p_j)
    if p_e == 1.0:
        return float("nan")
    return (p_bar - p_e) / (1.0 - p_e)


@dataclass(frozen=True, slots=True)
class Agreement:
    """Inter-reviewer agreement over the patches every listed reviewer labelled."""

    reviewers: tuple[str, ...]
    shared_patches: int
    kappa: float
    method: str  # "cohen" or "fleiss"
    observed_agreement: float


def reviewer_agreement(store: ReviewStore, reviewers: Sequence[str] | None = None) -> Agreement:
    """Kappa between reviewers of one store: Cohen's for two, Fleiss' for three or more."""
    states = store.reviewer_states()
    names = tuple(sorted(reviewers if reviewers is not None else store.reviewers()))
    if len(names) < 2:
        raise ValueError("agreement needs at least two reviewers")
    rows: list[list[int]] = []
    for by_reviewer in states.values():
        labels = [by_reviewer[r].label if r in by_reviewer else None for r in names]
        if all(label is not None for label in labels):
            rows.append([int(label) for label in labels if label is not None])
    if not rows:
        return Agreement(names, 0, float("nan"), "cohen" if len(names) == 2 else "fleiss", 0.0)
    observed = sum(1 for r in rows if len(set(r)) == 1) / len(rows)
    if len(names) == 2:
        kappa = cohen_kappa([r[0] for r in rows], [r[1] for r in rows])
        return Agreement(names, len(rows), kappa, "cohen", observed)
    table = [[row.count(0), row.count(1)] for row in rows]
    return Agreement(names, len(rows), fleiss_kappa(table), "fleiss", observed)
