"""ExplanationController: the heat map of the current patch.

Selection-driven work is debounced: the explanation is asked for once the selection rests for
``EXPLAIN_DEBOUNCE_MS``, with the method and layer of the :class:`ViewState`, and only while
the heat map is shown. The result is a typed ``Explanation | None``; a result for a patch that
is no longer current is dropped.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from superqt.utils import qdebounced

from pathview.explain import Explanation
from pathview.ui.selection import SelectionController
from pathview.ui.view_state import ViewOptions, ViewState
from pathview.workers import ModelWorker

EXPLAIN_DEBOUNCE_MS = 150


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
        self.request_soon = qdebounced(self._request, EXPLAIN_DEBOUNCE_MS)
        selection.patch_changed.connect(self.reset)
        selection.current_loaded.connect(self.request_soon)
        view.changed.connect(self._on_view_changed)
        worker.explanation_ready.connect(self._on_explained)
        worker.explanation_failed.connect(self._on_failed)

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

    def reset(self) -> None:
        """Forget the explanation (another patch, method or layer) and ask again soon."""
        self._worker.forget_explanation()
        self.explanation = None
        self.explanation_changed.emit(None)
        self.request_soon()

    def cancel(self) -> None:
        self.request_soon.cancel()
        self._worker.forget_explanation()

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
        if patch_id != self._selection.current_id:
            return
        self.explanation = explanation
        self.explanation_changed.emit(explanation)

    def _on_failed(self, _request: int, patch_id: str, reason: str) -> None:
        if patch_id == self._selection.current_id:
            self.message.emit(f"No heat map: {reason}")
