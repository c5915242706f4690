"""The one scoring loop: decode ahead in threads, group by size, predict, keep the views.

Every caller that scores patch files goes through :func:`score_patches`: ``pathview score``
and ``pathview report`` (via :func:`pathview.scoring.score_folder`), the app's scoring child
process and model thread (via :func:`pathview.scoring.reuse.iter_score_batches`) and
training's evaluation (``pathview.training.evaluate``). Patches already decoded into memory
(training's data sets) go through :func:`score_pixels`, the same per-batch step without the
decoding.

Decoding (TIFF/PNG/JPEG parsing, mostly outside the GIL) runs on a small thread pool a few
batches ahead of the model, so the model never waits for the disk on the critical path.
Unreadable files are reported with their reason and never stop the run. Each batch is
predicted one N x H x W x 3 array per patch size (a folder of 96 x 96 patches is one
array), and the results come back in the order of the input.

With test-time augmentation the classifier scores the 8 flips/rotations; their P(tumour)
(``Prediction.views``) are kept, so the stability of each call costs no extra pass. Asking for
``views`` without TTA runs the same 8 views and keeps ``p`` the plain score: view 0 is the
identity, scored exactly as without TTA.

Asking for ``features`` also returns each patch's embedding: the network's penultimate-layer
features from the same forward pass (``Classifier.predict(..., features=True)``; the mean over
the 8 views with TTA). It is off by default, and P(tumour) is bit for bit the same with it on.

With ``fingerprints`` each scored file's size and mtime (taken just before it was read) and
pixel SHA-1 come back too (``ScoredBatch.files``): what the score cache
(:mod:`pathview.scoring.cache`) keys its rows by.

With ``quality`` each decoded batch is also measured (:mod:`pathview.quality`: the quality
flags' measures, the pixel SHA-1 and the 8-view perceptual hash) in the decoding thread that
decoded it, so the model does not wait for it; ``ScoredBatch.quality`` holds the rows.

A classifier with an input codec (the bundled model's JPEG round trip) has its input stage
(:meth:`pathview.model.Classifier.encode_inputs`) run in the decoding thread too, after the
quality measures (they describe the file's own pixels), and the network is then fed the
encoded patches (``predict(..., encoded=True)``: the same P, bit for bit). The thread that
runs the network then does nothing else, and torch's intra-op threads are lowered for the run
to the cores the decoding threads leave (:func:`network_threads`, at least 1): on two cores
every stage then runs on a thread of its own instead of intra-op threads waiting for each
other. Measured with ``benchmarks/bench_score.py`` (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from pathview.core import N_VIEWS, CancelToken, PatchRef
from pathview.io import pixel_sha1, read_patch
from pathview.quality import PatchQuality
from pathview.scoring.cache import FileKey, stat_key


class ScoredPrediction(Protocol):
    """What a predictor returns (:class:`pathview.model.Prediction` fits): ``p`` per patch;
    with TTA ``spread`` and, where the predictor gives them, the ``views``' P(tumour)."""

    @property
    def p(self) -> np.ndarray: ...


class Predictor(Protocol):
    """What scoring needs of a classifier (:class:`pathview.model.Classifier` fits). The
    ``features`` keyword is passed only when embeddings are asked for, so a predictor that
    gives none need not take it."""

    def predict(
        self, pixels: np.ndarray, tta: bool = False, batch_size: int = 256
    ) -> ScoredPrediction: ...


@dataclass(frozen=True)
class Scores:
    """Scores of a list of patches, rows in its order.

    ``p``: float32 (n,) P(tumour); ``spread``: float32 (n,) the spread over the 8 views with
    TTA (NaN where the predictor gives none), None without; ``views``: float32 (n, 8) each
    view's P(tumour) when TTA or ``views`` was asked for and the predictor gives them, else
    None; ``features``: float32 (n, C) the embeddings when ``features`` was asked for, else
    None.
    """

    p: np.ndarray
    spread: np.ndarray | None = None
    views: np.ndarray | None = None
    features: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.p.shape[0])


@dataclass(frozen=True)
class ScoredBatch:
    """One batch of :func:`score_patches`: the patches scored (in input order) with their
    :class:`Scores`, those that could not be decoded with the reason, and the progress;
    with ``quality`` the scored patches' :class:`pathview.quality.PatchQuality` (else None)."""

    refs: list[PatchRef]
    scores: Scores
    failed: list[tuple[PatchRef, str]]
    done: int
    total: int
    quality: PatchQuality | None = None
    files: list[FileKey] | None = None


def opencv_single_threaded() -> None:
    """Run OpenCV's calls on the calling thread only (a process-wide setting). Scoring runs
    its own decoding threads beside torch's: OpenCV's worker pool (the JPEG input codec, the
    quality measures, resizing) then only competes with them. Measured with
    ``benchmarks/bench_score.py --n 4096 --repeats 5`` on the 2-core machine, end to end:
    2,987 patches/s single-threaded against 2,457 with OpenCV's default 2 threads."""
    import cv2

    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)


def default_workers() -> int:
    """Decoding threads of the loop: 2, at most the CPU count."""
    return max(1, min(2, os.cpu_count() or 1))


def network_threads(workers: int, current: int | None = None) -> int:
    """torch's intra-op threads while ``workers`` decoding threads also encode the inputs:
    the cores they leave, at least 1 and never more than ``current`` (default: torch's
    setting now). On the 2-core machine: 1 (``benchmarks/bench_score.py``: 1 network thread
    beside 2 decoding-and-encoding threads scored faster than 2)."""
    import torch

    now = torch.get_num_threads() if current is None else current
    return max(1, min(now, (os.cpu_count() or 1) - workers))


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` (None: unchanged) inside, restored after."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def input_stage(
    classifier: object, workers: int
) -> tuple[Callable[[np.ndarray], np.ndarray] | None, int | None]:
    """What a loop with ``workers`` reading threads runs there, and torch's threads for the
    network meanwhile: the classifier's :func:`input_encoder` (None: the network's thread
    encodes) and, on a CPU when it has one, :func:`network_threads` (None: unchanged)."""
    encode = input_encoder(classifier)
    on_cpu = str(getattr(classifier, "device", "cpu")).startswith("cpu")
    return encode, network_threads(workers) if encode is not None and on_cpu else None


def input_encoder(classifier: object) -> Callable[[np.ndarray], np.ndarray] | None:
    """The classifier's input stage to run in the decoding threads, or None when it has none
    to run (no input codec) or its ``predict`` cannot take encoded input."""
    if getattr(classifier, "codec", None) is None:
        return None
    encode = getattr(classifier, "encode_inputs", None)
    if encode is None or not _takes(classifier, "encoded"):
        return None
    return encode  # type: ignore[no-any-return]


def _optional(pred: object, name: str, n: int, shape: tuple[int, ...]) -> np.ndarray | None:
    value = getattr(pred, name, None)
    if value is None:
        return None
    return np.asarray(value, dtype=np.float32).reshape(n, *shape)


def empty_scores(tta: bool = False, views: bool = False, features: bool = False) -> Scores:
    """No rows, with the arrays that ``tta``, ``views`` and ``features`` give (the
    features' width is unknown without a patch: 0)."""
    return Scores(
        np.zeros(0, np.float32),
        np.zeros(0, np.float32) if tta else None,
        np.zeros((0, N_VIEWS), np.float32) if tta or views else None,
        np.zeros((0, 0), np.float32) if features else None,
    )


def size_groups(
    arrays: np.ndarray | Sequence[np.ndarray],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Patches (H x W x 3 each, or one N x H x W x 3 array) as (rows, N_s x H x W x 3 stack)
    per patch size, rows indexing ``arrays``: one group in the usual case."""
    n = len(arrays)
    if isinstance(arrays, np.ndarray):
        return [(np.arange(n), arrays)]
    if n and all(a.shape == arrays[0].shape for a in arrays):
        return [(np.arange(n), np.stack(arrays))]
    by_size: dict[tuple[int, ...], list[int]] = {}
    for i, a in enumerate(arrays):
        by_size.setdefault(a.shape, []).append(i)
    return [(np.asarray(rows), np.stack([arrays[i] for i in rows])) for rows in by_size.values()]


def predict_arrays(
    classifier: Predictor,
    arrays: np.ndarray | Sequence[np.ndarray],
    tta: bool = False,
    views: bool = False,
    batch_size: int = 256,
    features: bool = False,
    encoded: bool = False,
) -> Scores:
    """Score decoded patches (H x W x 3 uint8 each, or one N x H x W x 3 array) with one
    ``predict`` per patch size.

    Rows come back in the order of ``arrays``. See the module docstring for ``tta``,
    ``views`` and ``features``; asking for ``views`` or ``features`` from a predictor that
    gives none raises ValueError. ``encoded``: the arrays come from the classifier's
    ``encode_inputs`` (see :func:`input_encoder`).
    """
    n = len(arrays)
    if n == 0:
        return empty_scores(tta, views, features)
    groups = size_groups(arrays)
    p = np.empty(n, np.float32)
    spread = np.full(n, np.nan, np.float32) if tta else None
    view_p: np.ndarray | None = np.empty((n, N_VIEWS), np.float32) if tta or views else None
    feats: np.ndarray | None = None
    extra = {"features": True} if features else {}
    if encoded:
        extra["encoded"] = True
    for rows, stack in groups:
        pred = classifier.predict(stack, tta=tta or views, batch_size=batch_size, **extra)
        if features:
            got_feats = getattr(pred, "features", None)
            if got_feats is None:
                raise ValueError("the classifier gives no features")
            got_feats = np.asarray(got_feats, dtype=np.float32).reshape(len(rows), -1)
            if feats is None:
                feats = np.empty((n, got_feats.shape[1]), np.float32)
            feats[rows] = got_feats
        got_views = _optional(pred, "views", len(rows), (N_VIEWS,))
        if got_views is None:
            if views:
                raise ValueError("the classifier gives no per-view probabilities")
            view_p = None  # a predictor without them: none for the whole batch
        elif view_p is not None:
            view_p[rows] = got_views
        if tta:
            p[rows] = np.asarray(pred.p, dtype=np.float32).reshape(-1)
            got_spread = _optional(pred, "spread", len(rows), ())
            if spread is not None and got_spread is not None:
                spread[rows] = got_spread
        elif views:
            assert got_views is not None
            p[rows] = got_views[:, 0]  # the identity view: the plain score
        else:
            p[rows] = np.asarray(pred.p, dtype=np.float32).reshape(-1)
    return Scores(p, spread, view_p, feats)


def score_pixels(
    classifier: Predictor,
    pixels: np.ndarray,
    tta: bool = False,
    views: bool = False,
    batch_size: int = 256,
    features: bool = False,
) -> Scores:
    """Score patches already in memory (N x H x W x 3 uint8), ``batch_size`` at a time, as
    :func:`score_patches` scores decoded files."""
    step = max(1, batch_size)
    parts = [
        predict_arrays(classifier, pixels[i : i + step], tta, views, batch_size, features)
        for i in range(0, len(pixels), step)
    ]
    return concat_scores(parts, tta, views, features)


def concat_scores(
    parts: Sequence[Scores], tta: bool, views: bool, features: bool = False
) -> Scores:
    """The rows of ``parts`` as one :class:`Scores` (views only if every part has them;
    features when asked for)."""
    if not parts:
        return empty_scores(tta, views, features)
    spread = None
    if tta:
        spread = np.concatenate([s.spread for s in parts if s.spread is not None])
    view_list = [s.views for s in parts]
    all_views = None
    if all(v is not None for v in view_list):
        all_views = np.concatenate([v for v in view_list if v is not None])
    all_features = None
    if features:
        all_features = np.concatenate([s.features for s in parts if s.features is not None])
    return Scores(np.concatenate([s.p for s in parts]), spread, all_views, all_features)


_Decoded = tuple[
    list[PatchRef],
    list[np.ndarray] | np.ndarray,
    list[tuple[PatchRef, str]],
    PatchQuality | None,
    list[FileKey] | None,
]


def assess_arrays(arrays: Sequence[np.ndarray]) -> PatchQuality:
    """The quality rows of decoded patches: measures, pixel SHA-1s and perceptual hashes."""
    return PatchQuality.of_arrays(arrays, [pixel_sha1(a) for a in arrays])


def _by_size(arrays: Sequence[np.ndarray]) -> list[np.ndarray] | np.ndarray:
    """Decoded patches as one N x H x W x 3 array when they share a size (the usual
    case), else the list as it is."""
    groups = size_groups(arrays)
    return groups[0][1] if len(groups) == 1 else list(arrays)


def encode_batch(
    arrays: list[np.ndarray] | np.ndarray, encode: Callable[[np.ndarray], np.ndarray]
) -> list[np.ndarray] | np.ndarray:
    """``encode`` (a classifier's input stage) of decoded patches (one array, or a list of
    several sizes), one call per size; rows in the order of ``arrays`` (one array when they
    share a size)."""
    groups = size_groups(arrays)
    if len(groups) == 1:
        return encode(groups[0][1])
    out: list[np.ndarray] = list(arrays)
    for rows, stack in groups:
        for i, coded in zip(rows.tolist(), encode(stack), strict=True):
            out[i] = coded
    return out


def _decode_chunk(
    root: Path,
    refs: Sequence[PatchRef],
    quality: bool = False,
    fingerprints: bool = False,
    encode: Callable[[np.ndarray], np.ndarray] | None = None,
) -> _Decoded:
    ok_refs: list[PatchRef] = []
    arrays: list[np.ndarray] = []
    failed: list[tuple[PatchRef, str]] = []
    stats: list[tuple[int, int]] = []
    for ref in refs:
        path = ref.path(root)
        seen = stat_key(path) if fingerprints else None
        decoded = read_patch(path)
        if decoded.pixels is None:
            failed.append((ref, str(decoded.error)))
        else:
            ok_refs.append(ref)
            arrays.append(decoded.pixels)
            stats.append(seen if seen is not None else (-1, -1))
    sha1 = [pixel_sha1(a) for a in arrays] if quality or fingerprints else []
    batch = _by_size(arrays)  # stacked once for the quality measures, the codec and the model
    assessed = PatchQuality.of_arrays(batch, sha1) if quality else None
    files = None
    if fingerprints:
        files = [FileKey(size, mtime, h) for (size, mtime), h in zip(stats, sha1, strict=True)]
    fed = batch if encode is None else encode_batch(batch, encode)
    return ok_refs, fed, failed, assessed, files


def score_patches(
    root: Path,
    refs: Sequence[PatchRef],
    classifier: Predictor,
    tta: bool = False,
    views: bool = False,
    batch_size: int = 256,
    workers: int | None = None,
    cancel: CancelToken | None = None,
    features: bool = False,
    quality: bool = False,
    fingerprints: bool = False,
) -> Iterator[ScoredBatch]:
    """Score the patch files ``refs`` under ``root`` batch by batch (see the module docstring).

    ``workers`` decoding threads (default :func:`default_workers`) stay up to ``workers + 1``
    batches ahead of inference; a caller can stop between batches (the app's model thread
    interleaves Grad-CAM requests this way). Setting ``cancel`` raises
    :class:`pathview.core.Cancelled` before the next batch is scored. With ``features``
    each batch's :class:`Scores` carry the embeddings too.
    With ``quality`` each batch carries the :class:`pathview.quality.PatchQuality` of its
    scored patches; with ``fingerprints`` each batch's ``files`` their :class:`FileKey`.
    """
    opencv_single_threaded()
    total = len(refs)
    step = max(1, batch_size)
    starts = range(0, total, step)
    n_workers = workers or default_workers()
    encode, threads = input_stage(classifier, n_workers)
    done = 0
    with (
        torch_threads(threads),
        ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="decode") as pool,
    ):
        pending: deque[Future[_Decoded]] = deque()
        next_start = iter(starts)
        try:
            while True:
                while len(pending) <= n_workers:
                    start = next(next_start, None)
                    if start is None:
                        break
                    pending.append(
                        pool.submit(
                            _decode_chunk,
                            root,
                            refs[start : start + step],
                            quality,
                            fingerprints,
                            encode,
                        )
                    )
                if not pending:
                    return
                if cancel is not None:
                    cancel.raise_if_cancelled()
                ok_refs, arrays, failed, assessed, files = pending.popleft().result()
                scores = predict_arrays(
                    classifier, arrays, tta, views, batch_size, features, encode is not None
                )
                done += len(ok_refs) + len(failed)
                yield ScoredBatch(ok_refs, scores, failed, done, total, assessed, files)
        finally:
            for future in pending:
                future.cancel()


@dataclass(frozen=True)
class ScoreBatch:
    """One batch of scores as the app receives it (from its scoring process or model
    thread), keyed by patch id, plain lists so that it crosses the process boundary as JSON.

    ``p`` per scored id; with TTA ``spread`` and (when the classifier gives them, as
    :class:`pathview.model.Classifier` does) ``views``: float32 len(ids) x 8 per-view
    P(tumour), rows aligned with ``ids``. ``failed``: id -> why it could not be scored.
    When asked for, ``quality`` (the scored patches' :class:`pathview.quality.PatchQuality`)
    and ``features`` (float32 len(ids) x C embeddings), rows aligned with ``ids``.
    """

    ids: list[str]
    p: list[float]
    spread: list[float] | None
    failed: dict[str, str]
    done: int
    total: int
    views: np.ndarray | None = None
    quality: PatchQuality | None = None
    features: np.ndarray | None = None

    @classmethod
    def of(cls, batch: ScoredBatch) -> ScoreBatch:
        """The app's form of a batch of :func:`score_patches`."""
        s = batch.scores
        return cls(
            ids=[r.id for r in batch.refs],
            p=s.p.tolist(),
            spread=None if s.spread is None else s.spread.tolist(),
            failed={ref.id: reason for ref, reason in batch.failed},
            done=batch.done,
            total=batch.total,
            views=s.views,
            quality=batch.quality,
            features=s.features,
        )


def _takes(classifier: object, keyword: str) -> bool:
    predict = getattr(classifier, "predict", None)
    if predict is None:
        return False
    try:
        return keyword in inspect.signature(predict).parameters
    except (TypeError, ValueError):
        return False


def gives_features(classifier: object) -> bool:
    """Whether ``classifier.predict`` takes ``features`` (:class:`pathview.model.Classifier`
    does; a stand-in predictor may not)."""
    return _takes(classifier, "features")
