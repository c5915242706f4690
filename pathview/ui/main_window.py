"""The main window: binds the widgets (built by :mod:`pathview.ui.window_layout`) to a
TriageSession.

Slots here are a few lines each: they read a widget, call one session method, or show a
dialog. Behaviour lives in the session and the pure layers below it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QModelIndex
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from pathview.core import Verdict
from pathview.core.resources import demo_folder
from pathview.ui.activity import InputActivity
from pathview.ui.bulk_review import BulkReview, ConfirmBulk, confirm_bulk_dialog
from pathview.ui.file_actions import FileActions
from pathview.ui.grid import FilterBar, PatchGrid
from pathview.ui.heat_legend import HeatLegend
from pathview.ui.histogram import HistogramPanel
from pathview.ui.insight_window import InsightParts
from pathview.ui.keyboard import KeyRouter
from pathview.ui.metrics_panel import MetricsPanel
from pathview.ui.model_verdict import VerdictMenuEntry
from pathview.ui.patch_view import PatchView
from pathview.ui.resume import ResumeController
from pathview.ui.review_panel import ReviewPanel
from pathview.ui.session import TriageSession
from pathview.ui.settings import Preferences
from pathview.ui.slide_launch import ask_slide_path, dropped_slide, open_slide_window
from pathview.ui.status import StatusWidgets
from pathview.ui.view_binding import bind_view_state, options_from_preferences
from pathview.ui.view_state import ViewOptions
from pathview.ui.window_layout import (
    build_actions,
    build_widgets,
    rebuild_recent_menu,
    restore_layout,
    save_layout,
    show_metrics,
)
from pathview.workers import ModelInfo

if TYPE_CHECKING:  # what qthrottled returns; superqt does not export the type
    from superqt.utils._throttler import ThrottledCallable

DEMO_FOLDER = demo_folder()

AskReviewer = Callable[[QWidget, str], str | None]
AskNote = Callable[[QWidget, str, str], str | None]  # parent, patch id, current note


def ask_reviewer_dialog(parent: QWidget, current: str) -> str | None:
    name, ok = QInputDialog.getText(
        parent, "Reviewer", "Your name (recorded with every review):", text=current
    )
    return name.strip() if ok and name.strip() else None


def ask_note_dialog(parent: QWidget, patch_id: str, current: str) -> str | None:
    """The note on one patch (None: cancelled; "" clears it)."""
    text, ok = QInputDialog.getText(parent, "Note", f"Note on {patch_id}:", text=current)
    return text if ok else None


class MainWindow(QMainWindow):
    """The app's window: binds the widgets of :mod:`pathview.ui.window_layout` to a
    :class:`TriageSession`; its slots are the action table's."""

    # Built by window_layout.build_widgets / build_actions:
    filter_bar: FilterBar
    sort_combo: QComboBox
    review_filter: QComboBox
    truth_filter: QComboBox
    disagree_check: QCheckBox
    p_min: QDoubleSpinBox
    p_max: QDoubleSpinBox
    grid: PatchGrid
    grid_message: QLabel
    grid_stack: QStackedWidget
    status: StatusWidgets
    counts_label: QLabel
    model_label: QLabel
    progress: QProgressBar
    cancel_button: QToolButton
    model_banner: QLabel
    patch_view: PatchView
    heat_legend: HeatLegend
    review_panel: ReviewPanel
    histogram: HistogramPanel
    bottom_split: QSplitter
    right_split: QSplitter
    main_split: QSplitter
    metrics_panel: MetricsPanel
    metrics_dock: QDockWidget
    insight_parts: InsightParts
    recent_menu: QMenu
    keys: KeyRouter
    verdict_entry: VerdictMenuEntry
    _refresh_histogram_soon: ThrottledCallable[[], None]

    def __init__(
        self,
        session: TriageSession | None = None,
        prefs: Preferences | None = None,
        ask_reviewer: AskReviewer = ask_reviewer_dialog,
        ask_note: AskNote = ask_note_dialog,
        confirm_bulk: ConfirmBulk = confirm_bulk_dialog,
    ) -> None:
        super().__init__()
        self.setWindowTitle("pathview")
        self.session = session if session is not None else TriageSession(self)
        if self.session.parent() is None:
            self.session.setParent(self)
        self.prefs = prefs if prefs is not None else Preferences()
        self._ask_reviewer = ask_reviewer
        self._ask_note = ask_note
        self.session.reviewer = self.prefs.reviewer
        self.session.view.update(**vars(options_from_preferences(self.prefs)))
        self.action_map: dict[str, QAction] = {}
        self.files = FileActions(self, self.session, self.prefs, lambda: self.keys.focus_grid())

        self.bulk = BulkReview(
            self,
            self.session,
            confirm_bulk,
            lambda text: self.statusBar().showMessage(text, 8000),
            lambda: self.keys.focus_grid(),
        )
        build_widgets(self)
        build_actions(self)
        self._bind_session()
        self.resume = ResumeController(self.session, self.prefs, self.filter_bar, self.histogram)
        restore_layout(self)
        # Dwell time leaves out stretches with no input (the clock sees every input).
        self.activity = InputActivity(self.session.reviews.clock.touch, self)
        self.setAcceptDrops(True)
        self.grid.setFocus()  # the keys belong to the grid from the start

    # ------------------------------------------------------------------ construction
    def _bind_session(self) -> None:
        s, st = self.session, self.status
        s.folder_opened.connect(self._on_folder_opened)
        s.listing_progressed.connect(self._on_listing_progressed)
        s.listing_finished.connect(self._on_listing_finished)
        s.folder_failed.connect(self._on_folder_failed)
        s.current_changed.connect(self._on_current_changed)
        s.current_updated.connect(self._refresh_current)
        s.heatmap_changed.connect(self.patch_view.set_heatmap)
        s.counts_changed.connect(st.show_counts)
        s.scoring_progressed.connect(st.show_scoring)
        s.scoring_finished.connect(st.scoring_finished)
        # Throttled, in a later turn: the end of scoring has other work to do.
        s.scoring_finished.connect(lambda _outcome: self._refresh_histogram_soon())
        s.model_changed.connect(st.show_model)
        s.model_worker.model_loaded.connect(self._on_model_loaded)
        s.reviews.busy_changed.connect(st.show_busy)
        s.labels_loaded.connect(lambda text: self.statusBar().showMessage(text, 8000))
        s.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        s.table_changed.connect(self._refresh_histogram_soon)
        s.order_changed.connect(self._on_order_changed)
        self.grid.selectionModel().currentChanged.connect(self._on_grid_current)
        s.model.modelReset.connect(self._rebind_selection)
        self.filter_bar.sort_chosen.connect(s.selection.set_sort)
        self.filter_bar.filter_edited.connect(s.selection.set_filter)
        self.filter_bar.done.connect(self.keys.focus_grid)
        self.filter_bar.filter_edited.connect(
            lambda spec: self.histogram.follow_range(spec.p_min, spec.p_max)
        )
        self.histogram.bin_clicked.connect(self.filter_bar.set_p_range)
        s.order_changed.connect(self._show_count)
        s.listing_progressed.connect(lambda _n: self._show_count())
        s.folder_opened.connect(lambda _f: self._show_count())
        self.review_panel.done.connect(self.keys.focus_grid)
        bind_view_state(
            s.view,
            self.action_map["toggle_box"],
            self.action_map["toggle_heatmap"],
            (self.action_map["blind_p"], self.action_map["blind_truth"]),
            self.review_panel,
            self.patch_view,
            self.prefs,
            self.heat_legend,
            self.action_map["toggle_contours"],
        )
        s.explanations.explanation_changed.connect(self.heat_legend.show_explanation)
        s.view.changed.connect(self._on_blind_changed)
        self._on_blind_changed(s.view.options, s.view.options)
        self.metrics_panel.bind(s.evaluation.state, self._adjudicate)
        self.metrics_panel.patch_activated.connect(self.select_listed_patch)
        dock = self.metrics_dock
        dock.visibilityChanged.connect(s.evaluation.set_enabled)
        dock.toggleViewAction().toggled.connect(self.action_map["toggle_metrics"].setChecked)

    # ------------------------------------------------------------------ session -> widgets
    def _on_folder_opened(self, folder: Path) -> None:
        self.setWindowTitle(f"pathview — {folder}")
        self.grid_message.setText(f"Listing {folder} …")
        self.grid_stack.setCurrentWidget(self.grid_message)
        self.prefs.remember_folder(folder)
        rebuild_recent_menu(self)

    def _show_grid(self) -> None:
        self.grid_stack.setCurrentWidget(self.grid)
        if self.focusWidget() in (None, self.grid_message):
            self.keys.focus_grid()

    def _on_listing_progressed(self, count: int) -> None:
        self._show_grid()
        self.statusBar().showMessage(f"Listing… {count:,} patches", 2000)

    def _on_listing_finished(self, count: int) -> None:
        self._show_grid()
        self.statusBar().showMessage(f"{count:,} patches listed", 4000)

    def _on_folder_failed(self, reason: str) -> None:
        self.grid_message.setText(reason)
        self.grid_stack.setCurrentWidget(self.grid_message)
        self.patch_view.show_message("Nothing to show")
        self.statusBar().showMessage(reason, 10000)

    def _on_current_changed(self, position: int) -> None:
        sel = self.grid.selectionModel()
        if position < 0:
            sel.clear()
            return
        index = self.session.model.index(position)
        if sel.currentIndex() != index:
            sel.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.grid.scrollTo(index)

    def _on_grid_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.session.select_position(current.row())

    def _rebind_selection(self) -> None:
        # A model reset drops the selection; the session re-selects its current patch.
        pos = self.session.position
        if pos >= 0:
            self._on_current_changed(pos)

    def _refresh_current(self) -> None:
        s = self.session
        self.review_panel.show_facts(s.current_facts())
        info = s.current_info
        if s.current_row is None:
            self.patch_view.show_message("No patch selected")
        elif info is None:
            if self.patch_view.pixels is not None:
                self.patch_view.show_message("Loading…")
        elif info.pixels is None:
            self.patch_view.show_message(f"Unreadable file\n{info.reason}")
        elif self.patch_view.pixels is not info.pixels:
            self.patch_view.show_pixels(info.pixels)
            self.patch_view.set_heatmap(s.explanations.heatmap)

    def _on_order_changed(self) -> None:
        # The order itself does not change the histogram, but a new folder brings a new table.
        self.histogram.set_table(self.session.table, refresh=False)
        self._refresh_histogram_soon()

    def _on_blind_changed(self, new: ViewOptions, _old: ViewOptions) -> None:
        # Blind mode: the histogram shows where P lies and the metrics the ground truth.
        blind = new.hide_p or new.hide_truth
        self.filter_bar.set_blind(new.hide_p, new.hide_truth)
        self.histogram.setVisible(not new.hide_p)
        if blind:
            self.metrics_dock.hide()
        self.action_map["toggle_metrics"].setEnabled(not blind)
        # The map, the similar strip's captions and the folder summary show P and the truth.
        self.insight_parts.set_blind(blind)
        for name in ("toggle_map", "folder_summary"):
            self.action_map[name].setEnabled(not blind)

    def _show_count(self) -> None:
        s = self.session
        self.filter_bar.show_count(s.model.rowCount(), len(s.table))

    def _on_model_loaded(self, info: ModelInfo) -> None:
        options = self.session.view.options
        self.review_panel.set_choices(
            info.methods,
            {layer: info.layer_names.get(layer, layer) for layer in info.layers},
            options.method or next(iter(info.methods), ""),
            options.layer or info.default_layer,
        )

    # ------------------------------------------------------------------ action slots
    def open_folder(self, folder: Path) -> None:
        self.session.open_folder(folder)

    def open_demo(self) -> None:
        self.open_folder(DEMO_FOLDER)

    def import_reviews(self, source: Path) -> bool:
        """Merge a colleague's review store or log (as ``pathview import``) in the background:
        ``session.reviews.reviews_imported`` tells when; a failure is shown."""
        return self.files.import_reviews(source)

    def _adjudicate(self, patch_id: str, label: int | None) -> bool:
        return self.session.reviews.adjudicate(patch_id, label)

    def select_listed_patch(self, patch_id: str) -> None:
        """Select a patch chosen in the metrics panel's lists in the grid."""
        if self.session.select_patch(patch_id):
            return
        if self.session.table.row_of(patch_id) is None:
            text = f"{patch_id} is not in this folder"
        else:
            text = f"{patch_id} is hidden by the current filter (Show: all shows it)"
        self.statusBar().showMessage(text, 8000)

    def ask_reviewer_at_start(self) -> bool:
        """On the first run (no reviewer remembered) ask who reviews; later runs use the
        remembered name, switchable with Review ▸ Change reviewer. Never asked by a verdict
        key: a key pressed by accident records nothing."""
        return bool(self.session.reviewer) or self.change_reviewer()

    def change_reviewer(self) -> bool:
        name = self._ask_reviewer(self, self.session.reviewer)
        self.keys.focus_grid()  # not the first widget of the tab chain
        if not name:
            return False
        self.session.reviewer = name
        self.prefs.reviewer = name  # the status bar shows it (ui/status.py)
        return True

    def _verdict(self, verdict: Verdict) -> None:
        self.session.record(verdict)

    def agree(self) -> None:
        self._verdict(Verdict.AGREE)

    def disagree(self) -> None:
        self._verdict(Verdict.DISAGREE)

    def unsure(self) -> None:
        self._verdict(Verdict.UNSURE)

    def label_tumour(self) -> None:
        self.session.record_label(1)

    def label_normal(self) -> None:
        self.session.record_label(0)

    def toggle_truth_flag(self) -> None:
        self.session.reviews.notes.toggle_truth_flag()

    def edit_note(self) -> None:
        s = self.session
        patch_id = s.current_id
        if patch_id is None:
            return
        current = s.reviews.notes.note_of(patch_id)
        note = self._ask_note(self, patch_id, current)
        self.keys.focus_grid()
        if note is not None and note.strip() != current:
            s.reviews.notes.set_note(note)

    def set_blind_p(self, on: bool) -> None:
        self.session.view.update(hide_p=on)

    def set_blind_truth(self, on: bool) -> None:
        self.session.view.update(hide_truth=on)

    def undo(self) -> None:
        self.session.reviews.undo()

    def next_patch(self) -> None:
        self.session.selection.next_patch()

    def previous_patch(self) -> None:
        self.session.selection.previous_patch()

    def next_unreviewed(self) -> None:
        self.session.selection.next_unreviewed()

    def next_suggested(self) -> None:
        self.session.selection.next_suggested()

    def set_auto_advance(self, on: bool) -> None:
        self.session.reviews.auto_advance = on
        self.prefs.set_flag("auto_advance", on)

    def set_box_visible(self, on: bool) -> None:
        self.session.view.update(box=on)

    def set_heatmap_visible(self, on: bool) -> None:
        self.session.view.update(heatmap=on)

    def set_heat_contours(self, on: bool) -> None:
        self.session.view.update(heat_style="contours" if on else "blend")

    def set_metrics_visible(self, on: bool) -> None:
        show_metrics(self, on)

    def set_tile_box_visible(self, on: bool) -> None:
        self.grid.set_look(self.grid.thumb, on)
        self.prefs.set_flag("tile_box", on)

    def larger_tiles(self) -> None:
        self._set_tile_size(self.grid.step_tile_size(1))

    def smaller_tiles(self) -> None:
        self._set_tile_size(self.grid.step_tile_size(-1))

    def _set_tile_size(self, thumb: int) -> None:
        self.grid.set_look(thumb, self.action_map["toggle_tile_box"].isChecked())
        self.prefs.tile_size = self.grid.thumb
        self.statusBar().showMessage(f"Tiles of {self.grid.thumb} px", 3000)

    def apply_order(self) -> None:
        self.session.selection.apply_order()

    def score(self) -> None:
        self.session.score(tta=False)

    def score_tta(self) -> None:
        self.session.score(tta=True)

    def cancel_work(self) -> None:
        self.session.cancel_work()

    def show_warning(self, title: str, text: str) -> None:
        """A window-modal warning that does not block the event loop (nor a test)."""
        self.files.show_warning(title, text)

    def export_labels(self, out: Path | None = None) -> bool:
        """Write the reviewed labels in the background (``out`` None: ask where);
        ``session.reviews.export_finished`` tells when."""
        return self.files.export("labels", out)

    def export_log(self, out: Path | None = None) -> bool:
        return self.files.export("log", out)

    def export_submission(self, out: Path | None = None) -> bool:
        return self.files.export("submission", out)

    def open_slide_dialog(self) -> None:
        path = ask_slide_path(self, self.prefs.last_folder)
        if path is not None:
            self.open_slide(path)

    def open_slide(self, path: Path) -> QWidget:
        """Open a slide in its own slide window (the bundled model scores it)."""
        return open_slide_window(path, parent=self)

    # ------------------------------------------------------------------ Qt events
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            path = Path(urls[0].toLocalFile())
            if path.is_dir() or path.suffix.lower() == ".csv" or dropped_slide(path):
                event.acceptProposedAction()
                return
        event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = Path(event.mimeData().urls()[0].toLocalFile())
        if path.is_dir():
            self.open_folder(path)
        elif path.suffix.lower() == ".csv":
            self.session.folders.load_labels(path)
        elif dropped_slide(path):
            self.open_slide(path)
        event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.resume.save()
        save_layout(self)
        self._refresh_histogram_soon.cancel()
        self.insight_parts.shutdown()
        self.session.shutdown()
        super().closeEvent(event)


__all__ = ["DEMO_FOLDER", "MainWindow", "PatchGrid", "ask_note_dialog", "ask_reviewer_dialog"]
