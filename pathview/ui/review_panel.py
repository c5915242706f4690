"""The facts about the selected patch and the overlay controls. Binds, holds no behaviour."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from pathview.ui.facts import PatchFacts
from pathview.ui.palette import LABEL_COLOURS, LABEL_NAMES, probability_colour
from pathview.ui.patch_view import HEAT_STYLES


def show_key(combo: QComboBox, key: str) -> None:
    """Select the item whose data is ``key`` (if any) without emitting a change."""
    index = combo.findData(key) if key else -1
    if index >= 0 and index != combo.currentIndex():
        combo.blockSignals(True)
        combo.setCurrentIndex(index)
        combo.blockSignals(False)
    _name_key(combo)


def fill_choices(combo: QComboBox, items: Mapping[str, str], current: str) -> None:
    """Fill ``combo`` with ``{key: the name shown}`` (the key is each item's data and tooltip)
    and select ``current``, without emitting a change."""
    combo.blockSignals(True)
    combo.clear()
    for key, text in items.items():
        combo.addItem(text, key)
        combo.setItemData(combo.count() - 1, key, Qt.ItemDataRole.ToolTipRole)
    show_key(combo, current)
    combo.setEnabled(bool(items))
    combo.blockSignals(False)


def _name_key(combo: QComboBox) -> None:
    """The combo's tooltip names the current item's key: the technical name ("stages.1")
    behind the readable one ("Block 2 of 3, 12×12")."""
    data = combo.currentData()
    combo.setToolTip(f"{combo.currentText()}: {data}" if data else "")


_LABEL_OF_NAME = {name: label for label, name in LABEL_NAMES.items()}

FACT_MIN_WIDTH = 120


class ElidedLabel(QLabel):
    """A one-line label that shows as much of its text as fits, eliding the middle (a long
    file name keeps its start and its extension); the whole text is its tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.full_text = text
        self.setText(text)

    def setText(self, text: str) -> None:
        self.full_text = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(1, self.contentsRect().width())
        shown = self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideMiddle, width)
        super().setText(shown)


class ReviewPanel(QWidget):
    """Read-outs for the current patch plus box / heat-map / opacity / method / layer."""

    box_toggled = Signal(bool)
    heatmap_toggled = Signal(bool)
    opacity_changed = Signal(float)
    method_changed = Signal(str)  # a method key ("gradcam")
    layer_changed = Signal(str)  # a layer's module name ("stages.1")
    style_changed = Signal(str)  # a key of HEAT_STYLES
    done = Signal()  # the user finished with a control (the grid gets the keys back)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        facts = QGroupBox("Patch")
        form = QFormLayout(facts)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self._labels: dict[str, QLabel] = {}
        for key, title in (
            ("name", "File"),
            ("probability", "P(tumour)"),
            ("centre_focus", "Centre focus"),
            ("truth", "Ground truth"),
            ("label", "Label"),
            ("review", "Review"),
            ("note", "Note"),
            ("file", "Size"),
            ("integrity", "Integrity"),
            ("explanation", "Heat map"),
            ("quality", "Quality"),
            ("duplicates", "Duplicates"),
        ):
            label = ElidedLabel("—") if key == "name" else QLabel("—")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(key != "name")  # the name is one line, elided to fit
            # The pane keeps its width whatever a patch's facts say (a long file name wraps
            # or is cut, never pushes the splitter): the panes hold still between patches.
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            label.setMinimumWidth(FACT_MIN_WIDTH)
            self._labels[key] = label
            form.addRow(title + ":", label)
        self._labels["probability"].setObjectName("probabilityLabel")
        self._labels["label"].setObjectName("reviewLabel")

        overlay = QGroupBox("Overlay")
        grid = QFormLayout(overlay)
        toggles = QHBoxLayout()
        self.box_check = QCheckBox("Centre 32×32 box (B)")
        self.box_check.setChecked(True)
        self.heat_check = QCheckBox("Heat map (H)")
        self.heat_check.setChecked(True)
        toggles.addWidget(self.box_check)
        toggles.addWidget(self.heat_check)
        grid.addRow(toggles)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(50)
        grid.addRow("Opacity:", self.opacity_slider)
        self.style_combo = QComboBox()
        for key, text in HEAT_STYLES.items():
            self.style_combo.addItem(text, key)
        self.style_combo.setToolTip(
            "Colour blend over the patch, or outlines at a quarter, half and three quarters of "
            "the map's peak (the tissue stays visible)"
        )
        self.method_combo = QComboBox()
        self.layer_combo = QComboBox()
        grid.addRow("Draw as:", self.style_combo)
        grid.addRow("Method:", self.method_combo)
        grid.addRow("Layer:", self.layer_combo)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(facts)
        layout.addWidget(overlay)

        self.box_check.toggled.connect(self.box_toggled)
        self.heat_check.toggled.connect(self.heatmap_toggled)
        self.opacity_slider.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))
        for combo, signal in (
            (self.method_combo, self.method_changed),
            (self.layer_combo, self.layer_changed),
            (self.style_combo, self.style_changed),
        ):
            combo.currentIndexChanged.connect(
                lambda _i, c=combo, s=signal: s.emit(str(c.currentData() or ""))
            )
        for combo in (self.method_combo, self.layer_combo):
            combo.currentIndexChanged.connect(lambda _i, c=combo: _name_key(c))
        for combo in (self.method_combo, self.layer_combo, self.style_combo):
            combo.activated.connect(lambda _i: self.done.emit())
        for check in (self.box_check, self.heat_check):
            check.clicked.connect(lambda _c: self.done.emit())
        self.opacity_slider.sliderReleased.connect(self.done)

    def show_facts(self, facts: PatchFacts) -> None:
        for key, label in self._labels.items():
            label.setText(str(getattr(facts, key)))
        self._labels["explanation"].setToolTip(facts.explanation_tip)
        prob = self._labels["probability"]
        if facts.p_value is None:
            prob.setStyleSheet("")
        else:
            colour = probability_colour(facts.p_value)
            text = "white" if facts.p_value < 0.25 or facts.p_value > 0.75 else "black"
            prob.setStyleSheet(
                f"QLabel {{ background: {colour.name()}; color: {text}; padding: 1px 4px;"
                " border-radius: 3px; font-weight: bold; }"
            )

        label = self._labels["label"]
        if facts.label in _LABEL_OF_NAME:
            colour = LABEL_COLOURS[_LABEL_OF_NAME[facts.label]]
            label.setStyleSheet(
                f"QLabel {{ background: {colour.name()}; color: white; padding: 1px 4px;"
                " border-radius: 3px; font-weight: bold; }"
            )
        else:
            label.setStyleSheet("")

    def fact(self, key: str) -> str:
        label = self._labels[key]
        return label.full_text if isinstance(label, ElidedLabel) else label.text()

    def set_choices(
        self, methods: Mapping[str, str], layers: Mapping[str, str], method: str, layer: str
    ) -> None:
        """Fill the method and layer combos: ``{key: the name shown}`` each (the key, e.g. the
        layer's module name, is the item's tooltip), ``method``/``layer`` selected."""
        fill_choices(self.method_combo, methods, method)
        fill_choices(self.layer_combo, layers, layer)

    def set_opacity(self, opacity: float) -> None:
        self.opacity_slider.setValue(round(opacity * 100))
