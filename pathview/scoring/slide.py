"""Scoring the tiles of a whole-slide image: the slide's side of the one scoring loop.

Tiles are read (:meth:`pathview.slide.TileGrid.read`) on a few threads a few batches ahead of
the model, as :func:`pathview.scoring.loop.score_patches` decodes files, and each batch goes
through the same per-batch step, :func:`pathview.scoring.loop.predict_arrays`. A tile that
cannot be read (a truncated slide) is reported with its reason and never stops the run.

The scale comes from the model: :func:`tile_spec_for` reads ``microns_per_pixel`` and
``input_size`` from its metadata, with PatchCamelyon's 0.972 um/px for a model that does not
record its scale.

``pathview score SLIDE --out tiles.csv`` writes :func:`write_tiles_csv`'s columns, in this
order: ``id,label,slide,x,y,size,level,mpp`` - the tile id, P(tumour) (the Kaggle
submission's two columns first), the slide's file name, the tile's level-0 top-left corner
and side in level-0 pixels, the pyramid level it was read from and the slide's level-0
microns per pixel.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pathview.core import CancelToken
from pathview.core.files import atomic_text_writer, csv_cell, spreadsheet_safe
from pathview.model.metadata import ModelMetadata
from pathview.scoring.loop import (
    Predictor,
    Scores,
    default_workers,
    encode_batch,
    input_stage,
    predict_arrays,
    torch_threads,
)
from pathview.slide import (
    MIN_TISSUE_FRACTION,
    PCAM_MICRONS_PER_PIXEL,
    Slide,
    SlideError,
    TileGrid,
    TileSpec,
    open_slide,
    tile_slide,
)

#: Columns of the tiles CSV, in order (see the module docstring).
TILE_COLUMNS = ("id", "label", "slide", "x", "y", "size", "level", "mpp")


def tile_spec_for(metadata: ModelMetadata) -> TileSpec:
    """The tiles a model wants: its input size at its training scale (PCam's when unknown)."""
    return TileSpec(metadata.microns_per_pixel or PCAM_MICRONS_PER_PIXEL, metadata.input_size)


@dataclass(frozen=True)
class TileBatch:
    """Tiles read for one batch: grid rows and pixels of those read, and the rows that
    could not be read with the reason. ``fed``: when an encoder was given (a classifier's
    input stage, :func:`pathview.scoring.loop.input_encoder`), the encoded tiles the
    network is fed (``predict(..., encoded=True)``), else None."""

    rows: list[int]
    pixels: list[np.ndarray]
    failed: list[tuple[int, str]]
    fed: list[np.ndarray] | np.ndarray | None = None

    def predict(self, classifier: Predictor, tta: bool = False, batch_size: int = 256) -> Scores:
        """The batch's scores: the encoded tiles when there are, else the pixels."""
        if self.fed is not None:
            return predict_arrays(classifier, self.fed, tta, batch_size=batch_size, encoded=True)
        return predict_arrays(classifier, self.pixels, tta, batch_size=batch_size)


def read_tiles(
    slide: Slide,
    grid: TileGrid,
    rows: Sequence[int],
    encode: Callable[[np.ndarray], np.ndarray] | None = None,
) -> TileBatch:
    """Read the tiles ``rows`` of ``grid``; unreadable ones are collected, not raised.
    With ``encode`` the tiles are also encoded for the network (in the reading thread)."""
    ok: list[int] = []
    pixels: list[np.ndarray] = []
    failed: list[tuple[int, str]] = []
    for row in rows:
        try:
            pixels.append(grid.read(slide, row))
            ok.append(row)
        except SlideError as exc:
            failed.append((row, str(exc)))
    fed = None if encode is None or not pixels else encode_batch(pixels, encode)
    return TileBatch(ok, pixels, failed, fed)


def iter_tile_batches(
    slide: Slide,
    grid: TileGrid,
    rows: Sequence[int] | None = None,
    batch_size: int = 256,
    workers: int | None = None,
    cancel: CancelToken | None = None,
    encode: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Generator[TileBatch, None, None]:
    """The tiles ``rows`` (default: all) in batches, read ``workers`` batches ahead (and
    encoded with ``encode`` there, see :class:`TileBatch`)."""
    order = list(range(len(grid))) if rows is None else list(rows)
    step = max(1, batch_size)
    starts = iter(range(0, len(order), step))
    n_workers = workers or default_workers()
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="tiles") as pool:
        pending: deque[Future[TileBatch]] = deque()
        try:
            while True:
                while len(pending) <= n_workers:
                    start = next(starts, None)
                    if start is None:
                        break
                    pending.append(
                        pool.submit(read_tiles, slide, grid, order[start : start + step], encode)
                    )
                if not pending:
                    return
                if cancel is not None:
                    cancel.raise_if_cancelled()
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


@dataclass
class SlideScores:
    """P(tumour) of a slide's tiles, rows aligned with ``grid`` (NaN where a tile could not
    be read; ``failed`` says why, by row)."""

    path: Path
    grid: TileGrid
    level: int
    p: np.ndarray
    spread: np.ndarray | None = None
    failed: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def scored(self) -> int:
        return len(self.grid) - len(self.failed)


def score_grid(
    slide: Slide,
    grid: TileGrid,
    classifier: Predictor,
    tta: bool = False,
    batch_size: int = 256,
    workers: int | None = None,
    cancel: CancelToken | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SlideScores:
    """Score every tile of ``grid`` (see the module docstring)."""
    t0 = time.perf_counter()
    n = len(grid)
    p = np.full(n, np.nan, np.float32)
    spread = np.full(n, np.nan, np.float32) if tta else None
    failed: dict[int, str] = {}
    done = 0
    n_workers = workers or default_workers()
    encode, threads = input_stage(classifier, n_workers)
    with torch_threads(threads):
        for batch in iter_tile_batches(slide, grid, None, batch_size, n_workers, cancel, encode):
            scores = batch.predict(classifier, tta, batch_size)
            p[batch.rows] = scores.p
            if spread is not None and scores.spread is not None:
                spread[batch.rows] = scores.spread
            failed.update(batch.failed)
            done += len(batch.rows) + len(batch.failed)
            if progress is not None:
                progress(done, n)
    level = grid.read_level(slide)[0]
    return SlideScores(slide.path, grid, level, p, spread, failed, time.perf_counter() - t0)


def score_slide_file(
    path: Path,
    classifier: Predictor,
    spec: TileSpec,
    mpp: float | None = None,
    tta: bool = False,
    batch_size: int = 256,
    min_tissue: float = MIN_TISSUE_FRACTION,
    progress: Callable[[int, int], None] | None = None,
) -> SlideScores:
    """Open, tile and score one slide file; raises :class:`pathview.slide.SlideError`."""
    with open_slide(path, mpp) as slide:
        grid = tile_slide(slide, spec, min_tissue)
        return score_grid(slide, grid, classifier, tta, batch_size, progress=progress)


def write_tiles_csv(path: Path, results: Sequence[SlideScores]) -> int:
    """Write the tiles CSV (columns :data:`TILE_COLUMNS`) of every scored tile of
    ``results``, slide by slide in grid order; returns the number of rows."""
    rows = 0
    with atomic_text_writer(path) as handle:
        handle.write(",".join(TILE_COLUMNS) + "\n")
        for result in results:
            grid = result.grid
            name = csv_cell(spreadsheet_safe(grid.slide_name))
            ids = grid.ids()
            tail = f",{grid.side},{result.level},{grid.slide_mpp:g}\n"
            for i in range(len(grid)):
                if i in result.failed:
                    continue
                handle.write(
                    f"{csv_cell(spreadsheet_safe(ids[i]))},{float(result.p[i]):.6f},{name},"
                    f"{int(grid.xs[i])},{int(grid.ys[i])}{tail}"
                )
                rows += 1
    return rows


__all__ = [
    "TILE_COLUMNS",
    "SlideScores",
    "TileBatch",
    "iter_tile_batches",
    "read_tiles",
    "score_grid",
    "score_slide_file",
    "tile_spec_for",
    "write_tiles_csv",
]
