"""Shared dataclasses and constants for every layer of pathview."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from pathview.core.files import join_inside

#: Side of a PatchCamelyon / Kaggle patch in pixels.
NATIVE_SIZE = 96

#: The label-defining central region of a native patch: (x0, y0, x1, y1), half-open.
#: PCam labels a patch positive when this 32x32 square holds at least one tumour pixel.
CENTRE_BOX = (32, 32, 64, 64)

#: Test-time augmentation scores each patch in 8 views: the flips/rotations of the square
#: (``pathview.model.dihedral_view``); per-view P(tumour) arrays are N x N_VIEWS.
N_VIEWS = 8

#: File extensions pathview lists as patches (lower case, with the dot).
IMAGE_EXTENSIONS = frozenset({".tif", ".tiff", ".png", ".jpg", ".jpeg", ".webp"})


class Verdict(str, enum.Enum):
    """A reviewer's verdict on the model's call for one patch."""

    AGREE = "agree"
    DISAGREE = "disagree"
    UNSURE = "unsure"


def implied_label(verdict: Verdict, p_tumour: float | None) -> int | None:
    """Label a verdict implies given the model's P(tumour) shown to the reviewer.

    Agree keeps the model's call (P >= 0.5 means tumour), disagree flips it, unsure implies
    nothing. Without a probability there is no call to agree with, so no label either.
    """
    if verdict is Verdict.UNSURE or p_tumour is None:
        return None
    model_call = 1 if p_tumour >= 0.5 else 0
    return model_call if verdict is Verdict.AGREE else 1 - model_call


def verdict_for_label(label: int, p_tumour: float | None) -> Verdict | None:
    """The verdict a label given directly amounts to on the model's call at ``p_tumour``:
    agree when it is the call (P >= 0.5 means tumour), disagree otherwise, None without a P."""
    if p_tumour is None:
        return None
    return Verdict.AGREE if int(p_tumour >= 0.5) == label else Verdict.DISAGREE


#: Which P(tumour) a reviewer was shown: one view of the patch, or the mean of the TTA views.
VIEW_SINGLE = "single"
VIEW_TTA = "tta"
VIEWS = ("", VIEW_SINGLE, VIEW_TTA)  # "" where no P was shown (or before it was recorded)


@dataclass(frozen=True, slots=True)
class PatchRef:
    """One patch file found in a folder: its id (file stem) and path relative to the root."""

    id: str
    relpath: str

    def path(self, root: Path) -> Path:
        """The file under ``root``; UnsafePathError for a relpath that would leave it."""
        return join_inside(root, self.relpath)
