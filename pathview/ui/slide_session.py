"""SlideSession: one open slide in the app, its tiles, their scores, the current tile and reviews.

The slide is opened, its overview read and its tiles listed on a pool thread
(:class:`pathview.workers.TaskPool`). The model is loaded and the tiles scored on another, the
model thread, one batch per task, each batch arriving as ``scores_arrived``, so that the
current tile's Grad-CAM (:meth:`SlideSession.explain`) runs between two batches on the same
thread. A slide that does not record its microns per pixel emits ``mpp_needed``;
:meth:`SlideSession.answer_mpp` records the user's answer beside the slide
(:func:`pathview.slide.record_mpp`) and opens it again. Reviews go to the review store of the
slide's folder, recorded as the folder view records them, with the tile's id, its relative path
``SLIDE#x=..,y=..,size=..,mpp=..`` (slide, level-0 coordinates, um/pixel) and the SHA-1 of the
pixels shown, so ``pathview export-patches`` can write them out for retraining.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from pathview.core import VIEW_SINGLE, Verdict
from pathview.explain import Explanation, explain_patch
from pathview.io import pixel_sha1
from pathview.scoring.loop import predict_arrays
from pathview.scoring.slide import TileBatch, iter_tile_batches, tile_spec_for
from pathview.slide import (
    MissingMppError,
    Slide,
    SlideError,
    TileGrid,
    TileSpec,
    open_slide,
    record_mpp,
    tile_slide,
)
from pathview.store import ReviewInput, ReviewStore, store_path_for_folder
from pathview.workers.tasks import TaskPool

#: Longer side of the overview the slide view starts from (read once, at opening).
OVERVIEW_SIDE = 2048


@dataclass(frozen=True)
class OpenedSlide:
    """A slide ready to show: the open slide, its overview and downsample, its tiles."""

    slide: Slide
    overview: np.ndarray
    scale: float
    grid: TileGrid


def _open(path: Path, spec: TileSpec) -> OpenedSlide | str:
    try:
        slide = open_slide(path)
    except MissingMppError:
        return "mpp"
    except SlideError as exc:
        return str(exc)
    try:
        overview, scale = slide.overview(OVERVIEW_SIDE)
        grid = tile_slide(slide, spec, overview=(overview, scale))
    except SlideError as exc:
        slide.close()
        return str(exc)
    return OpenedSlide(slide, overview, scale, grid)


def _next_batch(
    classifier: Any, batches: Generator[TileBatch, None, None] | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Score the next batch of tiles (rows, P), or None when there are no more."""
    batch = next(batches, None) if batches is not None else None
    if batch is None:
        return None
    return np.asarray(batch.rows, np.int64), predict_arrays(classifier, batch.pixels).p


class SlideSession(QObject):
    """State and behaviour of the slide view (see the module docstring)."""

    opened = Signal(OpenedSlide)
    failed = Signal(str)
    mpp_needed = Signal(Path)
    scores_arrived = Signal(object, object)  # rows (int array), P(tumour) (float array)
    scoring_finished = Signal(str)  # "done" or the reason
    current_changed = Signal(int)  # tile row, -1 for none
    review_recorded = Signal(int, str)  # tile row, verdict
    explained = Signal(int, Explanation)  # tile row, its Grad-CAM

    def __init__(
        self, loader: Callable[[], Any] | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._pool = TaskPool("slide", threads=1, parent=self)
        # Scoring batches and Grad-CAM share one thread: the hooks must not see a scoring pass.
        self._model_pool = TaskPool("slide-model", threads=1, parent=self)
        self._classifier: Any = None
        self._batches: Generator[TileBatch, None, None] | None = None
        self.path: Path | None = None
        self.state: OpenedSlide | None = None
        self.p: np.ndarray = np.zeros(0, np.float32)
        self.current = -1
        self.model_id = ""
        self.spec = TileSpec()
        self.reviews: dict[int, str] = {}
        self._generation = 0

    def open(self, path: Path, spec: TileSpec | None = None) -> None:
        """Open ``path`` in the background (``opened``, ``failed`` or ``mpp_needed`` follow)."""
        self.close()
        self.path = Path(path)
        self.spec = spec or self.spec
        generation = self._generation

        def done(result: OpenedSlide | str) -> None:
            if generation != self._generation:
                if isinstance(result, OpenedSlide):
                    result.slide.close()
                return
            if isinstance(result, str):
                if result == "mpp":
                    self.mpp_needed.emit(self.path)
                else:
                    self.failed.emit(result)
                return
            self._on_opened(result)

        spec_now = self.spec
        self._pool.start(lambda _emit: _open(Path(path), spec_now), done, self.failed.emit)

    def answer_mpp(self, mpp: float) -> None:
        """Record the user's microns per pixel for the slide asked about, and open it."""
        assert self.path is not None
        try:
            record_mpp(self.path, mpp)
        except (OSError, ValueError) as exc:
            self.failed.emit(f"cannot record the answer: {exc}")
            return
        self.open(self.path)

    def _on_opened(self, state: OpenedSlide) -> None:
        self.state = state
        self.p = np.full(len(state.grid), np.nan, np.float32)
        self.opened.emit(state)
        self.score()

    def score(self) -> None:
        """Load the model (once) and score every tile, one batch per task on the model
        thread, so a Grad-CAM request (:meth:`explain`) runs between two batches."""
        state, generation = self.state, self._generation
        if state is None or self._loader is None:
            return

        def start(classifier: Any) -> None:
            if generation != self._generation:
                return
            if tile_spec_for(classifier.metadata) != state.grid.spec:
                self.scoring_finished.emit("the model's tile scale differs from the grid's")
                return
            batches = iter_tile_batches(state.slide, state.grid, batch_size=64)
            self._batches = batches
            self._model_pool.start(lambda _emit: _next_batch(classifier, batches), step)

        def step(result: tuple[np.ndarray, np.ndarray] | None) -> None:
            if generation != self._generation:
                return
            if result is None:
                self.scoring_finished.emit("done")
                return
            rows, p = result
            self.p[rows] = p
            self.scores_arrived.emit(rows, p)
            classifier, batches = self._classifier, self._batches
            self._model_pool.start(lambda _emit: _next_batch(classifier, batches), step)

        def loaded(classifier: Any) -> None:
            self._classifier = classifier
            self.model_id = classifier.model_id
            start(classifier)

        self._batches = None
        if self._classifier is not None:
            start(self._classifier)
        else:
            loader = self._loader
            self._model_pool.start(lambda _emit: loader(), loaded, self.scoring_finished.emit)

    def explain(self, row: int) -> None:
        """Grad-CAM of tile ``row`` on the model thread; ``explained`` follows (dropped if
        another tile is current by then)."""
        state, classifier, generation = self.state, self._classifier, self._generation
        pixels = self.tile_pixels(row)
        if state is None or classifier is None or pixels is None:
            return

        def done(explanation: Explanation) -> None:
            if generation == self._generation and row == self.current:
                self.explained.emit(row, explanation)

        self._model_pool.start(lambda _emit: explain_patch(classifier, pixels), done)

    def select(self, row: int) -> None:
        """Make tile ``row`` the current one."""
        if row != self.current:
            self.current = row
            self.current_changed.emit(row)

    def tile_pixels(self, row: int) -> np.ndarray | None:
        """Tile ``row``'s pixels as the model sees them (None when unreadable)."""
        if self.state is None:
            return None
        try:
            return self.state.grid.read(self.state.slide, row)
        except SlideError:
            return None

    def review(self, verdict: Verdict, reviewer: str) -> str | None:
        """Record ``verdict`` on the current tile; returns why not, or None when recorded."""
        state, row = self.state, self.current
        if state is None or row < 0 or self.path is None:
            return "no tile selected"
        if not reviewer:
            return "set a reviewer name first"
        pixels = self.tile_pixels(row)
        if pixels is None:
            return "the tile cannot be read"
        p = float(self.p[row])
        review = ReviewInput(
            state.grid.id(row),
            verdict,
            reviewer,
            pixel_sha1(pixels),
            state.grid.relpath(row),
            model_id=self.model_id,
            p_tumour=None if np.isnan(p) else p,
            view="" if np.isnan(p) else VIEW_SINGLE,  # the slide view shows the plain score
        )
        with ReviewStore(store_path_for_folder(self.path.parent)) as store:
            store.record(review)
        self.reviews[row] = verdict.value
        self.review_recorded.emit(row, verdict.value)
        return None

    def close(self) -> None:
        """Forget the open slide (late results of its tasks are dropped)."""
        self._generation += 1
        self._pool.clear()
        self._model_pool.clear()
        if self.state is not None:
            state = self.state
            self.state = None
            self._pool.wait()
            self._model_pool.wait()
            if self._batches is not None:  # its reading threads stop before the file closes
                self._batches.close()
                self._batches = None
            state.slide.close()
        self.p = np.zeros(0, np.float32)
        self.current = -1
        self.reviews = {}

    def shutdown(self) -> None:
        """Stop background work and close the slide (the window is closing)."""
        self.close()
        self._pool.wait()
        self._model_pool.wait()
