"""ResumeController: a folder opens where its review was left.

On open it gives back the folder's remembered sort, filter, histogram modes and TTA scoring
(before the listing streams in, so the grid fills in that order) and, once the listing is
complete (and shown by the filter), the last patch shown (unless the user has chosen one
meanwhile). The state is
written when the folder closes (another folder, the window) and, for a crash, a second after
the patch shown changes. It lives in the settings, keyed by the folder's resolved path
(:mod:`pathview.triage.resume`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from superqt.utils import qdebounced

from pathview.triage.resume import FolderResume, folder_key
from pathview.ui.grid import FilterBar
from pathview.ui.histogram import HistogramPanel
from pathview.ui.session import TriageSession
from pathview.ui.settings import Preferences

SAVE_DEBOUNCE_MS = 1000


class ResumeController(QObject):
    """Remembers and gives back each folder's work state (see the module docstring)."""

    def __init__(
        self,
        session: TriageSession,
        prefs: Preferences,
        filter_bar: FilterBar,
        histogram: HistogramPanel,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._prefs = prefs
        self._filter_bar = filter_bar
        self._histogram = histogram
        self._folder: Path | None = None
        self._resumed = FolderResume()  # what the open folder came back with
        self._default_tta = session.scoring.auto_score_tta
        self._save_soon = qdebounced(self.save, SAVE_DEBOUNCE_MS, parent=self)
        session.folders.closing.connect(self._on_closing)
        session.folder_opened.connect(self._on_opened)
        self._pending: str | None = None  # the last patch, until it can be selected
        for signal in (session.listing_finished, session.scoring_finished):
            signal.connect(lambda _arg: self._select_pending())
        session.order_changed.connect(self._select_pending)
        session.current_changed.connect(lambda _pos: self._save_soon())
        session.order_changed.connect(self._save_soon)

    def state(self) -> FolderResume:
        """The open folder's work state as it is now."""
        s = self._session
        sel = s.selection
        listed = s.folders.listing_done
        patch = s.current_id if listed else self._resumed.patch_id
        return FolderResume(
            patch_id=patch,
            sort=sel.sort_key,
            filter=sel.filter_spec,
            histogram=self._histogram.grouping,
            histogram_log=self._histogram.log_scale,
            tta=s.scoring.tta_scored or (self._resumed.tta and not listed),
        )

    def save(self) -> None:
        """Remember the open folder's state now."""
        self._save_soon.cancel()
        if self._folder is None:
            return
        self._prefs.set_folder_state(folder_key(self._folder), self.state().to_json())

    def _on_closing(self) -> None:
        self.save()
        self._folder = None

    def _on_opened(self, folder: Path) -> None:
        self._folder = folder
        state = FolderResume.from_json(self._prefs.folder_state(folder_key(folder)))
        self._resumed = state
        sel = self._session.selection
        sel.sort_key = state.sort  # the listing fills the grid in this order and filter
        sel.filter_spec = state.filter
        self._filter_bar.show_choice(state.sort, state.filter)
        self._histogram.set_modes(state.histogram, state.histogram_log)
        self._session.scoring.auto_score_tta = state.tta or self._default_tta
        self._pending = state.patch_id

    def _select_pending(self) -> None:
        """Select the last patch once it is listed and shown (a filter on ground truth shows
        it once the labels are read), unless the user has chosen another meanwhile."""
        s = self._session
        if self._pending is None or not s.folders.listing_done:
            return
        if not s.selection.chosen_by_app:
            self._pending = None  # the user moved on
        elif s.selection.select_patch(self._pending):
            self._pending = None
