"""Paints one grid tile: thumbnail, P(tumour) bar, review badge, the label the review fixed,
truth chip, file marks, quality and duplicate marks, and the centre 32 x 32 box the label is
about (a toggle). Tiles come in a few sizes (:data:`TILE_SIZES`); 96 px draws the thumbnail
1:1."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from pathview.core import CENTRE_BOX, LruCache
from pathview.io import FileStatus
from pathview.triage import ReviewCode
from pathview.ui.models import (
    FileStatusRole,
    ProbabilityRole,
    QualityRole,
    ReviewLabelRole,
    ReviewRole,
    TruthRole,
)
from pathview.ui.palette import (
    ALTERED_COLOUR,
    BOX_COLOUR,
    LABEL_COLOURS,
    LABEL_NAMES,
    REVIEW_COLOURS,
    REVIEW_GLYPHS,
    TRUTH_COLOURS,
    UNREADABLE_COLOUR,
    probability_colour,
)

THUMB = 96  # native size: thumbnails are drawn 1:1, never resampled
MARGIN = 4
BAR = 10
#: Thumbnail sizes the grid offers (View ▸ Larger/Smaller tiles).
TILE_SIZES = (64, 96, 128, 192)


def tile_size(thumb: int) -> QSize:
    """The grid cell of a ``thumb`` px thumbnail (its P bar and margins included)."""
    return QSize(thumb + 2 * MARGIN, thumb + BAR + 3 * MARGIN)


TILE = tile_size(THUMB)
LABEL_CHIP_H = 14  # the review label's chip, bottom right of the thumbnail
TILE_CACHE = 600  # finished tiles (~45 KB each): a few screens of the grid


class PatchDelegate(QStyledItemDelegate):
    """Delegate of the patch grid; everything is painted, no widget per tile."""

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return tile_size(self.thumb)

    def __init__(self, parent: QObject | None = None, cache_size: int = TILE_CACHE) -> None:
        super().__init__(parent)
        self.thumb = THUMB
        self.centre_box = True
        # Finished tiles, keyed by everything they show: a repaint (scrolling, a score batch
        # arriving elsewhere) is one drawPixmap instead of ~25 painter calls, which keeps the
        # GUI thread short on the GIL while workers decode and score.
        self._tiles: LruCache[tuple[object, ...], QPixmap] = LruCache(cache_size)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        model = index.model()
        facts = getattr(model, "tile_facts", None)
        if callable(facts):  # PatchListModel: every fact in one call
            image, p, review_value, label, truth, status_value, marks = facts(index.row())
            review = ReviewCode(review_value)
            status = FileStatus(status_value)
        else:
            image, p, review, label, truth, status, marks = _facts_from_roles(index)
        if not isinstance(image, QImage) or image.isNull():
            image = None
        dpr = painter.device().devicePixelRatioF() if painter.device() is not None else 1.0
        # P as the tile shows it (two decimals): the tile is then a function of its key,
        # keyed by what it shows, not by patch, so tiles that look alike (a page of patches
        # not loaded yet, with the same P) share one pixmap.
        p = None if p is None else round(float(p), 2)  # type: ignore[arg-type]
        key = (
            0 if image is None else image.cacheKey(),
            p,
            review,
            label,
            truth,
            status,
            marks,
            dpr,
            self.thumb,
            self.centre_box,
        )
        tile = self._tiles.get(key)
        if tile is None:
            tile = self._render(image, p, (review, label), truth, status, dpr, marks)  # type: ignore[arg-type]
            self._tiles.put(key, tile)
        rect = option.rect
        painter.drawPixmap(rect.topLeft(), tile)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.save()
            painter.setPen(QPen(option.palette.highlight().color(), 4))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(2, 2, -2, -2))
            painter.setPen(QPen(QColor(255, 255, 255), 1))
            painter.drawRect(rect.adjusted(0, 0, -1, -1))
            painter.restore()

    def set_look(self, thumb: int, centre_box: bool) -> None:
        """Draw ``thumb`` px thumbnails, with or without the centre box."""
        self.thumb = thumb
        self.centre_box = centre_box

    def _render(
        self,
        image: QImage | None,
        p: float | None,
        reviewed: tuple[ReviewCode, int | None],
        truth: int | None,
        status: FileStatus,
        dpr: float,
        marks: str = "",
    ) -> QPixmap:
        review, label = reviewed
        size = tile_size(self.thumb)
        pixmap = QPixmap(round(size.width() * dpr), round(size.height() * dpr))
        pixmap.setDevicePixelRatio(dpr)
        pixmap.fill(QColor(40, 40, 44))
        painter = QPainter(pixmap)
        rect = QRect(0, 0, size.width(), size.height())
        if review is not ReviewCode.UNREVIEWED:
            painter.fillRect(QRect(0, 0, rect.width(), 3), REVIEW_COLOURS[review])
        image_rect = QRect(MARGIN, MARGIN, self.thumb, self.thumb)
        if status is FileStatus.UNREADABLE:
            self._paint_unreadable(painter, image_rect)
        elif image is not None:
            smooth = image.width() != self.thumb
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
            painter.drawImage(image_rect, image)
            if self.centre_box:
                self._paint_centre_box(painter, image_rect)
        else:
            painter.fillRect(image_rect, QColor(70, 70, 76))
        self._paint_bar(painter, rect, p)
        self._paint_badges(painter, image_rect, review, truth, status)
        if review is not ReviewCode.UNREVIEWED:
            self._paint_label(painter, image_rect, label)
        if marks:
            # Above the review's label chip where there is one (both sit bottom right).
            lift = LABEL_CHIP_H + 2 if review is not ReviewCode.UNREVIEWED else 0
            paint_quality_marks(painter, image_rect.adjusted(0, 0, 0, -lift), marks)
        painter.end()
        return pixmap

    def _paint_centre_box(self, painter: QPainter, r: QRect) -> None:
        """The centre 32 x 32 of a 96 px patch (the region the label is about), scaled."""
        x0, y0, x1, y1 = CENTRE_BOX
        scale = r.width() / THUMB
        box = QRect(
            r.left() + round(x0 * scale),
            r.top() + round(y0 * scale),
            round((x1 - x0) * scale),
            round((y1 - y0) * scale),
        )
        painter.setPen(QPen(BOX_COLOUR, 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(box.adjusted(0, 0, -1, -1))

    def _paint_unreadable(self, painter: QPainter, r: QRect) -> None:
        painter.fillRect(r, UNREADABLE_COLOUR)
        painter.setPen(QPen(QColor(255, 200, 200), 3))
        painter.drawLine(r.topLeft() + _pt(20, 20), r.bottomRight() - _pt(20, 20))
        painter.drawLine(r.topRight() + _pt(-20, 20), r.bottomLeft() + _pt(20, -20))
        painter.setPen(QColor(255, 230, 230))
        font = QFont(painter.font())
        font.setPointSizeF(7.5)
        painter.setFont(font)
        painter.drawText(
            r.adjusted(2, 0, -2, -4),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
            "unreadable",
        )

    def _paint_bar(self, painter: QPainter, rect: QRect, p: float | None) -> None:
        bar = QRect(rect.left() + MARGIN, rect.bottom() - MARGIN - BAR + 1, self.thumb, BAR)
        painter.fillRect(bar, QColor(25, 25, 28))
        if p is None:
            return
        fill = QRect(bar.left(), bar.top(), max(1, round(self.thumb * p)), BAR)
        painter.fillRect(fill, probability_colour(p))
        font = QFont(painter.font())
        font.setPointSizeF(6.5)
        painter.setFont(font)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(
            bar.adjusted(2, 0, -2, 0),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
            f"{p:.2f}",
        )

    def _paint_badges(
        self, painter: QPainter, r: QRect, review: ReviewCode, truth: int | None, status: FileStatus
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        font = QFont(painter.font())
        font.setBold(True)
        font.setPointSizeF(8)
        painter.setFont(font)
        if review is not ReviewCode.UNREVIEWED:
            badge = QRect(r.right() - 19, r.top() + 2, 18, 18)
            painter.setPen(QPen(QColor(255, 255, 255), 1.5))
            painter.setBrush(REVIEW_COLOURS[review])
            painter.drawEllipse(badge)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, REVIEW_GLYPHS[review])
        if truth is not None:
            chip = QRect(r.left() + 2, r.top() + 2, 26, 14)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(TRUTH_COLOURS[int(truth)])
            painter.drawRoundedRect(chip, 3, 3)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, f"GT{truth}")
        if status in (FileStatus.ALTERED, FileStatus.ODD_SIZE):
            mark = QRect(r.left() + 2, r.bottom() - 17, 16, 16)
            painter.setPen(QPen(QColor(0, 0, 0), 1))
            painter.setBrush(ALTERED_COLOUR)
            painter.drawRect(mark)
            painter.drawText(
                mark, Qt.AlignmentFlag.AlignCenter, "!" if status is FileStatus.ALTERED else "≠"
            )
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _paint_label(self, painter: QPainter, r: QRect, label: int | None) -> None:
        """The label the review fixed (tumour / normal / unsure), bottom right: it never
        changes with a new score, unlike the verdict's meaning."""
        font = QFont(painter.font())
        font.setBold(True)
        font.setPointSizeF(7)
        painter.setFont(font)
        text = LABEL_NAMES[label]
        width = painter.fontMetrics().horizontalAdvance(text) + 8
        chip = QRect(r.right() - width - 1, r.bottom() - LABEL_CHIP_H - 1, width, LABEL_CHIP_H)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(QColor(255, 255, 255), 1))
        painter.setBrush(LABEL_COLOURS[label])
        painter.drawRoundedRect(chip, 3, 3)
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)


#: Quality marks: dark chips with amber letters in the thumbnail's bottom-right corner.
MARK_COLOUR = QColor(255, 196, 0)
MARK_SIZE = 13


def paint_quality_marks(painter: QPainter, r: QRect, marks: str) -> None:
    """Paint a tile's quality marks (one letter each, see ``ui/quality_facts.py``) right to
    left from the bottom-right corner of ``r`` (the thumbnail's rectangle)."""
    font = QFont(painter.font())
    font.setBold(True)
    font.setPointSizeF(7)
    painter.setFont(font)
    right = r.left() + r.width() - 2
    bottom = r.top() + r.height() - 2
    for i, mark in enumerate(reversed(marks)):
        chip = QRect(right - (i + 1) * (MARK_SIZE + 1), bottom - MARK_SIZE, MARK_SIZE, MARK_SIZE)
        painter.fillRect(chip, QColor(20, 20, 24, 220))
        painter.setPen(MARK_COLOUR)
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, mark)


def _facts_from_roles(
    index: QModelIndex | QPersistentModelIndex,
) -> tuple[object, object, ReviewCode, object, object, FileStatus, str]:
    """A tile's facts from the model's roles (a model without ``tile_facts``)."""
    # Read roles through the model's Python data(), never QModelIndex.data(): PySide6 6.12
    # drops a reference to None each time QModelIndex.data() returns None, and a grid
    # repaints thousands of times (the interpreter aborts with "none_dealloc").
    model = index.model()

    def role(r: int) -> object:
        return model.data(index, r)

    review = ReviewCode(int(role(ReviewRole) or 0))  # type: ignore[call-overload]
    status = FileStatus(int(role(FileStatusRole) or 0))  # type: ignore[call-overload]
    image = None if status is FileStatus.UNREADABLE else role(Qt.ItemDataRole.DecorationRole)
    return (
        image,
        role(ProbabilityRole),
        review,
        role(ReviewLabelRole),
        role(TruthRole),
        status,
        str(role(QualityRole) or ""),
    )


def _pt(x: int, y: int) -> QPoint:
    return QPoint(x, y)
