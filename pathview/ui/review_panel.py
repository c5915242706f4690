"""The facts about the selected patch and the overlay controls. Binds, holds no behaviour."""

from __future__ import annotations

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
from pathview.ui.palette import probability_colour

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
    method_changed = Signal(str)
    layer_changed = Signal(str)
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
            ("review", "Review"),
            ("file", "Size"),
            ("integrity", "Integrity"),
            ("explanation", "Heat map"),
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
        self.method_combo = QComboBox()
        self.layer_combo = QComboBox()
        grid.addRow("Method:", self.method_combo)
        grid.addRow("Layer:", self.layer_combo)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(facts)
        layout.addWidget(overlay)

        self.box_check.toggled.connect(self.box_toggled)
        self.heat_check.toggled.connect(self.heatmap_toggled)
        self.opacity_slider.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))
        self.method_combo.currentTextChanged.connect(self.method_changed)
        self.layer_combo.currentTextChanged.connect(self.layer_changed)
        for combo in (self.method_combo, self.layer_combo):
            combo.activated.connect(lambda _i: self.done.emit())
        for check in (self.box_check, self.heat_check):
            check.clicked.connect(lambda _c: self.done.emit())
        self.opacity_slider.sliderReleased.connect(self.done)

    def show_facts(self, facts: PatchFacts) -> None:
        for key, label in self._labels.items():
            label.setText(str(getattr(facts, key)))
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

    def fact(self, key: str) -> str:
        label = self._labels[key]
        return label.full_text if isinstance(label, ElidedLabel) else label.text()

    def set_choices(self, methods: list[str], layers: list[str], layer: str) -> None:
        for combo, items, current in (
            (self.method_combo, methods, methods[0] if methods else ""),
            (self.layer_combo, layers, layer),
        ):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(items)
            if current in items:
                combo.setCurrentText(current)
            combo.setEnabled(bool(items))
            combo.blockSignals(False)

    def set_opacity(self, opacity: float) -> None:
        self.opacity_slider.setValue(round(opacity * 100))
