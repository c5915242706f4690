"""ExplanationController: the heat map of the current patch, and of the next ones ahead of time.

Selection-driven work is debounced: the explanation is asked for once the selection rests for
``EXPLAIN_DEBOUNCE_MS``, with the method and layer of the :class:`ViewState`, and only while
the heat map is shown. The result is a typed ``Explanation | None``; a result for a patch that
is no longer current is dropped.

Ahead of time: once the current patch's map is in, the next ``PREFETCH_AHEAD`` patches in the
grid's order are explained on the model thread (after anything it was already asked; their
pixels come from the decoded-patch cache, or are decoded first), and every explanation is kept
in a bounded cache keyed by model, method, layer and patch. A patch whose map is in the cache
shows it at once, without the debounce or a trip to the model thread.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from superqt.utils import qdebounced

from pathview.core import LruCache
from pathview.explain import Explanation
from pathview.ui.selection import SelectionController
from pathview.ui.view_state import ViewOptions, ViewState
from pathview.workers import ModelWorker

EXPLAIN_DEBOUNCE_MS = 150
#: How many patches after the current one (grid order) are explained ahead of time.
PREFETCH_AHEAD = 3
#: Explanations kept (96 x 96 float32 maps: ~37 kB each).
EXPLANATION_CACHE = 64

#: (model id, method, layer, patch id).
CacheKey = tuple[str, str, str, str]


class ExplanationController(QObject):
    """Asks the model thread for the current patch's explanation and holds the answer."""

    #: The current patch's explanation changed (None: none yet, or cleared).
    explanation_changed = Signal(object)  # Explanation | None
    message = Signal(str)

    def __init__(
        self,
        selection: SelectionController,
        view: ViewState,
        worker: ModelWorker,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._selection = selection
        self._view = view
        self._worker = worker
        self.explanation: Explanation | None = None
        self.cache: LruCache[CacheKey, Explanation] = LruCache(EXPLANATION_CACHE)
        self._ahead: dict[int, CacheKey] = {}  # explain_ahead request -> where it goes
        self._decoding: set[str] = set()  # patches to explain ahead once decoded
        self.request_soon = qdebounced(self._request, EXPLAIN_DEBOUNCE_MS)
        selection.patch_changed.connect(self.reset)
        selection.current_loaded.connect(self.request_soon)
        selection.patch_cached.connect(self._on_patch_cached)
        view.changed.connect(self._on_view_changed)
        worker.explanation_ready.connect(self._on_explained)
        worker.explanation_failed.connect(self._on_failed)
        worker.explanation_prefetched.connect(self._on_prefetched)
        worker.prefetch_failed.connect(lambda request: self._ahead.pop(request, None))

    @property
    def heatmap(self) -> np.ndarray | None:
        """The map to draw over the patch (None: nothing to draw)."""
        return None if self.explanation is None else self.explanation.map

    @property
    def shown(self) -> Explanation | None:
        """The explanation the reviewer sees (None while the heat map is hidden or has no map);
        a verdict records its method, layer and centre focus."""
        expl = self.explanation
        if expl is None or not self._view.options.heatmap or expl.map is None:
            return None
        return expl

    def key(self, patch_id: str) -> CacheKey | None:
        """The cache key of ``patch_id``'s explanation with the current options (None: no
        model)."""
        info = self._worker.info
        if info is None:
            return None
        options = self._view.options
        return (info.model_id, options.method, options.layer, patch_id)

    def reset(self) -> None:
        """Forget the explanation (another patch, method or layer): show the cached one at
        once, or ask again soon."""
        self._worker.forget_explanation()
        patch_id = self._selection.current_id
        key = None if patch_id is None else self.key(patch_id)
        self.explanation = None if key is None else self.cache.get(key)
        self.explanation_changed.emit(self.explanation)
        if self.explanation is None:
            self.request_soon()
        else:
            self.request_soon.cancel()
            self._prefetch()

    def clear_cache(self) -> None:
        """Forget every kept explanation (another folder or model)."""
        self.cache.clear()
        self._ahead.clear()
        self._decoding.clear()
        self._worker.forget_prefetch()

    def cancel(self) -> None:
        self.request_soon.cancel()
        self._worker.forget_explanation()
        self._worker.forget_prefetch()
        self._ahead.clear()

    def _on_view_changed(self, new: ViewOptions, old: ViewOptions) -> None:
        if (new.method, new.layer) != (old.method, old.layer):
            self.reset()
        elif new.heatmap and not old.heatmap:
            self.request_soon()

    def _request(self) -> None:
        info = self._selection.current_info
        options = self._view.options
        if (
            not options.heatmap
            or self._worker.info is None
            or info is None
            or info.pixels is None
            or self.explanation is not None
        ):
            return
        self._worker.explain(info.patch_id, info.pixels, options.method, options.layer)

    def _on_explained(self, _request: int, patch_id: str, explanation: Explanation) -> None:
        key = self.key(patch_id)
        if key is not None:
            self.cache.put(key, explanation)
        if patch_id != self._selection.current_id:
            return
        self.explanation = explanation
        self.explanation_changed.emit(explanation)
        self._prefetch()

    def _on_failed(self, _request: int, patch_id: str, reason: str) -> None:
        if patch_id == self._selection.current_id:
            self.message.emit(f"No heat map: {reason}")

    # ------------------------------------------------------------------ ahead of time
    def _prefetch(self) -> None:
        """Explain the next patches in grid order that are not cached or asked for yet."""
        if not self._view.options.heatmap or self._worker.info is None:
            return
        asked = set(self._ahead.values())
        self._decoding.clear()
        for ref in self._selection.upcoming(PREFETCH_AHEAD):
            key = self.key(ref.id)
            if key is None or key in self.cache or key in asked:
                continue
            info = self._selection.cached_info(ref.id)
            if info is None:
                self._decoding.add(ref.id)
                self._selection.preload(ref)
            elif info.pixels is not None:
                self._explain_ahead(key, info.pixels)

    def _explain_ahead(self, key: CacheKey, pixels: np.ndarray) -> None:
        _model, method, layer, patch_id = key
        self._ahead[self._worker.explain_ahead(patch_id, pixels, method, layer)] = key

    def _on_patch_cached(self, patch_id: str) -> None:
        if patch_id not in self._decoding:
            return
        self._decoding.discard(patch_id)
        info = self._selection.cached_info(patch_id)
        key = self.key(patch_id)
        if (
            info is not None
            and info.pixels is not None
            and key is not None
            and key not in self.cache
            and key not in set(self._ahead.values())
        ):
            self._explain_ahead(key, info.pixels)

    def _on_prefetched(self, request: int, patch_id: str, explanation: Explanation) -> None:
        key = self._ahead.pop(request, None)
        if key is None or key != self.key(patch_id):
            return  # asked before a folder, model, method or layer change
        self.cache.put(key, explanation)
        if patch_id == self._selection.current_id and self.explanation is None:
            self.explanation = explanation  # the reviewer got there first
            self.explanation_changed.emit(explanation)
