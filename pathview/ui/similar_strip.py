"""The similar-patches strip under the patch view: the current patch's nearest neighbours in
embedding space, each a thumbnail with its P(tumour), ground truth and review; a click goes
there. Binds to :class:`pathview.ui.similar.SimilarController`."""

from __future__ import annotations

import math

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from pathview.io import PatchInfo
from pathview.triage import ReviewCode
from pathview.ui.folder import FolderController
from pathview.ui.similar import Neighbour, SimilarController

ICON = 64
#: The strip's height: a thumbnail and two lines of caption.
STRIP_HEIGHT = ICON + 44
_REVIEW_MARK = {
    ReviewCode.UNREVIEWED: "",
    ReviewCode.AGREE: " ✓",
    ReviewCode.DISAGREE: " ✗",
    ReviewCode.UNSURE: " ?",
    ReviewCode.LABELLED: " ✎",  # a label given directly, with no model's call to judge
}


def neighbour_caption(p: float, truth: int, review: int, similarity: float) -> str:
    """The text under a neighbour's thumbnail: 'P 0.83 GT1 ✓' over 'cos 0.97'."""
    first = "P —" if math.isnan(p) else f"P {p:.2f}"
    if truth >= 0:
        first += f" GT{truth}"
    first += _REVIEW_MARK[ReviewCode(review)]
    return f"{first}\ncos {similarity:.2f}"


class SimilarStrip(QWidget):
    """A row of the most similar patches' thumbnails."""

    def __init__(
        self, controller: SimilarController, folder: FolderController, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._folder = folder
        self.title = QLabel("Similar:")
        self.title.setToolTip(
            "The current patch's nearest neighbours by the model's features (cosine)"
        )
        self.buttons: list[QToolButton] = []
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        for _ in range(controller.k):
            b = QToolButton()
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            b.setIconSize(QSize(ICON, ICON))
            b.setAutoRaise(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay with the grid
            b.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            b.hide()
            layout.addWidget(b)
            self.buttons.append(b)
        self.empty = QLabel("no embeddings yet (score the folder)")
        self.empty.setStyleSheet("QLabel { color: #999; }")
        layout.addWidget(self.empty)
        layout.addStretch(1)
        self._rows: list[int] = []
        for i, b in enumerate(self.buttons):
            b.clicked.connect(lambda _c=False, i=i: self._clicked(i))
        controller.neighbours_changed.connect(self.show_neighbours)
        folder.loader.thumbnail_loaded.connect(self._on_thumbnail)
        folder.rows_repainted.connect(self._on_repainted)

    def show_neighbours(self, neighbours: list[Neighbour]) -> None:
        self._rows = [n.row for n in neighbours]
        table = self._folder.table
        for i, b in enumerate(self.buttons):
            if i >= len(neighbours):
                b.hide()
                continue
            n = neighbours[i]
            row = n.row
            b.setText(
                neighbour_caption(table.p[row], table.truth[row], table.review[row], n.similarity)
            )
            b.setToolTip(f"{table.relpaths[row]}\ncosine similarity {n.similarity:.3f}")
            image = self._folder.thumbnails.get(table.ref(row))
            b.setIcon(
                QIcon() if image is None else QIcon(QPixmap.fromImage(image).scaled(ICON, ICON))
            )
            b.show()
        self.empty.setVisible(not neighbours)

    def _clicked(self, i: int) -> None:
        if i < len(self._rows):
            self._controller.go_to(self._rows[i])

    def _on_thumbnail(self, patch_id: str, _info: PatchInfo) -> None:
        row = self._folder.table.row_of(patch_id)
        if row is not None and row in self._rows:
            self.show_neighbours(self._controller.neighbours)

    def _on_repainted(self, rows: set[int]) -> None:
        if rows.intersection(self._rows):  # a neighbour's review or score changed
            self.show_neighbours(self._controller.neighbours)

    def caption(self, i: int) -> str:
        return self.buttons[i].text()
