"""Training labels from pathologists' reviews, matched to image files by id and pixel SHA-1.

Reviews come from review stores (``.sqlite``) and/or exported review logs (``.csv``); sources
are merged by event uid, so a store and its own exported log count once. The label of a
reviewed patch follows the export rules of ``pathview.store.export``: agree confirms the
model's call, disagree flips it, unsure is excluded; conflicting reviewers are resolved by the
chosen rule (latest / majority / unanimous), and an adjudication overrides the rule.

A reviewed patch is used only when its image is found and its pixels still hash to the SHA-1
recorded with the review: a renamed or edited file must not silently take another patch's label.
Nothing outside the image folders is ever read: a recorded relative path that is absolute or
climbs out with ``..`` is refused (reported as a mismatch), never followed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pathview.core import Verdict
from pathview.core.files import UnsafePathError, join_inside
from pathview.io import list_patches, pixel_sha1, read_patch
from pathview.store import ConsensusRule, ReviewStore, StoreError, reviewed_labels
from pathview.store.export import read_log_csv, read_store_events


@dataclass(frozen=True, slots=True)
class ReviewedLabel:
    """The training label reviews give one patch, with what identifies its image."""

    patch_id: str
    label: int
    pixel_sha1: str
    relpath: str
    reviewers: tuple[str, ...]


@dataclass
class ReviewLabels:
    """Labels derived from a set of review sources."""

    labels: dict[str, ReviewedLabel]
    sources: list[str]
    reviewers: list[str]
    events: int
    reviewed_patches: int  # patches with any review in effect, labelled or not
    rule: str
    #: Verdicts in effect (each reviewer's current review, and adjudications): value -> count.
    verdicts: dict[str, int] = field(default_factory=dict)
    #: Reviewed patches that get no label (unsure, or reviewers the rule cannot reconcile).
    excluded: list[str] = field(default_factory=list)
    #: Patches whose label an adjudication decided.
    adjudicated: int = 0
    #: The models (weights sha256) the reviewers saw, as recorded with the reviews.
    model_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready snapshot (the retraining run keeps it, so a resume uses the same)."""
        out = asdict(self)
        out["labels"] = {k: asdict(v) for k, v in sorted(self.labels.items())}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReviewLabels:
        """The inverse of :meth:`to_json`."""
        values = dict(data)
        values["labels"] = {
            k: ReviewedLabel(**{**v, "reviewers": tuple(v["reviewers"])})
            for k, v in data["labels"].items()
        }
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Mismatch:
    patch_id: str
    path: str
    recorded_sha1: str
    actual_sha1: str
    reason: str

    def __str__(self) -> str:
        return f"{self.patch_id} ({self.path}): {self.reason}"


@dataclass
class MatchedReviews:
    """Reviewed patches matched to their image files."""

    ids: list[str] = field(default_factory=list)
    pixels: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)


def load_review_labels(
    sources: Sequence[str | os.PathLike[str]],
    rule: ConsensusRule | str = ConsensusRule.LATEST,
) -> ReviewLabels:
    """Merge review stores/logs and derive one training label per reviewed patch."""
    merged = ReviewStore(":memory:")
    try:
        names: list[str] = []
        for source in sources:
            src = Path(source)
            if not src.is_file():
                raise StoreError(f"review source not found: {src}")
            if src.suffix.lower() == ".csv":
                events = read_log_csv(src)
                origin = f"log:{src.name}"
            else:
                events, uid = read_store_events(src)
                origin = f"store:{uid}"
            merged.add_events(events, origin)
            names.append(str(src))
        labels = reviewed_labels(merged, rule)
        states = merged.reviewer_states()
        finals = merged.adjudications()
        by_uid = {e.event_uid: e for e in merged.iter_events()}
        result: dict[str, ReviewedLabel] = {}
        for patch_id, label in labels.items():
            by_reviewer = states.get(patch_id, {})
            latest = finals.get(patch_id) or max(by_reviewer.values(), key=lambda s: s.order)
            event = by_uid[latest.event_uid]
            who = set(by_reviewer)
            if patch_id in finals:
                who.add(finals[patch_id].reviewer)
            result[patch_id] = ReviewedLabel(
                patch_id, label, event.pixel_sha1, event.relpath, tuple(sorted(who))
            )
        in_effect = [s for by in states.values() for s in by.values()] + list(finals.values())
        verdicts = {v.value: 0 for v in Verdict}
        for state in in_effect:  # a label given with no model has no verdict
            key = "label only" if state.verdict is None else state.verdict.value
            verdicts[key] = verdicts.get(key, 0) + 1
        reviewed = set(states) | set(finals)
        return ReviewLabels(
            labels=result,
            sources=names,
            reviewers=merged.reviewers(),
            events=len(by_uid),
            reviewed_patches=len(reviewed),
            rule=ConsensusRule(rule).value,
            verdicts=verdicts,
            excluded=sorted(reviewed - set(result)),
            adjudicated=sum(1 for pid in finals if pid in result),
            model_ids=sorted({s.model_id for s in in_effect if s.model_id}),
        )
    finally:
        merged.close()


def match_reviews_to_images(
    review_labels: ReviewLabels, folders: Sequence[str | os.PathLike[str]]
) -> MatchedReviews:
    """Find each reviewed patch's image in ``folders`` and check its pixel SHA-1.

    The recorded relative path is tried first in each folder, then any file with the patch's
    id. Unreadable files, pixels that no longer match the recorded SHA-1 and recorded paths
    that would leave the folders (absolute, or climbing with ``..``) are reported as
    mismatches and left out; patches whose image is not found are listed as missing.
    """
    index: dict[str, Path] = {}
    for folder in folders:
        root = Path(folder)
        for ref in list_patches(root, recursive=True):
            index.setdefault(ref.id, ref.path(root))
    out = MatchedReviews()
    for patch_id in sorted(review_labels.labels):
        item = review_labels.labels[patch_id]
        path = None
        try:
            for folder in folders:
                candidate = join_inside(folder, item.relpath)
                if item.relpath and candidate.is_file():
                    path = candidate
                    break
        except UnsafePathError as exc:
            out.mismatches.append(
                Mismatch(
                    patch_id,
                    item.relpath,
                    item.pixel_sha1,
                    "",
                    f"recorded path leaves the image folders: {exc}",
                )
            )
            continue
        path = path or index.get(patch_id)
        if path is None:
            out.missing.append(patch_id)
            continue
        decoded = read_patch(path)
        if decoded.pixels is None:
            out.mismatches.append(
                Mismatch(patch_id, str(path), item.pixel_sha1, "", f"unreadable: {decoded.error}")
            )
            continue
        actual = pixel_sha1(decoded.pixels)
        if item.pixel_sha1 and actual != item.pixel_sha1:
            out.mismatches.append(
                Mismatch(
                    patch_id,
                    str(path),
                    item.pixel_sha1,
                    actual,
                    f"pixels changed since review (sha1 {actual[:12]}..., "
                    f"review saw {item.pixel_sha1[:12]}...)",
                )
            )
            continue
        out.ids.append(patch_id)
        out.pixels.append(decoded.pixels)
        out.labels.append(item.label)
    return out
