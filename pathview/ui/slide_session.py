"""SlideSession: one open slide in the app, its tiles, their scores and quality, the current
tile, its Grad-CAM and the reviews.

The slide is opened, its overview read, its tiles listed and the reviews already made read
from the store on a pool thread (:class:`pathview.workers.TaskPool`). The model is loaded (and
described once, :func:`pathview.workers.model_jobs.describe_model`: its explanation methods and
layers with readable names, ``model_described``) and the tiles scored on another, the model
thread, one batch per task, each batch arriving as ``scores_arrived``, so that the current
tile's Grad-CAM (:meth:`SlideSession.explain`, with the method and layer of the session's
:class:`~pathview.ui.view_state.ViewState`) runs between two batches on the same thread. Each
batch's tiles are measured for quality as they are scored (:func:`pathview.quality.measure_batch`
on the pixels scored) into an :class:`~pathview.triage.InsightColumns`, as the folder's table
keeps them. A slide that does not record its microns per pixel emits ``mpp_needed``;
:meth:`SlideSession.answer_mpp` records the user's answer beside the slide
(:func:`pathview.slide.record_mpp`) and opens it again.

Reviews go to the review store of the slide's folder through
:class:`~pathview.ui.slide_reviews.SlideReviews` (:attr:`SlideSession.reviews`), recorded as
the folder view records them, with the tile's id, its relative path
``SLIDE#x=..,y=..,size=..,mpp=..`` (slide, level-0 coordinates, um/pixel) and the SHA-1 of the
pixels shown, so ``pathview export-patches`` can write them out for retraining.

The :class:`ViewState` is the one owner of what the tile panel shows: ``heatmap`` (the Grad-CAM
over the tile, key G), ``method`` and ``layer`` of the explanation, ``hide_p`` (blind mode).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from pathview.core import LruCache, Verdict
from pathview.explain import Explanation
from pathview.io import pixel_sha1
from pathview.quality import PatchQuality, measure_batch
from pathview.quality.duplicates import N_HASH_VIEWS
from pathview.scoring.loop import input_encoder
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
from pathview.store import PatchState, ReviewStore, StoreError, store_path_for_folder
from pathview.triage import InsightColumns
from pathview.ui.reviews import verdict_refusal
from pathview.ui.slide_reviews import ShownTile, SlideReviews, read_tile_states
from pathview.ui.view_state import ViewOptions, ViewState
from pathview.workers import ModelInfo
from pathview.workers.model_jobs import (
    Explainer,
    default_explainer,
    describe_model,
    preload_model_libraries,
)
from pathview.workers.tasks import TaskPool

#: Longer side of the overview the slide view starts from (read once, at opening).
OVERVIEW_SIDE = 2048
#: Tiles scored per task on the model thread (a Grad-CAM waits for one batch at most).
BATCH_SIZE = 64
#: Threads reading (and encoding) tiles ahead of the model thread. The slide window scores in
#: the app's own process, so every such thread competes with the window for the interpreter
#: lock: `python benchmarks/bench_slides.py --score` (a 50,176-tile slide, 2 cores) scored in
#: 18.6-21.3 s with a worst stall of 29-51 ms with one thread (7 runs, one over 50 ms),
#: against 19.3-21.8 s and 48-67 ms with two.
READ_WORKERS = 1
#: Grad-CAMs kept, keyed by method, layer and tile row.
EXPLANATION_CACHE = 64


@dataclass(frozen=True)
class OpenedSlide:
    """A slide ready to show: the open slide, its overview and downsample, its tiles, where
    its reviews are stored and those already made (tile row -> the review in effect)."""

    slide: Slide
    overview: np.ndarray
    scale: float
    grid: TileGrid
    store_path: Path
    reviews: dict[int, PatchState]
    problem: str = ""  # why the reviews already made could not be read ("" when they were)


def _read_reviews(store_path: Path, grid: TileGrid) -> tuple[dict[int, PatchState], str]:
    if not store_path.is_file():
        return {}, ""
    try:
        with ReviewStore.open_readonly(store_path) as store:
            return read_tile_states(store, grid), ""
    except StoreError as exc:
        return {}, f"the reviews already made could not be read: {exc}"


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
    store_path = store_path_for_folder(path.parent)
    reviews, problem = _read_reviews(store_path, grid)
    return OpenedSlide(slide, overview, scale, grid, store_path, reviews, problem)


def measure_tiles(pixels: list[np.ndarray]) -> PatchQuality:
    """The quality measures of a batch of tiles (no hashes or SHA-1s: the slide view shows
    quality flags, not duplicates)."""
    n = len(pixels)
    measures = measure_batch(np.stack(pixels)) if n else PatchQuality.empty().measures
    return PatchQuality(measures, [""] * n, np.zeros((n, N_HASH_VIEWS), np.uint64))


Scored = tuple[np.ndarray, np.ndarray, PatchQuality]  # rows, P(tumour), quality


def _next_batch(classifier: Any, batches: Generator[TileBatch, None, None] | None) -> Scored | None:
    """Score and measure the next batch of tiles, or None when there are no more."""
    batch = next(batches, None) if batches is not None else None
    if batch is None:
        return None
    rows = np.asarray(batch.rows, np.int64)
    return rows, batch.predict(classifier).p, measure_tiles(batch.pixels)


class SlideSession(QObject):
    """State and behaviour of the slide view (see the module docstring)."""

    opened = Signal(OpenedSlide)
    failed = Signal(str)
    mpp_needed = Signal(Path)
    model_described = Signal(ModelInfo)
    scores_arrived = Signal(object, object)  # rows (int array), P(tumour) (float array)
    scoring_finished = Signal(str)  # "done" or the reason
    current_changed = Signal(int)  # tile row, -1 for none
    reviewed = Signal(int)  # tile row a review was just recorded on
    explained = Signal(int, Explanation)  # tile row, its Grad-CAM

    def __init__(
        self,
        loader: Callable[[], Any] | None = None,
        parent: QObject | None = None,
        explainer: Explainer = default_explainer,
        view: ViewState | None = None,
    ) -> None:
        super().__init__(parent)
        if loader is not None:  # the first import of the model stack must be on this thread
            preload_model_libraries()
        self._loader = loader
        self._explainer = explainer
        self._pool = TaskPool("slide", threads=1, parent=self)
        # Scoring batches and Grad-CAM share one thread: the hooks must not see a scoring pass.
        self._model_pool = TaskPool("slide-model", threads=1, parent=self)
        self._classifier: Any = None
        self._batches: Generator[TileBatch, None, None] | None = None
        self.view = view or ViewState(ViewOptions(heatmap=False), self)
        self.reviews = SlideReviews(parent=self)
        self.path: Path | None = None
        self.state: OpenedSlide | None = None
        self.p: np.ndarray = np.zeros(0, np.float32)
        self.quality = InsightColumns()
        self.current = -1
        self.model_id = ""
        self.model_info: ModelInfo | None = None
        self.spec = TileSpec()
        #: The current tile's Grad-CAM with the view's method and layer (None: not yet).
        self.explanation: Explanation | None = None
        self._explanations: LruCache[tuple[str, str, int], Explanation] = LruCache(
            EXPLANATION_CACHE
        )
        self._generation = 0
        self.view.changed.connect(self._on_view_changed)

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
        self.quality = InsightColumns()
        self.reviews.attach(state.store_path, state.grid, state.reviews)
        self.opened.emit(state)
        if state.problem:
            self.failed.emit(state.problem)
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
            batches = iter_tile_batches(
                state.slide,
                state.grid,
                batch_size=BATCH_SIZE,
                workers=READ_WORKERS,
                encode=input_encoder(classifier),
            )
            self._batches = batches
            self._model_pool.start(lambda _emit: _next_batch(classifier, batches), step)

        def step(result: Scored | None) -> None:
            if generation != self._generation:
                return
            if result is None:
                self.scoring_finished.emit("done")
                return
            rows, p, quality = result
            self.p[rows] = p
            self.quality.set_rows(rows.tolist(), quality)
            self.scores_arrived.emit(rows, p)
            classifier, batches = self._classifier, self._batches
            self._model_pool.start(lambda _emit: _next_batch(classifier, batches), step)

        def loaded(result: tuple[Any, ModelInfo]) -> None:
            classifier, info = result
            self._classifier = classifier
            self.model_id = classifier.model_id
            self.model_info = info
            self.model_described.emit(info)
            start(classifier)

        self._batches = None
        if self._classifier is not None:
            start(self._classifier)
        else:
            loader = self._loader

            def load(_emit: Any) -> tuple[Any, ModelInfo]:
                classifier = loader()
                return classifier, describe_model(classifier)

            self._model_pool.start(load, loaded, self.scoring_finished.emit)

    def explain(self, row: int) -> None:
        """Grad-CAM of tile ``row`` with the view's method and layer, on the model thread (or
        from the cache); ``explained`` follows (dropped if another tile is current by then)."""
        state, classifier, generation = self.state, self._classifier, self._generation
        options = self.view.options
        key = (options.method, options.layer, row)
        cached = self._explanations.get(key)
        if cached is not None:
            self._explained(row, cached)
            return
        pixels = self.tile_pixels(row)
        if state is None or classifier is None or pixels is None:
            return
        explainer = self._explainer

        def done(explanation: Explanation) -> None:
            if generation != self._generation:
                return
            self._explanations.put(key, explanation)
            current = (self.view.options.method, self.view.options.layer, self.current)
            if current == key:
                self._explained(row, explanation)

        self._model_pool.start(
            lambda _emit: explainer(classifier, pixels, options.method, options.layer),
            done,
            lambda reason: self.failed.emit(f"No heat map: {reason}"),
        )

    def _explained(self, row: int, explanation: Explanation) -> None:
        self.explanation = explanation
        self.explained.emit(row, explanation)

    def _on_view_changed(self, new: ViewOptions, old: ViewOptions) -> None:
        changed = (new.method, new.layer) != (old.method, old.layer)
        if changed:
            self.explanation = None
        if new.heatmap and (changed or not old.heatmap) and self.current >= 0:
            self.explain(self.current)

    def select(self, row: int) -> None:
        """Make tile ``row`` the current one."""
        if row != self.current:
            self.current = row
            self.explanation = None
            self.reviews.started(row)
            self.current_changed.emit(row)
            if self.view.options.heatmap and row >= 0:
                self.explain(row)

    def tile_pixels(self, row: int) -> np.ndarray | None:
        """Tile ``row``'s pixels as the model sees them (None when unreadable)."""
        if self.state is None or row < 0:
            return None
        try:
            return self.state.grid.read(self.state.slide, row)
        except SlideError:
            return None

    def shown_p(self, row: int) -> float | None:
        """The P the reviewer sees on tile ``row`` (None: not scored, or blind mode)."""
        if row < 0 or row >= self.p.size or np.isnan(self.p[row]) or self.view.options.hide_p:
            return None
        return float(self.p[row])

    def verdict_refusal(self, verdict: Verdict) -> str:
        """Why ``verdict`` cannot be given on the current tile now ("" when it can)."""
        scored = 0 <= self.current < self.p.size and not np.isnan(self.p[self.current])
        return verdict_refusal(
            verdict, self._classifier is not None, scored, self.view.options.hide_p
        )

    def review(self, verdict: Verdict | None, label: int | None = None) -> str | None:
        """Record ``verdict`` (or, with ``verdict`` None, the ``label`` 1 tumour / 0 normal) on
        the current tile; returns why not, or None when recorded (``reviewed`` follows)."""
        row = self.current
        if self.state is None or row < 0:
            return "no tile selected"
        if verdict is not None:
            refusal = self.verdict_refusal(verdict)
            if refusal:
                return refusal
        pixels = self.tile_pixels(row)
        if pixels is None:
            return "the tile cannot be read"
        cam = self.explanation if self.view.options.heatmap else None
        shown = ShownTile(
            row,
            pixel_sha1(pixels),
            self.shown_p(row),
            self.model_id,
            cam if cam is not None and cam.map is not None else None,
        )
        if not self.reviews.record(shown, verdict, label):
            return ""  # the reviews said why (``reviews.message``)
        self.reviewed.emit(row)
        return None

    def undo(self) -> None:
        """Retract the reviewer's latest review; the tile it was about becomes current."""
        row = self.reviews.undo()
        if row is not None and row >= 0:
            self.select(row)

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
        self.quality = InsightColumns()
        self.current = -1
        self.explanation = None
        self._explanations = LruCache(EXPLANATION_CACHE)
        self.reviews.detach()

    def shutdown(self) -> None:
        """Stop background work and close the slide (the window is closing)."""
        self.close()
        self._pool.wait()
        self._model_pool.wait()
