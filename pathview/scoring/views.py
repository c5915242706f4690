"""Per-view probabilities of a folder (8 flips/rotations) next to its scores."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from pathview.core import N_VIEWS, CancelToken
from pathview.scoring.folder import ScoreResult, score_folder


def dihedral_pixels(pixels: np.ndarray, k: int) -> np.ndarray:
    """View ``k`` (0..7) of an (N x) H x W x 3 pixel array (0 = identity)."""
    h_axis = pixels.ndim - 3
    if k & 4:
        pixels = np.swapaxes(pixels, h_axis, h_axis + 1)
    if k & 2:
        pixels = np.flip(pixels, h_axis)
    if k & 1:
        pixels = np.flip(pixels, h_axis + 1)
    return np.ascontiguousarray(pixels)


class _HasP(Protocol):
    @property
    def p(self) -> np.ndarray: ...


class _PredictsPlain(Protocol):
    def predict(
        self, pixels: np.ndarray | Sequence[np.ndarray], tta: bool = False, batch_size: int = 256
    ) -> _HasP: ...


def view_probabilities(
    classifier: _PredictsPlain,
    pixels: np.ndarray | Sequence[np.ndarray],
    batch_size: int = 256,
) -> np.ndarray:
    """P(tumour) of each patch under each of the 8 flips/rotations: float32 N x 8.

    Uses only the classifier's public ``predict`` (without TTA) on flipped/rotated pixels;
    the row mean is ``predict(..., tta=True).p`` up to float rounding for square patches.
    """
    views: list[np.ndarray | list[np.ndarray]]
    if isinstance(pixels, np.ndarray):
        views = [dihedral_pixels(pixels, k) for k in range(N_VIEWS)]
    else:
        views = [[dihedral_pixels(np.asarray(a), k) for a in pixels] for k in range(N_VIEWS)]
    cols = [
        np.asarray(classifier.predict(v, tta=False, batch_size=batch_size).p, np.float32)
        for v in views
    ]
    return np.stack(cols, axis=1)


class ViewRecorder:
    """Wraps a classifier for ``score_folder``: each ``predict`` call scores as asked (so ``p``
    is exactly what ``pathview score`` computes) and also records the 8 views' probabilities,
    in call order, in :attr:`views`."""

    def __init__(self, classifier: _PredictsPlain) -> None:
        self.classifier = classifier
        self.model_id = getattr(classifier, "model_id", None)
        self._views: list[np.ndarray] = []

    def predict(
        self, pixels: np.ndarray | Sequence[np.ndarray], tta: bool = False, batch_size: int = 256
    ) -> _HasP:
        """Score as asked, and record the 8 views' probabilities of the same patches."""
        pred = self.classifier.predict(pixels, tta=tta, batch_size=batch_size)
        self._views.append(view_probabilities(self.classifier, pixels, batch_size))
        return pred

    @property
    def views(self) -> np.ndarray:
        return np.concatenate(self._views) if self._views else np.zeros((0, N_VIEWS), np.float32)


def score_folder_with_views(
    folder: str | Path,
    classifier: _PredictsPlain,
    tta: bool = False,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
    recursive: bool = False,
) -> tuple[ScoreResult, np.ndarray]:
    """``score_folder`` plus the N x 8 per-view probabilities (for :func:`unstable_ids`).

    Returns (ScoreResult, views) with views row-aligned to ``result.ids``. Costs 8 more
    forward passes per patch than scoring alone.
    """
    recorder = ViewRecorder(classifier)
    result = score_folder(
        folder,
        recorder,  # type: ignore[arg-type]
        tta=tta,
        batch_size=batch_size,
        progress=progress,
        cancel=cancel,
        recursive=recursive,
    )
    return result, recorder.views
