"""Agreement between reviewers: Cohen's kappa (two raters) and Fleiss' kappa (several).

Ratings are the labels reviewers' current reviews imply (tumour 1 / normal 0); unsure reviews
imply no label and do not count. Only patches rated by every reviewer compared are used; the
number of such shared patches is always reported with the kappa. The kappas themselves are
computed by :mod:`pathview.stats.agreement`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pathview.stats.agreement import cohen_kappa, fleiss_kappa
from pathview.store.reviews import ReviewStore


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
