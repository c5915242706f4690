"""The window's layout: it fits 1024 x 700 and 1280 x 800 without clipping or growing, the
metrics panel starts closed (and opens as its own window where docking would not fit), the
panes hold still between patches, tiles change size and show the centre box."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QSizePolicy, QWidget
from pytestqt.qtbot import QtBot
from support.ui import MakeWindow, open_and_score

from pathview.ui.delegate import MARGIN, TILE_SIZES, PatchDelegate, tile_size
from pathview.ui.main_window import MainWindow
from pathview.ui.palette import BOX_COLOUR

SIZES = [(1024, 700), (1280, 800)]


def inside_scroll_area(widget: QWidget) -> bool:
    """Scrolled content is shown in part by design (the grid, a plot, a table)."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea):
            return True
        parent = parent.parentWidget()
    return False


def clipped(window: MainWindow) -> list[str]:
    """Visible widgets squeezed below their minimum size or reaching outside their parent."""
    found = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisible() or widget.isWindow() or inside_scroll_area(widget):
            continue
        if widget.objectName().startswith("qt_"):  # a part of a Qt widget (a spin box's edit)
            continue
        parent = widget.parentWidget()
        name = f"{type(widget).__name__} {widget.objectName()!r}"
        hint = widget.minimumSizeHint()
        policy = widget.sizePolicy()
        ignored = QSizePolicy.Policy.Ignored
        if hint.isValid() and widget.minimumWidth() == 0:
            if policy.horizontalPolicy() != ignored and widget.width() < hint.width():
                found.append(f"{name}: width {widget.width()} < {hint.width()}")
            if policy.verticalPolicy() != ignored and widget.height() < hint.height():
                found.append(f"{name}: height {widget.height()} < {hint.height()}")
        box = widget.geometry()
        # partly outside its parent (cut), not wholly (a hidden page)
        if parent is not None and not parent.rect().contains(box) and box.intersects(parent.rect()):
            found.append(f"{name}: {box} outside {parent.rect()}")
    return found


def fit(qtbot: QtBot, window: MainWindow, width: int, height: int) -> None:
    window.resize(width, height)
    qtbot.waitUntil(lambda: window.width() <= width, timeout=2000)
    QApplication.processEvents()


@pytest.mark.slow
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_window_fits_small_screens_without_clipping(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, width: int, height: int
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    assert window.metrics_dock.isHidden()  # closed by default
    hint = window.minimumSizeHint()
    assert hint.width() <= width and hint.height() <= height
    fit(qtbot, window, width, height)
    assert (window.width(), window.height()) == (width, height)  # nothing forced it larger
    try:  # the layout settles over a few turns of the event loop
        qtbot.waitUntil(lambda: clipped(window) == [], timeout=3000)
    finally:
        assert clipped(window) == []
    assert window.grid.width() >= 3 * tile_size(96).width()  # three columns of tiles


@pytest.mark.slow
def test_metrics_open_as_a_window_where_docking_does_not_fit(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    fit(qtbot, window, 1024, 700)
    window.action_map["toggle_metrics"].trigger()
    dock = window.metrics_dock
    qtbot.waitUntil(dock.isVisible, timeout=2000)
    QApplication.processEvents()
    assert dock.isFloating()
    assert window.width() == 1024  # the main window was not widened
    assert window.session.evaluation_enabled
    wide = make_window()
    fit(qtbot, wide, 1600, 1000)
    wide.action_map["toggle_metrics"].trigger()
    qtbot.waitUntil(wide.metrics_dock.isVisible, timeout=2000)
    assert not wide.metrics_dock.isFloating()  # docked where it fits


@pytest.mark.slow
def test_the_panes_hold_still_between_patches(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    fit(qtbot, window, 1024, 700)
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    facts_pane = window.findChild(QAbstractScrollArea, "ReviewPanelScroll")
    assert facts_pane is not None and facts_pane.isAncestorOf(window.review_panel)
    panes = (window.patch_view, facts_pane, window.histogram, window.grid)

    def geometry() -> list[QRect]:
        QApplication.processEvents()
        return [QRect(p.mapTo(window, p.rect().topLeft()), p.size()) for p in panes]

    seen = set()
    for position in range(s.model.rowCount()):  # the corrupt file's long reason too
        s.select_position(position)
        qtbot.waitUntil(lambda: s.current_info is not None, timeout=15000)
        seen.add(tuple((r.x(), r.y(), r.width(), r.height()) for r in geometry()))
    assert len(seen) == 1


def render_tile(thumb: int, box: bool) -> QImage:
    delegate = PatchDelegate()
    delegate.set_look(thumb, box)
    image = QImage(96, 96, QImage.Format.Format_RGB888)
    image.fill(QColor(200, 120, 180))
    return delegate._render(image, 0.7, *_plain()).toImage()


def _plain() -> tuple[object, ...]:
    from pathview.io import FileStatus
    from pathview.triage import ReviewCode

    return (ReviewCode.UNREVIEWED, None), None, FileStatus.OK, 1.0


@pytest.mark.parametrize("thumb", TILE_SIZES)
def test_tiles_draw_the_centre_box_at_every_size(qtbot: QtBot, thumb: int) -> None:
    with_box, without = render_tile(thumb, True), render_tile(thumb, False)
    assert (with_box.width(), with_box.height()) == (
        tile_size(thumb).width(),
        tile_size(thumb).height(),
    )
    corner = MARGIN + round(32 * thumb / 96)
    assert QColor(with_box.pixel(corner, corner)) == BOX_COLOUR
    assert QColor(without.pixel(corner, corner)) != BOX_COLOUR
    middle = MARGIN + thumb // 2
    assert QColor(with_box.pixel(middle, middle)) == QColor(without.pixel(middle, middle))


@pytest.mark.slow
def test_tile_size_and_box_follow_the_view_menu_and_are_remembered(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    assert window.grid.thumb == 96 and window.grid.delegate.centre_box
    window.action_map["larger_tiles"].trigger()
    assert window.grid.thumb == 128
    assert window.grid.gridSize() == tile_size(128)
    for _ in range(5):
        window.action_map["smaller_tiles"].trigger()
    assert window.grid.thumb == TILE_SIZES[0]
    window.action_map["toggle_tile_box"].trigger()
    assert not window.grid.delegate.centre_box
    window.close()
    again = make_window()
    assert again.grid.thumb == TILE_SIZES[0] and not again.grid.delegate.centre_box
    assert not again.action_map["toggle_tile_box"].isChecked()


@pytest.mark.slow
def test_the_map_opens_as_a_window_where_docking_does_not_fit(
    qtbot: QtBot, make_window: MakeWindow
) -> None:
    window = make_window()
    fit(qtbot, window, 1024, 700)
    window.action_map["toggle_map"].trigger()
    dock = window.insight_parts.map_dock
    qtbot.waitUntil(dock.isVisible, timeout=2000)
    QApplication.processEvents()
    assert dock.isFloating()
    assert window.width() == 1024  # the main window was not widened


def test_the_filter_bars_count_changes_without_laying_out_the_window(qtbot: QtBot) -> None:
    """The count changes with every listed batch: a label of fixed size takes a new text
    without asking its parents for a new layout (which re-lays out the whole window)."""
    from PySide6.QtCore import QEvent, QObject

    from pathview.ui.grid import FilterBar

    bar = FilterBar()
    qtbot.addWidget(bar)
    bar.show()
    qtbot.waitExposed(bar)
    label = bar.shown_label
    size = label.size()
    assert label.minimumSize() == label.maximumSize() == size
    requests: list[int] = []

    class Spy(QObject):
        def eventFilter(self, _obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.LayoutRequest:
                requests.append(1)
            return False

    spy = Spy()
    bar.installEventFilter(spy)
    QApplication.processEvents()
    requests.clear()
    for count in (2_048, 90_112, 220_025):  # a listing's counts: all of them shown
        bar.show_count(count, count)
        QApplication.processEvents()
    assert requests == []
    assert label.size() == size
    assert label.text() == "220,025"
    # A count wider than the label widens it (once), and then fits.
    bar.show_count(1_234_567, 8_000_000)
    assert label.width() > size.width()
    assert label.minimumSize() == label.maximumSize()
    assert label.fontMetrics().horizontalAdvance(label.text()) <= label.contentsRect().width()
