"""The grid of patch tiles and the sort/filter bar above it."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qdebounced

from pathview.quality import THRESHOLDS
from pathview.triage import ANY_FLAG, DUPLICATES, NEEDS_TTA, FilterSpec, ReviewFilter, SortKey
from pathview.ui.delegate import TILE, TILE_SIZES, PatchDelegate, tile_size

FILTER_DEBOUNCE_MS = 400  # the P range applies when typing pauses
#: The count the filter bar makes room for at first ("888,888"); a wider one widens
#: the label once.
COUNT_WIDTH_SAMPLE = 888_888


class PatchGrid(QListView):
    """Icon-mode list of delegate-painted tiles; uniform sizes keep 220k rows cheap."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        # Each step of the batched layout runs on the GUI thread: 500 rows a step kept opening
        # a 20,000-patch folder under 50 ms a stall, 2,000 did not (bench_gui_responsiveness).
        self.setBatchSize(500)
        self.setGridSize(TILE)
        self.setSpacing(0)
        self.setWrapping(True)
        self.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(TILE.height() // 3)
        self.delegate = PatchDelegate(self)
        self.setItemDelegate(self.delegate)
        self.setStyleSheet("QListView { background: #1e1e22; }")
        self.setMinimumWidth(TILE.width() * 3 + 30)

    def setModel(self, model: QAbstractItemModel | None) -> None:
        """Show ``model``; one that asks for a whole repaint (``repaint_all``, as
        :class:`pathview.ui.models.PatchListModel` does for a change of many rows) gets it."""
        old = self.model()
        if old is not None and hasattr(old, "repaint_all"):
            old.repaint_all.disconnect(self.viewport().update)
        super().setModel(model)
        if model is not None and hasattr(model, "repaint_all"):
            model.repaint_all.connect(self.viewport().update)

    @property
    def thumb(self) -> int:
        """The thumbnail size of the tiles, in px."""
        return self.delegate.thumb

    def set_look(self, thumb: int, centre_box: bool) -> None:
        """Tiles of ``thumb`` px (one of ``TILE_SIZES``; others snap to the nearest), with or
        without the centre box; the current tile stays in view."""
        thumb = min(TILE_SIZES, key=lambda t: abs(t - thumb))
        self.delegate.set_look(thumb, centre_box)
        size = tile_size(thumb)
        self.setGridSize(size)
        self.verticalScrollBar().setSingleStep(size.height() // 3)
        self.scheduleDelayedItemsLayout()
        self.viewport().update()
        if self.currentIndex().isValid():
            self.scrollTo(self.currentIndex())

    def step_tile_size(self, steps: int) -> int:
        """The tile size ``steps`` sizes larger (negative: smaller), within ``TILE_SIZES``."""
        at = TILE_SIZES.index(self.thumb) if self.thumb in TILE_SIZES else 1
        return TILE_SIZES[max(0, min(len(TILE_SIZES) - 1, at + steps))]

    def step(self, move: QAbstractItemView.CursorAction) -> None:
        """Move the current tile as the grid's own keys do (a row down, a page, home ...)."""
        index = self.moveCursor(move, Qt.KeyboardModifier.NoModifier)
        if index.isValid():
            self.setCurrentIndex(index)

    # Slots of the action table's navigation keys (they work wherever the focus is).
    def tile_below(self) -> None:
        self.step(QAbstractItemView.CursorAction.MoveDown)

    def tile_above(self) -> None:
        self.step(QAbstractItemView.CursorAction.MoveUp)

    def page_below(self) -> None:
        self.step(QAbstractItemView.CursorAction.MovePageDown)

    def page_above(self) -> None:
        self.step(QAbstractItemView.CursorAction.MovePageUp)

    def first_tile(self) -> None:
        self.step(QAbstractItemView.CursorAction.MoveHome)

    def last_tile(self) -> None:
        self.step(QAbstractItemView.CursorAction.MoveEnd)


class FilterBar(QWidget):
    """Sort key and filters of the grid; emits what the user chose.

    The P range is applied when typing pauses (or on Return), the other filters at once;
    ``done`` says the user finished with a control (the window gives the grid the keys back).
    """

    sort_chosen = Signal(SortKey)
    filter_edited = Signal(FilterSpec)
    done = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sort_combo = QComboBox()
        # Long key names must not widen the grid's column: the combo shows what fits.
        self.sort_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.sort_combo.setMinimumContentsLength(10)
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
        self.quality_filter = QComboBox()
        self.quality_filter.setToolTip("Show only patches with a quality flag, or duplicates")
        self.quality_filter.addItem("any quality", "")
        self.quality_filter.addItem(ANY_FLAG, ANY_FLAG)
        for t in THRESHOLDS:
            self.quality_filter.addItem(t.flag, t.flag)
            self.quality_filter.setItemData(
                self.quality_filter.count() - 1, t.describe(), Qt.ItemDataRole.ToolTipRole
            )
        self.quality_filter.addItem(DUPLICATES, DUPLICATES)

        bar1 = QHBoxLayout()
        bar1.addWidget(QLabel("Sort:"))
        bar1.addWidget(self.sort_combo, 1)
        bar1.addWidget(QLabel("Show:"))
        bar1.addWidget(self.review_filter)
        bar1.addWidget(self.quality_filter)
        bar2 = QHBoxLayout()
        bar2.addWidget(self.disagree_check)
        bar2.addWidget(QLabel("P from"))
        bar2.addWidget(self.p_min)
        bar2.addWidget(QLabel("to"))
        bar2.addWidget(self.p_max)
        bar2.addWidget(self.truth_filter)
        bar2.addStretch(1)
        self.shown_label = QLabel("")
        self.shown_label.setObjectName("shownCount")
        self.shown_label.setToolTip("Patches the current sort and filter show, of the folder's")
        # A fixed size: a label whose size can change asks the whole window to lay itself out
        # again on every new text, and the count changes with each listed batch (tens of ms a
        # time with a 220,025-patch grid). It only ever widens, when a count needs it.
        self.shown_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.shown_label.setText(f"{COUNT_WIDTH_SAMPLE:,}")
        self.shown_label.setFixedSize(self.shown_label.sizeHint())
        self.shown_label.setText("")
        bar2.addWidget(self.shown_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar1)
        layout.addLayout(bar2)

        self.sort_combo.currentIndexChanged.connect(
            lambda _i: self.sort_chosen.emit(SortKey(self.sort_combo.currentData()))
        )
        self._emit_filter_soon = qdebounced(self._emit_filter, FILTER_DEBOUNCE_MS, parent=self)
        for signal in (
            self.review_filter.currentIndexChanged,
            self.truth_filter.currentIndexChanged,
            self.quality_filter.currentIndexChanged,
            self.disagree_check.toggled,
        ):
            signal.connect(lambda *_args: self._emit_filter())
        for box in (self.p_min, self.p_max):
            box.valueChanged.connect(lambda _v: self._emit_filter_soon())
            box.editingFinished.connect(lambda b=box: self._editing_finished(b))
        for combo in (self.sort_combo, self.review_filter, self.truth_filter, self.quality_filter):
            combo.activated.connect(lambda _i: self.done.emit())
        self.disagree_check.clicked.connect(lambda _c: self.done.emit())

    def set_blind(self, hide_p: bool, hide_truth: bool) -> None:
        """Blind mode: the orders and filters that would show P (every order but name) or the
        ground truth are set back to neutral and disabled until blind mode ends."""
        items = self.sort_combo.model()
        for i in range(self.sort_combo.count()):
            key = SortKey(self.sort_combo.itemData(i))
            shows = (hide_p and key is not SortKey.NAME) or (
                hide_truth and key is SortKey.DISAGREEMENT
            )
            items.item(i).setEnabled(not shows)  # type: ignore[attr-defined]
        if not items.item(self.sort_combo.currentIndex()).isEnabled():  # type: ignore[attr-defined]
            self.sort_combo.setCurrentIndex(0)  # name
        if hide_p:
            self.p_min.setValue(0.0)
            self.p_max.setValue(1.0)
        if hide_truth:
            self.truth_filter.setCurrentIndex(0)  # any truth
        if hide_p or hide_truth:  # model call vs truth: both
            self.disagree_check.setChecked(False)
        self.p_min.setEnabled(not hide_p)
        self.p_max.setEnabled(not hide_p)
        self.truth_filter.setEnabled(not hide_truth)
        self.disagree_check.setEnabled(not (hide_p or hide_truth))
        self._emit_filter()

    def _emit_filter(self) -> None:
        self._emit_filter_soon.cancel()
        self.filter_edited.emit(self.filter_spec())

    def _editing_finished(self, box: QDoubleSpinBox) -> None:
        self.flush()
        if box.hasFocus():  # Return, not the focus leaving for another widget
            self.done.emit()

    def flush(self) -> None:
        """Apply a P range still waiting for typing to pause."""
        self._emit_filter_soon.flush(restart_timer=False)

    def show_count(self, shown: int, total: int) -> None:
        """Say how many patches the filter shows (all of them: just the count)."""
        text = f"{total:,}" if shown == total else f"{shown:,} of {total:,}"
        label = self.shown_label
        frame = label.width() - label.contentsRect().width()
        needed = label.fontMetrics().horizontalAdvance(text) + 2 * label.margin() + frame
        if needed > label.width():
            label.setFixedWidth(needed)
        label.setText(text)

    def show_choice(self, key: SortKey, spec: FilterSpec) -> None:
        """Show a sort key and filter chosen elsewhere (a resumed folder), emitting nothing."""
        widgets = (
            self.sort_combo,
            self.review_filter,
            self.truth_filter,
            self.quality_filter,
            self.disagree_check,
            self.p_min,
            self.p_max,
        )
        for w in widgets:
            w.blockSignals(True)
        try:
            self.sort_combo.setCurrentIndex(max(0, self.sort_combo.findData(key)))
            self.review_filter.setCurrentIndex(max(0, self.review_filter.findData(spec.review)))
            truth = -1 if spec.truth is None else spec.truth
            self.truth_filter.setCurrentIndex(max(0, self.truth_filter.findData(truth)))
            quality = self.quality_filter.findData(spec.quality)
            self.quality_filter.setCurrentIndex(max(0, quality))
            self.disagree_check.setChecked(spec.disagreements_only)
            self.p_min.setValue(spec.p_min)
            self.p_max.setValue(spec.p_max)
        finally:
            for w in widgets:
                w.blockSignals(False)

    def set_p_range(self, p_min: float, p_max: float) -> None:
        """Filter to P(tumour) in [p_min, p_max] now (a histogram bar was clicked)."""
        for box, value in ((self.p_min, p_min), (self.p_max, p_max)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self._emit_filter()

    def filter_spec(self) -> FilterSpec:
        """The filter the widgets show."""
        p_min, p_max = self.p_min.value(), self.p_max.value()
        truth = int(self.truth_filter.currentData())
        if p_min > p_max:
            p_min, p_max = p_max, p_min
        return FilterSpec(
            review=ReviewFilter(self.review_filter.currentData()),
            disagreements_only=self.disagree_check.isChecked(),
            p_min=p_min,
            p_max=p_max,
            truth=None if truth < 0 else truth,
            quality=str(self.quality_filter.currentData() or ""),
        )
