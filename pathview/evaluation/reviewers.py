"""Who reviewed, how much they agree, and what is left to adjudicate (reads the store)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from pathview.store import (
    ConsensusRule,
    ReviewStore,
    adjudication_queue,
    reviewed_labels,
)
from pathview.store.agreement import Agreement, reviewer_agreement


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
