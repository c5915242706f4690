"""Headless scoring of a patch folder: decode in background threads, infer in batches.

Decoding (TIFF/PNG/JPEG parsing, mostly outside the GIL) runs on a small thread pool a few
batches ahead of the model, so the model never waits for the disk on the critical path.
Unreadable files are collected with their reason and never stop the run.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from pathview.core import CancelToken, PatchRef
from pathview.core.files import atomic_text_writer
from pathview.io import iter_patches, read_patch

#: Progress callback: (patches done, total).
ScoreProgress = Callable[[int, int], None]


class _Prediction(Protocol):
    @property
    def p(self) -> np.ndarray: ...
    @property
    def spread(self) -> np.ndarray | None: ...


class _Predicts(Protocol):
    def predict(
        self, pixels: np.ndarray | Sequence[np.ndarray], tta: bool = False, batch_size: int = 256
    ) -> _Prediction: ...


@dataclass
class ScoreResult:
    """Scores of a folder in listing order (sorted by relative path).

    ``p`` is calibrated P(tumour) per scored patch; ``spread`` the TTA spread (None without
    TTA); ``failed`` lists (relative path, reason) of files that could not be decoded.
    ``cancelled`` is True when the run stopped early (the arrays hold what was done).
    """

    folder: Path
    ids: list[str] = field(default_factory=list)
    relpaths: list[str] = field(default_factory=list)
    p: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    spread: np.ndarray | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    model_id: str | None = None

    @property
    def scored(self) -> int:
        return len(self.ids)

    def as_dict(self) -> dict[str, float]:
        """id -> P(tumour)."""
        return dict(zip(self.ids, self.p.tolist(), strict=True))


def _decode_chunk(
    root: Path, refs: Sequence[PatchRef]
) -> tuple[list[PatchRef], list[np.ndarray], list[tuple[str, str]]]:
    ok_refs: list[PatchRef] = []
    arrays: list[np.ndarray] = []
    failed: list[tuple[str, str]] = []
    for ref in refs:
        decoded = read_patch(ref.path(root))
        if decoded.pixels is None:
            failed.append((ref.relpath, str(decoded.error)))
        else:
            ok_refs.append(ref)
            arrays.append(decoded.pixels)
    return ok_refs, arrays, failed


def _stack(arrays: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """One N x H x W x 3 array when all share a shape (the fast path), else the list."""
    first = arrays[0].shape
    if all(a.shape == first for a in arrays):
        return np.stack(arrays)
    return arrays


def score_folder(
    folder: str | os.PathLike[str],
    classifier: _Predicts,
    tta: bool = False,
    batch_size: int = 256,
    progress: ScoreProgress | None = None,
    cancel: CancelToken | None = None,
    recursive: bool = False,
    workers: int | None = None,
) -> ScoreResult:
    """Score every patch file in ``folder`` (sub-folders too with ``recursive``).

    ``classifier`` is a :class:`pathview.model.Classifier` (anything with its ``predict``).
    ``workers`` decoding threads (default: 2, at most the CPU count) stay up to
    ``workers + 1`` batches ahead of inference. ``progress(done, total)`` is called after each
    batch; setting ``cancel`` stops between batches with ``cancelled=True``. Raises
    :class:`pathview.io.FolderError` if the folder cannot be listed.
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
    n_workers = workers or max(1, min(2, os.cpu_count() or 1))
    chunks = [refs[i : i + batch_size] for i in range(0, len(refs), max(1, batch_size))]
    probs: list[np.ndarray] = []
    spreads: list[np.ndarray] = []
    done = 0
    if progress is not None:
        progress(0, len(refs))
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="decode") as pool:
        pending: deque[Future[tuple[list[PatchRef], list[np.ndarray], list[tuple[str, str]]]]]
        pending = deque()
        next_chunk = 0
        try:
            while next_chunk < len(chunks) or pending:
                while next_chunk < len(chunks) and len(pending) <= n_workers:
                    pending.append(pool.submit(_decode_chunk, root, chunks[next_chunk]))
                    next_chunk += 1
                if cancel is not None and cancel.cancelled:
                    result.cancelled = True
                    break
                ok_refs, arrays, failed = pending.popleft().result()
                result.failed.extend(failed)
                if arrays:
                    pred = classifier.predict(_stack(arrays), tta=tta, batch_size=batch_size)
                    probs.append(np.asarray(pred.p, np.float32).reshape(-1))
                    if tta:
                        spreads.append(np.asarray(pred.spread, np.float32).reshape(-1))
                    result.ids.extend(r.id for r in ok_refs)
                    result.relpaths.extend(r.relpath for r in ok_refs)
                done += len(ok_refs) + len(failed)
                if progress is not None:
                    progress(done, len(refs))
        finally:
            for fut in pending:
                fut.cancel()
    result.p = np.concatenate(probs) if probs else np.zeros(0, np.float32)
    if tta:
        result.spread = np.concatenate(spreads) if spreads else np.zeros(0, np.float32)
    result.seconds = time.perf_counter() - t0
    return result


def write_scores_csv(
    path: str | os.PathLike[str], ids: Sequence[str], p: Sequence[float] | np.ndarray
) -> int:
    """Write ``id,label`` rows (label = P(tumour), the Kaggle submission format) atomically.

    Returns the number of rows. The file appears complete or not at all.
    """
    if len(ids) != len(p):
        raise ValueError(f"{len(ids)} ids but {len(p)} scores")
    with atomic_text_writer(path) as handle:
        handle.write("id,label\n")
        for pid, prob in zip(ids, np.asarray(p, dtype=np.float64).tolist(), strict=True):
            handle.write(f"{pid},{prob:.6f}\n")
    return len(ids)
