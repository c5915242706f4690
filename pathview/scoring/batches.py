"""Scoring a list of patches batch by batch, for callers that interleave other work (the
app's model thread and scoring process)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from pathview.core import N_VIEWS, CancelToken, PatchRef
from pathview.io import read_patch


class Predictor(Protocol):
    """What scoring needs of a classifier (pathview.model.Classifier fits)."""

    def predict(self, pixels: np.ndarray, tta: bool = False) -> object: ...


@dataclass(frozen=True)
class ScoreBatch:
    """Scores for one batch of patches, plus those that could not be scored and why.

    With TTA, ``spread`` and (when the classifier gives them, as
    :class:`pathview.model.Classifier` does) ``views``: float32 len(ids) x 8 per-view
    P(tumour), rows aligned with ``ids``.
    """

    ids: list[str]
    p: list[float]
    spread: list[float] | None
    failed: dict[str, str]
    done: int
    total: int
    views: np.ndarray | None = None


def iter_score_batches(
    root: Path,
    refs: Sequence[PatchRef],
    classifier: Predictor,
    tta: bool = False,
    batch_size: int = 128,
    cancel: CancelToken | None = None,
) -> Iterator[ScoreBatch]:
    """Score ``refs`` batch by batch; a caller can stop between batches (the model thread
    interleaves Grad-CAM requests this way). Unreadable files are reported, not raised."""
    total = len(refs)
    done = 0
    for start in range(0, total, batch_size):
        if cancel is not None:
            cancel.raise_if_cancelled()
        chunk = refs[start : start + batch_size]
        by_size: dict[tuple[int, ...], list[tuple[str, np.ndarray]]] = {}
        failed: dict[str, str] = {}
        for ref in chunk:
            decoded = read_patch(ref.path(root))
            if decoded.pixels is None:
                failed[ref.id] = str(decoded.error)
            else:
                by_size.setdefault(decoded.pixels.shape, []).append((ref.id, decoded.pixels))
        ids: list[str] = []
        ps: list[float] = []
        spreads: list[float] = []
        views: list[np.ndarray | None] = []
        for items in by_size.values():
            stack = np.stack([px for _, px in items])
            pred = classifier.predict(stack, tta=tta)
            p_arr = np.asarray(pred.p, dtype=np.float64).reshape(-1)  # type: ignore[attr-defined]
            spread = getattr(pred, "spread", None)
            s_arr = (
                np.full(len(items), np.nan)
                if spread is None
                else np.asarray(spread, dtype=np.float64).reshape(-1)
            )
            view_p = getattr(pred, "views", None)
            views.append(None if view_p is None else np.asarray(view_p, np.float32))
            ids.extend(pid for pid, _ in items)
            ps.extend(p_arr.tolist())
            spreads.extend(s_arr.tolist())
        done += len(chunk)
        all_views = None
        if tta and views and all(v is not None for v in views):
            all_views = np.concatenate([v for v in views if v is not None]).reshape(-1, N_VIEWS)
        yield ScoreBatch(ids, ps, spreads if tta else None, failed, done, total, all_views)
