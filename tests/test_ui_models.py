"""PatchListModel: qtmodeltester, named roles, streamed appends and bounded thumbnails."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QStyleOptionViewItem
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from pathview.core import PatchRef, Verdict
from pathview.io import FileStatus
from pathview.triage import FilterSpec, PatchTable, SortKey, ordered_rows
from pathview.ui.delegate import PatchDelegate
from pathview.ui.models import (
    FileStatusRole,
    PatchIdRole,
    PatchListModel,
    ProbabilityRole,
    QualityRole,
    ReviewLabelRole,
    ReviewRole,
    SpreadRole,
    StatusReasonRole,
    TableRowRole,
    ThumbnailCache,
    TruthRole,
    image_from_pixels,
)


def _table(n: int = 6) -> PatchTable:
    t = PatchTable()
    t.extend([PatchRef(f"p{i}", f"p{i}.tif") for i in range(n)])
    t.set_scores([f"p{i}" for i in range(n - 1)], [i / n for i in range(n - 1)])
    t.set_truth({"p0": 0, "p1": 1})
    t.set_review("p2", Verdict.DISAGREE)
    t.set_status(3, FileStatus.UNREADABLE, "corrupt or truncated: bad header")
    return t


def test_model_passes_qtmodeltester(qtmodeltester: ModelTester) -> None:
    table = _table()
    requested: list[PatchRef] = []
    model = PatchListModel(table, ThumbnailCache(4, requested.append))
    model.set_rows(range(len(table)))
    qtmodeltester.check(model, force_py=True)
    assert requested  # asking for a decoration asks the loader for the thumbnail


def test_model_survives_streamed_appends_and_resets_under_the_tester(
    qtmodeltester: ModelTester,
) -> None:
    table = PatchTable()
    model = PatchListModel(table, ThumbnailCache(4))
    qtmodeltester.check(model, force_py=True)
    for start in (0, 3, 6):
        rows = table.extend([PatchRef(f"q{i}", f"q{i}.tif") for i in range(start, start + 3)])
        model.append_rows(list(rows))
    assert model.rowCount() == 9
    table.set_scores(["q8", "q1"], [0.9, 0.2])
    model.rows_changed([8, 1])
    model.set_rows(ordered_rows(table, SortKey.P_TUMOUR, FilterSpec()))
    assert [model.data(model.index(i), PatchIdRole) for i in range(2)] == ["q8", "q1"]
    assert model.position_of(8) == 0 and model.table_row(1) == 1


class _Cell:
    """index.data() through the model's Python data(): PySide6 6.12's QModelIndex.data()
    mis-counts references to a returned None."""

    def __init__(self, model: PatchListModel, row: int) -> None:
        self._model, self._index = model, model.index(row)

    def data(self, role: int) -> object:
        return self._model.data(self._index, role)


def test_roles_read_the_table() -> None:
    table = _table()
    model = PatchListModel(table, None)
    model.set_rows([5, 0, 1, 2, 3])

    def idx(i: int) -> _Cell:
        return _Cell(model, i)

    assert idx(0).data(Qt.ItemDataRole.DisplayRole) == "p5"
    assert idx(0).data(ProbabilityRole) is None  # p5 not scored
    assert idx(1).data(ProbabilityRole) == 0.0 and idx(1).data(TruthRole) == 0
    assert idx(2).data(TruthRole) == 1 and idx(1).data(SpreadRole) is None
    assert idx(3).data(ReviewRole) == 2  # DISAGREE
    assert idx(4).data(FileStatusRole) == FileStatus.UNREADABLE
    assert "corrupt" in idx(4).data(StatusReasonRole)
    assert idx(4).data(TableRowRole) == 3
    assert "corrupt" in idx(4).data(Qt.ItemDataRole.ToolTipRole)
    assert model.position_of(4) is None  # filtered out


def test_thumbnail_cache_is_bounded_and_requests_misses() -> None:
    asked: list[str] = []
    cache = ThumbnailCache(3, lambda ref: asked.append(ref.id))
    for i in range(5):
        cache.put(f"p{i}", QImage(2, 2, QImage.Format.Format_RGB888))
    assert len(cache) == 3
    assert cache.get(PatchRef("p0", "p0.tif")) is None and asked == ["p0"]
    assert cache.get(PatchRef("p4", "p4.tif")) is not None and asked == ["p0"]


def test_a_change_of_many_rows_asks_the_grid_for_one_repaint(qtbot: QtBot) -> None:
    """A few changed rows give one dataChanged per run of positions; more runs than
    MAX_CHANGED_RUNS (or positions than MAX_CHANGED_SPAN) one repaint_all, which the grid
    turns into a repaint of its visible tiles."""
    from PySide6.QtCore import QEvent, QObject

    from pathview.ui.grid import PatchGrid
    from pathview.ui.models import MAX_CHANGED_RUNS, MAX_CHANGED_SPAN

    n = 2 * MAX_CHANGED_RUNS + 10
    table = PatchTable()
    table.extend([PatchRef(f"r{i:05d}", f"r{i:05d}.tif") for i in range(n)])
    model = PatchListModel(table)
    model.set_rows(list(range(n)))
    ranges: list[tuple[int, int]] = []
    repaints: list[bool] = []
    model.dataChanged.connect(lambda a, b, *_: ranges.append((a.row(), b.row())))
    model.repaint_all.connect(lambda: repaints.append(True))

    model.rows_changed([7, 3, 4, 5, 9])
    assert ranges == [(3, 5), (7, 7), (9, 9)] and not repaints
    ranges.clear()
    model.rows_changed(list(range(0, 2 * MAX_CHANGED_RUNS + 2, 2)))  # 201 runs
    assert not ranges and repaints == [True]
    model.rows_changed(list(range(n)))  # one run, within the span limit
    assert ranges == [(0, n - 1)] and len(repaints) == 1
    assert n <= MAX_CHANGED_SPAN

    grid = PatchGrid()
    qtbot.addWidget(grid)
    grid.setModel(model)
    grid.resize(600, 400)
    grid.show()
    qtbot.waitExposed(grid)
    painted: list[int] = []

    class Paints(QObject):
        def eventFilter(self, _obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                painted.append(1)
            return False

    counter = Paints()
    grid.viewport().installEventFilter(counter)
    qtbot.wait(50)
    painted.clear()
    model.repaint_all.emit()
    qtbot.waitUntil(lambda: bool(painted), timeout=2000)
    grid.setModel(PatchListModel(PatchTable()))  # the old model's signal is let go
    qtbot.wait(100)
    painted.clear()
    model.repaint_all.emit()
    qtbot.wait(100)
    assert not painted


def test_thumbnails_are_rgb32_with_every_pixel_kept() -> None:
    """Thumbnails are made in the raster engine's own format (drawn with a plain copy) and
    keep each channel's 8 bits exactly, odd widths included."""
    rng = np.random.default_rng(3)
    for h, w in ((96, 96), (7, 13)):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        expected = pixels.copy()
        image = image_from_pixels(pixels)
        pixels[:] = 0  # the image owns its copy
        assert image.format() == QImage.Format.Format_RGB32
        assert (image.width(), image.height()) == (w, h)
        back = image.convertToFormat(QImage.Format.Format_RGB888)
        rows = np.frombuffer(back.constBits(), np.uint8).reshape(h, back.bytesPerLine())
        assert np.array_equal(rows[:, : 3 * w].reshape(h, w, 3), expected)


def test_tile_facts_are_the_roles_read_at_once() -> None:
    """The delegate reads a tile's facts in one call; they are the roles' values, blind
    modes included, and a missing thumbnail is requested the same way."""
    table = _table()
    requested: list[PatchRef] = []
    model = PatchListModel(table, ThumbnailCache(4, requested.append))
    model.set_rows(list(range(len(table))))
    for hide_p, hide_truth in ((False, False), (True, False), (False, True)):
        model.set_hidden(hide_p, hide_truth)
        for pos in range(model.rowCount()):
            index = model.index(pos)
            status = model.data(index, FileStatusRole)
            image = (
                None
                if status == FileStatus.UNREADABLE
                else model.data(index, Qt.ItemDataRole.DecorationRole)
            )
            by_roles = (
                image,
                model.data(index, ProbabilityRole),
                model.data(index, ReviewRole),
                model.data(index, ReviewLabelRole),
                model.data(index, TruthRole),
                status,
                model.data(index, QualityRole),
            )
            assert tuple(model.tile_facts(pos)) == by_roles
    # Unreadable row 3 never asks for a thumbnail; the others do, by both ways.
    assert {r.id for r in requested} == {f"p{i}" for i in range(6) if i != 3}


def test_tiles_that_look_alike_share_one_pixmap(qtbot: QtBot) -> None:
    """A page of patches whose thumbnails are not loaded yet, all with the same P, is
    rendered once, not once per patch; a loaded thumbnail gets a tile of its own."""
    table = PatchTable()
    ids = [f"q{i}" for i in range(50)]
    table.extend([PatchRef(i, f"{i}.tif") for i in ids])
    table.set_scores(ids, [0.5] * 50)
    thumbs = ThumbnailCache(100)
    model = PatchListModel(table, thumbs)
    model.set_rows(list(range(50)))
    delegate = PatchDelegate()
    target = QImage(200, 200, QImage.Format.Format_ARGB32_Premultiplied)
    painter = QPainter(target)
    option = QStyleOptionViewItem()
    for pos in range(50):
        delegate.paint(painter, option, model.index(pos))
    assert len(delegate._tiles) == 1
    thumbs.put("q7", image_from_pixels(np.full((96, 96, 3), 200, np.uint8)))
    for pos in range(50):
        delegate.paint(painter, option, model.index(pos))
    painter.end()
    assert len(delegate._tiles) == 2
