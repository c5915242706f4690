"""Bulk review: one verdict or label for many patches at once (a map selection), planned.

:func:`plan_bulk` decides which of the picked rows a bulk action records and which it leaves,
with the reason for each group left; the app shows the plan for confirmation and the review
store records it as one event per patch sharing a batch id
(:meth:`pathview.store.ReviewStore.record_batch`), undone as one step. Pure: no Qt, no store.

What a careful reviewer expects of a bulk action:

- it never overwrites a patch the reviewer has already reviewed one by one (that review was a
  closer look than a lasso); those patches are left as they are and counted;
- agree and disagree are relative to the model's call, so they need a P on each patch: patches
  not scored yet are left out, and with no model (or in blind mode, where the call is hidden)
  only labels can be given in bulk;
- a label (tumour, normal) or unsure needs no model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pathview.core import Verdict

#: How many of the patches a confirmation shows.
SAMPLE_SIZE = 12


@dataclass(frozen=True)
class BulkAction:
    """A verdict on the model's call, or a label given directly (1 tumour, 0 normal)."""

    verdict: Verdict | None = None
    label: int | None = None

    def __post_init__(self) -> None:
        if (self.verdict is None) == (self.label is None):
            raise ValueError("a bulk action is a verdict or a label, not both or neither")
        if self.label is not None and self.label not in (0, 1):
            raise ValueError(f"label {self.label} is not 0 or 1")

    @property
    def needs_call(self) -> bool:
        """Agree and disagree need the model's call on each patch."""
        return self.verdict in (Verdict.AGREE, Verdict.DISAGREE)

    def describe(self) -> str:
        """'label tumour', 'agree with the model', 'unsure' ..."""
        if self.label is not None:
            return "label tumour" if self.label == 1 else "label normal"
        return {
            Verdict.AGREE: "agree with the model",
            Verdict.DISAGREE: "disagree with the model",
            Verdict.UNSURE: "unsure",
        }[Verdict(self.verdict)]


#: The bulk actions the app offers, by name.
BULK_ACTIONS: dict[str, BulkAction] = {
    "tumour": BulkAction(label=1),
    "normal": BulkAction(label=0),
    "unsure": BulkAction(verdict=Verdict.UNSURE),
    "agree": BulkAction(verdict=Verdict.AGREE),
    "disagree": BulkAction(verdict=Verdict.DISAGREE),
}


@dataclass(frozen=True)
class BulkPlan:
    """What a bulk action will record: ``rows`` (table rows, ascending), and the rows it
    leaves, counted by reason (in a fixed order). ``refusal`` is set when it can record
    nothing at all (then ``rows`` is empty)."""

    action: BulkAction
    picked: int
    rows: np.ndarray
    skipped: tuple[tuple[str, int], ...] = ()
    refusal: str = ""

    def __len__(self) -> int:
        return len(self.rows)

    def sample(self, k: int = SAMPLE_SIZE) -> np.ndarray:
        """Up to ``k`` of the rows, spread evenly over them (the same ones every time)."""
        n = len(self.rows)
        if n <= k:
            return self.rows.copy()
        at = np.linspace(0, n - 1, k).round().astype(np.int64)
        return self.rows[at]

    def summary(self) -> str:
        """One or two sentences: what is recorded on how many patches, and what is left."""
        if self.refusal:
            return self.refusal
        n = len(self)
        text = (
            f"Record “{self.action.describe()}” on {n:,} of the {self.picked:,} selected "
            f"patch{'es' if self.picked != 1 else ''}, as one bulk review (one review per "
            "patch; undo withdraws them together)."
        )
        left = self.left_text()
        if left:
            text += f" Left as they are: {left}."
        return text

    def left_text(self) -> str:
        """'3 you have reviewed already; 1 not scored yet (...)' ("" when none is left)."""
        return "; ".join(f"{count:,} {reason}" for reason, count in self.skipped if count)


def plan_bulk(
    rows: np.ndarray,
    action: BulkAction,
    p: np.ndarray,
    reviewed: np.ndarray,
    calls_hidden: str = "",
) -> BulkPlan:
    """Plan ``action`` on table ``rows`` (the picked ones).

    ``p``: P(tumour) of every table row (NaN: not scored); ``reviewed``: boolean per table row,
    True where the reviewer already has a review in effect; ``calls_hidden``: why the model's
    calls cannot be used now (no model, blind mode), "" when they can. Agree/disagree are
    refused outright with ``calls_hidden``.
    """
    picked = np.unique(np.asarray(rows, np.int64))
    if not len(picked):
        return BulkPlan(action, 0, picked, refusal="Nothing is selected: pick patches on the map.")
    if action.needs_call and calls_hidden:
        return BulkPlan(action, len(picked), picked[:0], refusal=calls_hidden)
    done = np.asarray(reviewed, bool)[picked]
    keep = ~done
    unscored = np.zeros(len(picked), bool)
    if action.needs_call:
        unscored = keep & np.isnan(np.asarray(p, np.float64)[picked])
        keep &= ~unscored
    skipped = (
        ("you have reviewed already", int(done.sum())),
        ("not scored yet (no call to agree with)", int(unscored.sum())),
    )
    plan = BulkPlan(action, len(picked), picked[keep], skipped)
    if not len(plan):
        return replace(plan, refusal=f"Nothing to record: {plan.left_text()}.")
    return plan
