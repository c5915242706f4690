"""The main window: lays out the widgets and binds them to a TriageSession.

Slots here are a few lines each: they read a widget, call one session method, or show a
dialog. Behaviour lives in the session and the pure layers below it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pathview.core import Verdict
from pathview.core.resources import demo_folder
from pathview.evaluation import EvaluationReport
from pathview.store import ImportResult
from pathview.triage import NEEDS_TTA, FilterSpec, ReviewCounts, ReviewFilter, SortKey
from pathview.ui.actions import ACTIONS, MENUS, ActionSpec
from pathview.ui.delegate import TILE, PatchDelegate
from pathview.ui.histogram import HistogramPanel
from pathview.ui.metrics_panel import MetricsPanel
from pathview.ui.patch_view import PatchView
from pathview.ui.review_panel import ReviewPanel
from pathview.ui.session import TriageSession
from pathview.ui.settings import Preferences
from pathview.workers import ModelInfo

DEMO_FOLDER = demo_folder()
HISTOGRAM_THROTTLE_MS = 500
METRICS_DOCK_WIDTH = 560
PROGRESS_INTERVAL_S = 0.25

AskReviewer = Callable[[QWidget, str], str | None]


def ask_reviewer_dialog(parent: QWidget, current: str) -> str | None:
    name, ok = QInputDialog.getText(
        parent, "Reviewer", "Your name (recorded with every verdict):", text=current
    )
    return name.strip() if ok and name.strip() else None


class PatchGrid(QListView):
    """Icon-mode list of delegate-painted tiles; uniform sizes keep 220k rows cheap."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setGridSize(TILE)
        self.setSpacing(0)
        self.setWrapping(True)
        self.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(TILE.height() // 3)
        self.setItemDelegate(PatchDelegate(self))
        self.setStyleSheet("QListView { background: #1e1e22; }")
        self.setMinimumWidth(TILE.width() * 3 + 30)


class MainWindow(QMainWindow):
    def __init__(
        self,
        session: TriageSession | None = None,
        prefs: Preferences | None = None,
        ask_reviewer: AskReviewer = ask_reviewer_dialog,
    ) -> None:
        super().__init__()
        self.setWindowTitle("pathview")
        self.session = session if session is not None else TriageSession(self)
        if self.session.parent() is None:
            self.session.setParent(self)
        self.prefs = prefs if prefs is not None else Preferences()
        self._ask_reviewer = ask_reviewer
        self.session.reviewer = self.prefs.reviewer
        self.action_map: dict[str, QAction] = {}

        self._build_widgets()
        self._build_actions()
        self._bind_session()
        self._restore_preferences()
        self.setAcceptDrops(True)

    # ------------------------------------------------------------------ construction
    def _build_widgets(self) -> None:
        s = self.session
        # Left: sort/filter bar over the grid (or a message when there is nothing to show).
        self.sort_combo = QComboBox()
        for key in SortKey:
            self.sort_combo.addItem(key.value, key)
            if key in NEEDS_TTA:
                self.sort_combo.setItemData(
                    self.sort_combo.count() - 1,
                    "Needs per-view scores: Model ▸ Score with TTA",
                    Qt.ItemDataRole.ToolTipRole,
                )
        self.review_filter = QComboBox()
        for f in ReviewFilter:
            self.review_filter.addItem(f.value, f)
        self.disagree_check = QCheckBox("Disagreements")
        self.disagree_check.setToolTip(
            "Model call vs ground truth differ, or the reviewer disagreed with the model"
        )
        self.p_min = QDoubleSpinBox()
        self.p_max = QDoubleSpinBox()
        for box, value in ((self.p_min, 0.0), (self.p_max, 1.0)):
            box.setRange(0.0, 1.0)
            box.setSingleStep(0.05)
            box.setDecimals(2)
            box.setValue(value)
        self.truth_filter = QComboBox()
        # Never None as item data: PySide6 6.12 mis-counts None returned by currentData().
        self.truth_filter.addItem("any truth", -1)
        self.truth_filter.addItem("truth 0", 0)
        self.truth_filter.addItem("truth 1", 1)

        bar1 = QHBoxLayout()
        bar1.addWidget(QLabel("Sort:"))
        bar1.addWidget(self.sort_combo, 1)
        bar1.addWidget(QLabel("Show:"))
        bar1.addWidget(self.review_filter)
        bar2 = QHBoxLayout()
        bar2.addWidget(self.disagree_check)
        bar2.addWidget(QLabel("P from"))
        bar2.addWidget(self.p_min)
        bar2.addWidget(QLabel("to"))
        bar2.addWidget(self.p_max)
        bar2.addWidget(self.truth_filter)
        bar2.addStretch(1)

        self.grid = PatchGrid()
        self.grid.setModel(s.model)
        self.grid_message = QLabel(
            "Open a folder of patches (File ▸ Open folder, or drop one here)."
        )
        self.grid_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.grid_message.setWordWrap(True)
        self.grid_message.setStyleSheet("QLabel { color: #ccc; font-size: 14px; padding: 30px; }")
        self.grid_stack = QStackedWidget()
        self.grid_stack.addWidget(self.grid_message)
        self.grid_stack.addWidget(self.grid)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(4, 4, 4, 4)
        left_layout.addLayout(bar1)
        left_layout.addLayout(bar2)
        left_layout.addWidget(self.grid_stack, 1)

        # Right: the patch view over the facts panel and the histogram.
        self.model_banner = QLabel()
        self.model_banner.setWordWrap(True)
        self.model_banner.setStyleSheet(
            "QLabel { background: #5a4a12; color: #ffe9a8; padding: 6px; border-radius: 3px; }"
        )
        self.model_banner.hide()
        self.patch_view = PatchView()
        self.review_panel = ReviewPanel()
        self.histogram = HistogramPanel()
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.model_banner)
        top_layout.addWidget(self.patch_view, 1)
        self.bottom_split = QSplitter(Qt.Orientation.Horizontal)
        self.bottom_split.addWidget(self.review_panel)
        self.bottom_split.addWidget(self.histogram)
        self.right_split = QSplitter(Qt.Orientation.Vertical)
        self.right_split.addWidget(top)
        self.right_split.addWidget(self.bottom_split)
        self.right_split.setStretchFactor(0, 3)
        self.right_split.setStretchFactor(1, 2)
        self.main_split = QSplitter(Qt.Orientation.Horizontal)
        self.main_split.addWidget(left)
        self.main_split.addWidget(self.right_split)
        self.main_split.setStretchFactor(0, 1)
        self.main_split.setStretchFactor(1, 1)
        self.setCentralWidget(self.main_split)

        # Metrics: a dock (View ▸ Metrics panel), placed and shown as the user left it.
        self.metrics_panel = MetricsPanel()
        self.metrics_dock = QDockWidget("Metrics", self)
        self.metrics_dock.setObjectName("metrics_dock")  # saveState/restoreState key
        self.metrics_dock.setWidget(self.metrics_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.metrics_dock)

        # Status bar: counts, model, progress with cancel.
        self.counts_label = QLabel("no folder")
        self.model_label = QLabel(s.model_status)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("scoring %v / %m")
        self.progress.hide()
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.hide()
        status = self.statusBar()
        status.addPermanentWidget(self.counts_label)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.model_label)
        self._histogram_timer = QTimer(self)
        self._histogram_timer.setSingleShot(True)
        self._histogram_timer.setInterval(HISTOGRAM_THROTTLE_MS)
        self._histogram_timer.timeout.connect(self.histogram.refresh)
        self._progress_shown_at = 0.0
        self.histogram.set_table(s.table)

    def _build_actions(self) -> None:
        menus = {title: self.menuBar().addMenu(title) for title in MENUS}
        self.recent_menu = QMenu("Open &recent", self)
        for spec in ACTIONS:
            action = QAction(spec.text, self)
            action.setObjectName(spec.name)
            action.setShortcuts([QKeySequence(k) for k in spec.shortcuts])
            action.setCheckable(spec.checkable)
            action.setChecked(spec.checked)
            if spec.tip:
                action.setToolTip(spec.tip)
                action.setStatusTip(spec.tip)
            action.triggered.connect(self._slot_for(spec))
            if spec.separator_before:
                menus[spec.menu].addSeparator()
            menus[spec.menu].addAction(action)
            if spec.name == "open_demo":
                menus[spec.menu].addMenu(self.recent_menu)
            self.addAction(action)  # shortcuts work wherever the focus is in the window
            self.action_map[spec.name] = action
        self.cancel_button.clicked.connect(self.action_map["cancel"].trigger)

    def _slot_for(self, spec: ActionSpec) -> Callable[[bool], None]:
        method = getattr(self, spec.slot)
        if spec.checkable:
            return method  # type: ignore[no-any-return]

        def call(_checked: bool = False) -> None:
            method()

        return call

    def _bind_session(self) -> None:
        s = self.session
        s.folder_opened.connect(self._on_folder_opened)
        s.listing_progressed.connect(self._on_listing_progressed)
        s.listing_finished.connect(self._on_listing_finished)
        s.folder_failed.connect(self._on_folder_failed)
        s.current_changed.connect(self._on_current_changed)
        s.current_updated.connect(self._refresh_current)
        s.heatmap_changed.connect(self.patch_view.set_heatmap)
        s.counts_changed.connect(self._on_counts)
        s.scoring_progressed.connect(self._on_scoring_progressed)
        s.scoring_finished.connect(self._on_scoring_finished)
        s.model_changed.connect(self._on_model_changed)
        s.model_worker.model_loaded.connect(self._on_model_loaded)
        s.labels_loaded.connect(lambda text: self.statusBar().showMessage(text, 8000))
        s.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        s.table_changed.connect(self._schedule_histogram)
        s.evaluation_ready.connect(self._on_evaluation_ready)
        s.order_changed.connect(self._on_order_changed)
        self.grid.selectionModel().currentChanged.connect(self._on_grid_current)
        s.model.modelReset.connect(self._rebind_selection)

        self.sort_combo.currentIndexChanged.connect(
            lambda _i: s.set_sort(SortKey(self.sort_combo.currentData()))
        )
        for signal in (
            self.review_filter.currentIndexChanged,
            self.truth_filter.currentIndexChanged,
            self.disagree_check.toggled,
            self.p_min.valueChanged,
            self.p_max.valueChanged,
        ):
            signal.connect(self._on_filter_edited)
        rp = self.review_panel
        rp.box_toggled.connect(self.action_map["toggle_box"].setChecked)
        rp.heatmap_toggled.connect(self.action_map["toggle_heatmap"].setChecked)
        self.action_map["toggle_box"].toggled.connect(rp.box_check.setChecked)
        self.action_map["toggle_heatmap"].toggled.connect(rp.heat_check.setChecked)
        rp.opacity_changed.connect(self._on_opacity)
        rp.method_changed.connect(lambda text: s.set_explain_method(self._method_key(text)))
        rp.layer_changed.connect(s.set_explain_layer)
        mp = self.metrics_panel
        mp.set_recorder(self._adjudicate)
        mp.threshold_changed.connect(s.set_threshold)
        mp.source_changed.connect(s.set_evaluation_source)
        mp.patch_activated.connect(self.select_listed_patch)
        dock = self.metrics_dock
        dock.visibilityChanged.connect(s.set_evaluation_enabled)
        dock.toggleViewAction().toggled.connect(self.action_map["toggle_metrics"].setChecked)

    def _restore_preferences(self) -> None:
        p = self.prefs
        self.review_panel.set_opacity(p.overlay_opacity)
        self.patch_view.set_opacity(p.overlay_opacity)
        self.action_map["toggle_box"].setChecked(p.flag("show_box", True))
        self.action_map["toggle_heatmap"].setChecked(p.flag("show_heatmap", True))
        self.set_box_visible(self.action_map["toggle_box"].isChecked())
        self.set_heatmap_visible(self.action_map["toggle_heatmap"].isChecked())
        self.action_map["auto_advance"].setChecked(p.flag("auto_advance", False))
        self.session.auto_advance = self.action_map["auto_advance"].isChecked()
        geometry = p.layout("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 950)
        for key, splitter in self._splitters().items():
            state = p.layout(key)
            if state is not None:
                splitter.restoreState(state)
            elif key == "main_split":
                splitter.setSizes([760, 740])
            elif key == "right_split":
                splitter.setSizes([560, 360])
        state = p.layout("window_state")  # docks: where, how big, shown or not
        if state is not None:
            self.restoreState(state)
        else:  # wide enough for the summary table's eight columns
            self.resizeDocks([self.metrics_dock], [METRICS_DOCK_WIDTH], Qt.Orientation.Horizontal)
        self.action_map["toggle_metrics"].setChecked(not self.metrics_dock.isHidden())
        self._rebuild_recent_menu()

    def _splitters(self) -> dict[str, QSplitter]:
        return {
            "main_split": self.main_split,
            "right_split": self.right_split,
            "bottom_split": self.bottom_split,
        }

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in self.prefs.recent_folders:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _c=False, f=folder: self.open_folder(Path(f)))
        self.recent_menu.setEnabled(bool(self.prefs.recent_folders))

    # ------------------------------------------------------------------ session -> widgets
    def _on_folder_opened(self, folder: Path) -> None:
        self.setWindowTitle(f"pathview — {folder}")
        self.grid_message.setText(f"Listing {folder} …")
        self.grid_stack.setCurrentWidget(self.grid_message)
        self.prefs.remember_folder(folder)
        self._rebuild_recent_menu()

    def _on_listing_progressed(self, count: int) -> None:
        self.grid_stack.setCurrentWidget(self.grid)
        self.statusBar().showMessage(f"Listing… {count:,} patches", 2000)

    def _on_listing_finished(self, count: int) -> None:
        self.grid_stack.setCurrentWidget(self.grid)
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
        row = s.current_row
        if row is None:
            self.patch_view.show_message("No patch selected")
        elif info is None:
            if self.patch_view.pixels is not None:
                self.patch_view.show_message("Loading…")
        elif info.pixels is None:
            self.patch_view.show_message(f"Unreadable file\n{info.reason}")
        elif self.patch_view.pixels is not info.pixels:
            self.patch_view.show_pixels(info.pixels)
            heat = getattr(s.explanation, "map", None)
            self.patch_view.set_heatmap(heat)

    def _on_order_changed(self) -> None:
        # The order itself does not change the histogram, but a new folder brings a new table.
        self.histogram.set_table(self.session.table, refresh=False)
        self._schedule_histogram()

    def _schedule_histogram(self) -> None:
        # A throttle, not a debounce: the plot follows the scores while they stream in.
        if not self._histogram_timer.isActive():
            self._histogram_timer.start()

    def _on_evaluation_ready(self, report: EvaluationReport | None) -> None:
        self.metrics_panel.show_report(report)

    def _on_counts(self, counts: ReviewCounts) -> None:
        self.counts_label.setText(counts.summary())

    def _on_scoring_progressed(self, done: int, total: int) -> None:
        # QProgressBar.setValue repaints synchronously: a few times a second is plenty.
        now = time.monotonic()
        if done and done < total and now - self._progress_shown_at < PROGRESS_INTERVAL_S:
            return
        self._progress_shown_at = now
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress.show()
        self.cancel_button.show()

    def _on_scoring_finished(self, outcome: str) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        text = {"done": "Scoring finished", "cancelled": "Scoring cancelled"}.get(
            outcome, f"Scoring failed: {outcome}"
        )
        self.statusBar().showMessage(text, 6000)
        self.histogram.refresh()

    def _on_model_changed(self, text: str) -> None:
        self.model_label.setText(text if len(text) < 60 else text[:57] + "…")
        self.model_label.setToolTip(text)
        failed = text.startswith("No model")
        self.model_banner.setText(text)
        self.model_banner.setVisible(failed)

    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.review_panel.set_choices(
            list(info.methods.values()), list(info.layers), info.default_layer
        )

    def _method_key(self, display: str) -> str:
        info = self.session.model_info
        if info is None:
            return display
        return next((k for k, v in info.methods.items() if v == display), display)

    def _on_filter_edited(self, *_args: object) -> None:
        p_min, p_max = self.p_min.value(), self.p_max.value()
        truth = int(self.truth_filter.currentData())
        if p_min > p_max:
            p_min, p_max = p_max, p_min
        self.session.set_filter(
            FilterSpec(
                review=ReviewFilter(self.review_filter.currentData()),
                disagreements_only=self.disagree_check.isChecked(),
                p_min=p_min,
                p_max=p_max,
                truth=None if truth < 0 else truth,
            )
        )

    def _on_opacity(self, opacity: float) -> None:
        self.patch_view.set_opacity(opacity)
        self.prefs.overlay_opacity = opacity

    # ------------------------------------------------------------------ action slots
    def open_folder(self, folder: Path) -> None:
        self.session.open_folder(folder)

    def open_folder_dialog(self) -> None:
        start = self.prefs.last_folder or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of patches", start)
        if folder:
            self.open_folder(Path(folder))

    def open_demo(self) -> None:
        self.open_folder(DEMO_FOLDER)

    def load_labels_dialog(self) -> None:
        start = str(self.session.folder or Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Labels CSV (id,label)", start, "CSV (*.csv)")
        if path:
            self.session.load_labels(Path(path))

    def import_reviews_dialog(self) -> None:
        start = str(self.session.folder or Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import a colleague's reviews",
            start,
            "Review stores and logs (*.sqlite *.db *.csv);;All files (*)",
        )
        if path:
            self.import_reviews(Path(path))

    def import_reviews(self, source: Path) -> ImportResult | None:
        """Merge a colleague's review store or log (as ``pathview import``); a failure is shown
        and changes nothing (the import is one transaction)."""
        try:
            return self.session.import_reviews(source)
        except Exception as exc:  # shown, never a crash: nothing was imported
            self.show_warning("Import reviews", f"Nothing imported from {source}: {exc}")
            return None

    def _adjudicate(self, patch_id: str, label: int | None) -> bool:
        return self.ensure_reviewer() and self.session.adjudicate(patch_id, label)

    def select_listed_patch(self, patch_id: str) -> None:
        """Select a patch chosen in the metrics panel's lists in the grid."""
        if self.session.select_patch(patch_id):
            return
        if self.session.table.row_of(patch_id) is None:
            text = f"{patch_id} is not in this folder"
        else:
            text = f"{patch_id} is hidden by the current filter (Show: all shows it)"
        self.statusBar().showMessage(text, 8000)

    def ensure_reviewer(self) -> bool:
        if self.session.reviewer:
            return True
        return self.change_reviewer()

    def change_reviewer(self) -> bool:
        name = self._ask_reviewer(self, self.session.reviewer)
        if not name:
            return False
        self.session.reviewer = name
        self.prefs.reviewer = name
        self.statusBar().showMessage(f"Reviewer: {name}", 4000)
        return True

    def _verdict(self, verdict: Verdict) -> None:
        if self.ensure_reviewer():
            self.session.record(verdict)

    def agree(self) -> None:
        self._verdict(Verdict.AGREE)

    def disagree(self) -> None:
        self._verdict(Verdict.DISAGREE)

    def unsure(self) -> None:
        self._verdict(Verdict.UNSURE)

    def undo(self) -> None:
        self.session.undo()

    def next_patch(self) -> None:
        self.session.next_patch()

    def previous_patch(self) -> None:
        self.session.previous_patch()

    def next_unreviewed(self) -> None:
        self.session.next_unreviewed()

    def set_auto_advance(self, on: bool) -> None:
        self.session.auto_advance = on
        self.prefs.set_flag("auto_advance", on)

    def set_box_visible(self, on: bool) -> None:
        self.patch_view.set_box_visible(on)
        self.prefs.set_flag("show_box", on)

    def set_metrics_visible(self, on: bool) -> None:
        self.metrics_dock.setVisible(on)

    def set_heatmap_visible(self, on: bool) -> None:
        self.patch_view.set_heatmap_visible(on)
        self.session.set_heatmap_enabled(on)
        self.prefs.set_flag("show_heatmap", on)

    def apply_order(self) -> None:
        self.session.apply_order()

    def score(self) -> None:
        self.session.score(tta=False)

    def score_tta(self) -> None:
        self.session.score(tta=True)

    def cancel_work(self) -> None:
        self.session.cancel_work()

    def load_model_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder (weights + model.json)")
        if folder:
            self.session.load_model(Path(folder))

    def _export(
        self, title: str, default_name: str, write: Callable[[Path], int], out: Path | None
    ) -> int | None:
        if out is None:
            start = str((self.session.folder or Path.home()) / default_name)
            chosen, _ = QFileDialog.getSaveFileName(self, title, start, "CSV (*.csv)")
            if not chosen:
                return None
            out = Path(chosen)
        try:
            count = write(out)
        except Exception as exc:  # shown, never a crash: the review store is untouched
            self.show_warning(title, f"Export failed: {exc}")
            return None
        self.statusBar().showMessage(f"Wrote {count:,} rows to {out}", 8000)
        return count

    def show_warning(self, title: str, text: str) -> None:
        """A window-modal warning that does not block the event loop (nor a test)."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.statusBar().showMessage(text, 10000)

    def export_labels(self, out: Path | None = None) -> int | None:
        return self._export(
            "Export reviewed labels", "reviewed_labels.csv", self.session.export_labels, out
        )

    def export_log(self, out: Path | None = None) -> int | None:
        return self._export("Export review log", "review_log.csv", self.session.export_log, out)

    def export_submission(self, out: Path | None = None) -> int | None:
        return self._export(
            "Export Kaggle submission", "submission.csv", self.session.export_submission, out
        )

    # ------------------------------------------------------------------ Qt events
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            path = Path(urls[0].toLocalFile())
            if path.is_dir() or path.suffix.lower() == ".csv":
                event.acceptProposedAction()
                return
        event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = Path(event.mimeData().urls()[0].toLocalFile())
        if path.is_dir():
            self.open_folder(path)
        elif path.suffix.lower() == ".csv":
            self.session.load_labels(path)
        event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.prefs.set_layout("geometry", self.saveGeometry())
        self.prefs.set_layout("window_state", self.saveState())
        for key, splitter in self._splitters().items():
            self.prefs.set_layout(key, splitter.saveState())
        self.prefs.sync()
        self.session.shutdown()
        super().closeEvent(event)


__all__ = ["DEMO_FOLDER", "MainWindow", "ask_reviewer_dialog"]
