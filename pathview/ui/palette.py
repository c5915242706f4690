"""Colours shared by the grid, the patch view and the plot, so they tell one story."""

from __future__ import annotations

from PySide6.QtGui import QColor

from pathview.triage import ReviewCode

#: Outline of the label-defining central 32x32 region (lime: visible on pink and purple H&E).
BOX_COLOUR = QColor(0, 255, 102)

REVIEW_COLOURS = {
    ReviewCode.UNREVIEWED: QColor(140, 140, 140),
    ReviewCode.AGREE: QColor(46, 170, 80),
    ReviewCode.DISAGREE: QColor(220, 60, 60),
    ReviewCode.UNSURE: QColor(235, 170, 30),
    ReviewCode.LABELLED: QColor(120, 110, 220),
}
REVIEW_GLYPHS = {
    ReviewCode.AGREE: "✓",
    ReviewCode.DISAGREE: "✗",
    ReviewCode.UNSURE: "?",
    ReviewCode.LABELLED: "L",
}

TRUTH_COLOURS = {0: QColor(60, 140, 220), 1: QColor(200, 50, 160)}
#: The label a review fixed, as the tiles and the panel name it (None: unsure).
LABEL_NAMES = {1: "tumour", 0: "normal", None: "unsure"}
LABEL_COLOURS = {1: TRUTH_COLOURS[1], 0: TRUTH_COLOURS[0], None: REVIEW_COLOURS[ReviewCode.UNSURE]}
ALTERED_COLOUR = QColor(255, 140, 0)
UNREADABLE_COLOUR = QColor(150, 20, 20)


def probability_colour(p: float) -> QColor:
    """Blue (0, benign) through pale grey (0.5, uncertain) to red (1, tumour)."""
    p = min(1.0, max(0.0, p))
    lo, mid, hi = (49, 99, 200), (225, 225, 225), (214, 40, 40)
    if p < 0.5:
        t, a, b = p / 0.5, lo, mid
    else:
        t, a, b = (p - 0.5) / 0.5, mid, hi
    return QColor(*(round(a[i] + (b[i] - a[i]) * t) for i in range(3)))
