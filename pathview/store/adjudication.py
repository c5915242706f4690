"""Final verdicts: an adjudicator settles a patch the reviewers disagree on."""

from __future__ import annotations

from pathview.core import Verdict
from pathview.store.reviews import ADJUDICATOR, ReviewEvent, ReviewInput, ReviewStore


def record_adjudication(
    store: ReviewStore,
    patch_id: str,
    label: int | None,
    adjudicator: str,
    p_tumour: float | None = None,
    model_id: str = "",
    note: str = "",
) -> ReviewEvent:
    """Record a final verdict ``label`` (1 tumour, 0 normal, None unsure) on ``patch_id``.

    Stored as a review in the adjudicator role: agree when the label is the model's call at
    ``p_tumour`` (P >= 0.5), disagree otherwise, so the store derives that label. Without a
    ``p_tumour`` the one the reviewers were shown is used. Export and retraining honour it.
    """
    if label not in (None, 0, 1):
        raise ValueError(f"label must be 0, 1 or None, not {label!r}")
    if p_tumour is None:
        shown = [
            s.p_tumour
            for s in store.reviewer_states().get(patch_id, {}).values()
            if s.p_tumour is not None
        ]
        p_tumour = shown[-1] if shown else None
    if label is None:
        verdict = Verdict.UNSURE
    else:
        if p_tumour is None:
            raise ValueError(f"no P(tumour) known for {patch_id}: cannot express label {label}")
        verdict = Verdict.AGREE if int(p_tumour >= 0.5) == label else Verdict.DISAGREE
    return store.record(
        ReviewInput(
            patch_id=patch_id,
            verdict=verdict,
            reviewer=adjudicator,
            model_id=model_id,
            p_tumour=p_tumour,
            note=note,
            role=ADJUDICATOR,
        )
    )
