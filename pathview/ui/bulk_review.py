"""Bulk review of the map selection: one verdict or label for every patch a box or lasso
picked, after a confirmation that says how many and shows a sample of them.

The plan (:func:`pathview.triage.bulk.plan_bulk`, through ``ReviewController.plan_bulk``)
leaves the patches this reviewer has reviewed already, and for agree/disagree those not
scored; the store records the rest as one event per patch sharing a batch id, and Ctrl+Z
undoes the whole bulk review as one step. The window's Review menu holds the actions
(:data:`pathview.ui.actions.ACTIONS`, slots ``bulk.*``); the map dock has a button with the
same actions next to "Clear selection". The confirmation is injectable (``confirm``) so tests
can answer it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pathview.io import read_patch
from pathview.triage.bulk import BULK_ACTIONS, BulkPlan
from pathview.ui.models import image_from_pixels
from pathview.ui.session import TriageSession

#: Sample thumbnails per row of the confirmation, and their side in pixels.
SAMPLE_COLUMNS = 6
SAMPLE_SIDE = 72
#: The window's bulk actions (names in the action table; their slots are ``bulk.<name>``,
#: the methods below, each running :data:`pathview.triage.bulk.BULK_ACTIONS` ``[<name>]``).
BULK_ACTION_NAMES: tuple[str, ...] = tuple(f"bulk_{name}" for name in BULK_ACTIONS)


@dataclass(frozen=True)
class Sample:
    """One patch shown in the confirmation: its id and its pixels as an image (None when the
    file could not be read)."""

    patch_id: str
    image: QImage | None


ConfirmBulk = Callable[[QWidget, BulkPlan, Sequence[Sample]], bool]


def confirm_bulk_dialog(parent: QWidget, plan: BulkPlan, samples: Sequence[Sample]) -> bool:
    """Ask before a bulk review: the plan's summary and a sample of the patches. Nothing is
    the default: Enter does not confirm by accident; Escape cancels."""
    dialog = QDialog(parent)
    dialog.setWindowTitle("Bulk review")
    text = QLabel(plan.summary())
    text.setWordWrap(True)
    grid = QGridLayout()
    for i, sample in enumerate(samples):
        tile = QLabel()
        tile.setFixedSize(SAMPLE_SIDE, SAMPLE_SIDE)
        tile.setToolTip(sample.patch_id)
        if sample.image is None:
            tile.setText("unreadable")
        else:
            tile.setPixmap(
                QPixmap.fromImage(sample.image).scaled(
                    SAMPLE_SIDE,
                    SAMPLE_SIDE,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
        grid.addWidget(tile, i // SAMPLE_COLUMNS, i % SAMPLE_COLUMNS)
    shown = QLabel(f"A sample of {len(samples)} of the {len(plan):,} patches:")
    buttons = QDialogButtonBox()
    record = QPushButton(f"Record {len(plan):,} reviews")
    record.setAutoDefault(False)
    buttons.addButton(record, QDialogButtonBox.ButtonRole.AcceptRole)
    cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
    cancel.setAutoDefault(False)
    cancel.setFocus()  # Space on the focused button must not record by accident
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(text)
    layout.addWidget(shown)
    layout.addLayout(grid)
    layout.addWidget(buttons)
    return dialog.exec() == QDialog.DialogCode.Accepted


def read_samples(root: Path | None, ids: Sequence[str], relpaths: Sequence[str]) -> list[Sample]:
    """The sample patches' pixels read from their files (a dozen small reads)."""
    out = []
    for pid, rel in zip(ids, relpaths, strict=True):
        image = None
        if root is not None:
            decoded = read_patch(root / rel)
            if decoded.pixels is not None:
                image = image_from_pixels(decoded.pixels)
        out.append(Sample(pid, image))
    return out


class BulkReview(QObject):
    """The window's bulk review: plans the action on the map selection, asks, records."""

    def __init__(
        self,
        parent: QWidget,
        session: TriageSession,
        confirm: ConfirmBulk = confirm_bulk_dialog,
        message: Callable[[str], None] = lambda _text: None,
        after: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(parent)
        self._parent = parent
        self._session = session
        #: Asks before recording (a dialog; tests answer it themselves).
        self.confirm = confirm
        self._message = message
        self._after = after  # gives the keys back to the grid after the dialog

    def run(self, name: str) -> int:
        """Bulk action ``name`` (a key of :data:`pathview.triage.bulk.BULK_ACTIONS`) on the
        map selection; returns how many reviews were recorded (0: refused or cancelled)."""
        s = self._session
        rows = s.map.picked_rows()
        plan = s.reviews.plan_bulk(rows.tolist(), BULK_ACTIONS[name])
        if plan.refusal:
            self._message(plan.refusal)
            return 0
        t = s.table
        sample = plan.sample().tolist()
        samples = read_samples(
            s.folders.folder, [t.ids[r] for r in sample], [t.relpaths[r] for r in sample]
        )
        try:
            if not self.confirm(self._parent, plan, samples):
                self._message("Bulk review cancelled: nothing was recorded.")
                return 0
            return s.reviews.record_bulk(plan)
        finally:
            self._after()

    # The action table's slots.
    def tumour(self) -> int:
        return self.run("tumour")

    def normal(self) -> int:
        return self.run("normal")

    def unsure(self) -> int:
        return self.run("unsure")

    def agree(self) -> int:
        return self.run("agree")

    def disagree(self) -> int:
        return self.run("disagree")


def selection_button(actions: Sequence[QAction], parent: QWidget | None = None) -> QToolButton:
    """'Review selection ▾': the bulk actions as a menu, for the map dock."""
    button = QToolButton(parent)
    button.setText("Review selection")
    button.setToolTip("One verdict or label for every patch the box or lasso picked")
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    menu = QMenu(button)
    for action in actions:
        menu.addAction(action)
    button.setMenu(menu)
    return button


def enable_bulk_actions(
    actions: Sequence[QAction], picked: int, button: QToolButton | None = None
) -> None:
    """The bulk actions (and the map's button) work only while the map has picked patches
    (``picked`` >= 1)."""
    for action in actions:
        action.setEnabled(picked > 0)
    if button is not None:
        button.setEnabled(picked > 0)
