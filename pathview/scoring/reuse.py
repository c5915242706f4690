"""Scoring that reuses the score cache (:mod:`pathview.scoring.cache`): look the patches up,
score only those the cache cannot answer, and record what was scored.

:func:`lookup_scores` splits a list of patches into cache hits (with their scores) and the
rest; :func:`record_batch` writes one scored batch into the cache; :func:`iter_score_batches`
is the app's scoring (its scoring child process and model thread): with a cache, the hits
come first (in batches, without decoding or the model), then the rest as they are scored.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pathview.core import N_VIEWS, CancelToken, PatchRef
from pathview.quality import PatchQuality
from pathview.scoring.cache import ScoreCache, model_key
from pathview.scoring.loop import (
    Predictor,
    ScoreBatch,
    ScoredBatch,
    Scores,
    gives_features,
    score_patches,
)

#: Cache hits per batch sent to the app (a batch is one JSON line from the scoring child).
HITS_PER_BATCH = 2000
#: Patches per scored batch in the app (its scoring child and its model thread): 256 scored
#: 20,000 patches at 0.93-1.00 of ``pathview score``'s rate, 128 at 0.80-0.94
#: (``benchmarks/bench_gui_responsiveness.py --compare-cli``, docs/BENCHMARKS.md).
APP_BATCH_SIZE = 256


@dataclass(frozen=True)
class CacheLookup:
    """Which of a list of patches the cache answers: ``hits`` (indices into the list, in its
    order) with their :class:`Scores` (rows aligned with ``hits``) and ``misses`` (indices
    of the patches to score); with ``quality`` asked for, the hits' quality rows (aligned with
    ``hits``)."""

    hits: np.ndarray
    scores: Scores
    misses: np.ndarray
    quality: PatchQuality | None = None


def lookup_scores(
    cache: ScoreCache,
    root: Path,
    refs: Sequence[PatchRef],
    model_id: str,
    tta: bool = False,
    views: bool = False,
    features: bool = False,
    quality: bool = False,
) -> CacheLookup:
    """The patches of ``refs`` whose file is unchanged since it was scored by ``model_id``
    with everything asked for (TTA P, spread and views with ``tta``; the views with
    ``views``; the embeddings with ``features``; the quality rows with ``quality``), and
    their scores as the scoring loop would give them (``p`` the TTA P with ``tta``, else the
    single-view P)."""
    sha1 = cache.known_sha1(root, refs)
    rows = cache.scores(model_id)
    hits: list[int] = []
    p: list[float] = []
    spread: list[float] = []
    view_rows: list[np.ndarray] = []
    hit_sha1: list[str] = []
    for i, key in enumerate(sha1):
        row = None if key is None else rows.get(key)
        if row is None:
            continue
        if tta and (row.tta_p is None or row.views is None):
            continue
        if views and row.views is None:
            continue
        value = row.tta_p if tta else row.p
        if value is None:
            continue
        assert key is not None
        hits.append(i)
        hit_sha1.append(key)
        p.append(value)
        spread.append(math.nan if row.spread is None else row.spread)
        if row.views is not None:
            view_rows.append(row.views)
    feats: np.ndarray | None = None
    assessed: PatchQuality | None = None

    def keep_found(found: np.ndarray) -> np.ndarray:
        """Keep the hits ``found`` marks (the cache had the extra rows asked for)."""
        nonlocal hits, p, spread, view_rows, hit_sha1
        keep = np.flatnonzero(found)
        hits, p, spread = [hits[k] for k in keep], [p[k] for k in keep], [spread[k] for k in keep]
        hit_sha1 = [hit_sha1[k] for k in keep]
        if tta or views:
            view_rows = [view_rows[k] for k in keep]
        return keep

    if features and hits:
        feats, found = cache.get_embeddings(model_id, hit_sha1)
        feats = feats[keep_found(found)]
    if quality:
        assessed, found = cache.get_quality(hit_sha1)
        keep = keep_found(found)
        if feats is not None:
            feats = feats[keep]
    n = len(hits)
    scores = Scores(
        np.asarray(p, np.float32).reshape(n),
        np.asarray(spread, np.float32).reshape(n) if tta else None,
        np.asarray(view_rows, np.float32).reshape(n, N_VIEWS) if tta or views else None,
        (feats if feats is not None else np.zeros((0, 0), np.float32)) if features else None,
    )
    hit_array = np.asarray(hits, np.int64)
    misses = np.setdiff1d(np.arange(len(refs), dtype=np.int64), hit_array, assume_unique=True)
    return CacheLookup(hit_array, scores, misses, assessed)


def record_batch(cache: ScoreCache, model_id: str, batch: ScoredBatch, tta: bool) -> None:
    """Write one batch of :func:`pathview.scoring.score_patches` (scored with
    ``fingerprints``) into the cache: its files, scores and (when computed) embeddings and
    quality rows, in one transaction."""
    if batch.files is None or not batch.refs:
        return
    sha1 = [k.sha1 for k in batch.files]
    s = batch.scores
    with cache.writing():  # one transaction: the batch is kept whole or not at all
        # A file that could not be stat'ed is not recorded: its scores are kept by pixels.
        cache.put_files(
            (ref.relpath, key)
            for ref, key in zip(batch.refs, batch.files, strict=True)
            if key.size >= 0
        )
        cache.put_scores(model_id, sha1, s.p, tta, s.spread, s.views)
        if s.features is not None and s.features.shape[1] > 0:
            cache.put_embeddings(model_id, sha1, s.features)
        if batch.quality is not None:
            cache.put_quality(batch.quality)


def _hit_batches(refs: Sequence[PatchRef], lookup: CacheLookup, total: int) -> Iterator[ScoreBatch]:
    s = lookup.scores
    for start in range(0, len(lookup.hits), HITS_PER_BATCH):
        part = slice(start, start + HITS_PER_BATCH)
        rows = lookup.hits[part]
        yield ScoreBatch(
            ids=[refs[int(i)].id for i in rows],
            p=s.p[part].tolist(),
            spread=None if s.spread is None else s.spread[part].tolist(),
            failed={},
            done=start + len(rows),
            total=total,
            views=None if s.views is None else s.views[part],
            quality=None
            if lookup.quality is None
            else lookup.quality.take(np.arange(len(lookup.hits))[part]),
            features=None if s.features is None else s.features[part],
        )


def iter_score_batches(
    root: Path,
    refs: Sequence[PatchRef],
    classifier: Predictor,
    tta: bool = False,
    batch_size: int = APP_BATCH_SIZE,
    cancel: CancelToken | None = None,
    cache: Path | None = None,
    quality: bool = False,
    features: bool = False,
) -> Iterator[ScoreBatch]:
    """:func:`score_patches` for the app: batches as :class:`ScoreBatch`. Unreadable files
    are reported, not raised; ``cancel`` raises :class:`pathview.core.Cancelled` between
    batches. With ``cache`` (a score cache file) the patches it answers come first, without
    decoding, and what is scored is recorded there. With ``quality`` and ``features``
    (where the classifier gives them, see :func:`pathview.scoring.loop.gives_features`)
    the batches carry the quality rows and the embeddings; a cache hit then needs its
    embedding and its quality rows cached too (else it is scored again)."""
    features = features and gives_features(classifier)
    store = ScoreCache.open(cache) if cache is not None else None
    model_id = model_key(classifier)
    if store is not None and not model_id:
        store.close()
        store = None
    try:
        todo: Sequence[PatchRef] = refs
        done = 0
        if store is not None:
            lookup = lookup_scores(
                store, root, refs, model_id, tta, features=features, quality=quality
            )
            for batch in _hit_batches(refs, lookup, len(refs)):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                yield batch
            done = len(lookup.hits)
            todo = [refs[int(i)] for i in lookup.misses] if done else refs
        for scored in score_patches(
            root,
            todo,
            classifier,
            tta,
            batch_size=batch_size,
            cancel=cancel,
            fingerprints=store is not None,
            features=features,
            quality=quality,
        ):
            if store is not None:
                record_batch(store, model_id, scored, tta)
            batch = ScoreBatch.of(scored)
            yield ScoreBatch(
                batch.ids,
                batch.p,
                batch.spread,
                batch.failed,
                done + batch.done,
                len(refs),
                batch.views,
                batch.quality,
                batch.features,
            )
    finally:
        if store is not None:
            store.close()
