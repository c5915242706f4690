"""Headless scoring of a patch folder (``pathview score``, ``pathview report``): list it, run
the scoring loop (:func:`pathview.scoring.loop.score_patches`) and collect the scores in
listing order. Unreadable files are collected with their reason and never stop the run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pathview.core import Cancelled, CancelToken, PatchRef
from pathview.core.files import atomic_text_writer, csv_cell, spreadsheet_safe
from pathview.io import iter_patches
from pathview.quality import PatchQuality
from pathview.scoring.cache import ScoreCache, model_key
from pathview.scoring.loop import Predictor, Scores, concat_scores, score_patches
from pathview.scoring.reuse import lookup_scores, record_batch

#: Progress callback: (patches done, total).
ScoreProgress = Callable[[int, int], None]


@dataclass
class ScoreResult:
    """Scores of a folder in listing order (sorted by relative path).

    ``p`` is calibrated P(tumour) per scored patch; ``spread`` the TTA spread (None without
    TTA); ``views`` each patch's P(tumour) under the 8 flips/rotations (N x 8, with TTA or
    when asked for; else None); ``failed`` lists (relative path, reason) of files that could
    not be decoded; ``features`` the embeddings (N x C, see :mod:`pathview.scoring.loop`) when
    asked for, else None. ``cancelled`` is True when the run stopped early (the arrays hold what was
    done). ``quality`` holds the scored patches' :class:`pathview.quality.PatchQuality` (rows
    aligned with ``ids``) when scored with ``quality``, else None. ``cached``: how many of
    the rows came from the score cache.
    """

    folder: Path
    ids: list[str] = field(default_factory=list)
    relpaths: list[str] = field(default_factory=list)
    p: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    spread: np.ndarray | None = None
    views: np.ndarray | None = None
    features: np.ndarray | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    model_id: str | None = None
    quality: PatchQuality | None = None
    cached: int = 0  # patches whose scores came from the score cache

    @property
    def scored(self) -> int:
        return len(self.ids)

    def as_dict(self) -> dict[str, float]:
        """id -> P(tumour)."""
        return dict(zip(self.ids, self.p.tolist(), strict=True))


def score_folder(
    folder: str | os.PathLike[str],
    classifier: Predictor,
    tta: bool = False,
    batch_size: int = 256,
    progress: ScoreProgress | None = None,
    cancel: CancelToken | None = None,
    recursive: bool = False,
    workers: int | None = None,
    views: bool = False,
    features: bool = False,
    quality: bool = False,
    cache: ScoreCache | None = None,
) -> ScoreResult:
    """Score every patch file in ``folder`` (sub-folders too with ``recursive``).

    ``classifier`` is a :class:`pathview.model.Classifier` (anything with its ``predict``).
    ``workers`` decoding threads (default: 2, at most the CPU count) stay up to
    ``workers + 1`` batches ahead of inference. ``progress(done, total)`` is called after each
    batch; setting ``cancel`` stops between batches with ``cancelled=True``. With ``views``
    (or TTA) ``result.views`` holds each patch's P(tumour) under the 8 flips/rotations (with
    ``views`` alone ``p`` stays the plain score). With ``features`` ``result.features`` holds
    each patch's embedding from the same forward pass. With ``quality`` ``result.quality``
    holds the quality measures, pixel SHA-1s and perceptual hashes (computed while decoding).
    With ``cache`` (:class:`pathview.scoring.cache.ScoreCache`) the patches it answers are
    not scored again and what is scored is recorded there (with ``quality`` a patch is
    answered by the cache only when its quality rows are cached too).
    Raises :class:`pathview.io.FolderError` if the folder cannot be listed.
    """
    t0 = time.perf_counter()
    root = Path(folder)
    refs = [
        ref for batch in iter_patches(root, recursive=recursive, cancel=cancel) for ref in batch
    ]
    refs.sort(key=lambda r: r.relpath)
    result = ScoreResult(folder=root, total=len(refs))
    result.model_id = getattr(classifier, "model_id", None)
    if cancel is not None and cancel.cancelled:
        result.cancelled = True
        return result
    model_id = model_key(classifier)
    lookup = None
    if cache is not None and model_id:
        lookup = lookup_scores(cache, root, refs, model_id, tta, views, features, quality)
    todo = refs if lookup is None else [refs[int(i)] for i in lookup.misses]
    cached = 0 if lookup is None else len(lookup.hits)
    parts: list[Scores] = []
    rows: list[np.ndarray] = []  # listing index of each part's rows
    assessed: list[PatchQuality] = []
    position = {r.relpath: i for i, r in enumerate(refs)}
    if lookup is not None and cached:
        parts.append(lookup.scores)
        rows.append(lookup.hits)
        if lookup.quality is not None:
            assessed.append(lookup.quality)
    if progress is not None:
        progress(cached, len(refs))
    batches = score_patches(
        root,
        todo,
        classifier,
        tta,
        views,
        batch_size=batch_size,
        workers=workers,
        cancel=cancel,
        features=features,
        quality=quality,
        fingerprints=cache is not None and bool(model_id),
    )
    try:
        for batch in batches:
            result.failed.extend((ref.relpath, reason) for ref, reason in batch.failed)
            if batch.refs:
                parts.append(batch.scores)
                rows.append(np.asarray([position[r.relpath] for r in batch.refs], np.int64))
                if batch.quality is not None:
                    assessed.append(batch.quality)
                if cache is not None and model_id:
                    record_batch(cache, model_id, batch, tta)
            if progress is not None:
                progress(cached + batch.done, len(refs))
    except Cancelled:
        result.cancelled = True
    order = _collect(result, refs, parts, rows, tta, views, features)
    result.cached = cached
    if quality:  # in listing order, as the scores
        result.quality = PatchQuality.concat(assessed).take(order)
    result.seconds = time.perf_counter() - t0
    return result


def _collect(
    result: ScoreResult,
    refs: list[PatchRef],
    parts: list[Scores],
    rows: list[np.ndarray],
    tta: bool,
    views: bool,
    features: bool,
) -> np.ndarray:
    """Put the scored rows (cache hits and scored batches) in listing order; returns that
    order (indices into the parts' rows, concatenated)."""
    scores = concat_scores(parts, tta, views, features)
    at = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    order = np.argsort(at, kind="stable")
    picked = at[order]
    result.ids = [refs[int(i)].id for i in picked]
    result.relpaths = [refs[int(i)].relpath for i in picked]
    result.p = scores.p[order]
    result.spread = None if scores.spread is None else scores.spread[order]
    result.views = None if scores.views is None else scores.views[order]
    result.features = None if scores.features is None else scores.features[order]
    return order


def write_scores_csv(
    path: str | os.PathLike[str], ids: Sequence[str], p: Sequence[float] | np.ndarray
) -> int:
    """Write ``id,label`` rows (label = P(tumour), the Kaggle submission format) atomically.

    Returns the number of rows. The file appears complete or not at all. An id a spreadsheet
    would run as a formula gets a leading ``'`` (see ``pathview.core.files.spreadsheet_safe``).
    """
    if len(ids) != len(p):
        raise ValueError(f"{len(ids)} ids but {len(p)} scores")
    with atomic_text_writer(path) as handle:
        handle.write("id,label\n")
        for pid, prob in zip(ids, np.asarray(p, dtype=np.float64).tolist(), strict=True):
            handle.write(f"{csv_cell(spreadsheet_safe(pid))},{prob:.6f}\n")
    return len(ids)
