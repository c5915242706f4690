"""The slide window: opening, the heat map, the two-way link between overview and grid, the
review keys writing tiles with slide, coordinates and um/pixel, the one-time mpp question."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from support.slides import SMALL_SVS, tissue_picture, write_pyramid

from pathview.model import Classifier
from pathview.scoring.slide import tile_spec_for
from pathview.slide import parse_tile_relpath, recorded_mpp
from pathview.store import ReviewStore, store_path_for_folder
from pathview.triage import ReviewCode, SortKey
from pathview.ui.main_window import MainWindow
from pathview.ui.models import ReviewRole
from pathview.ui.settings import Preferences
from pathview.ui.slide_session import SlideSession
from pathview.ui.slide_tiles import P_LOW, POSITION, tile_order
from pathview.ui.slide_view import heat_cells
from pathview.ui.slide_window import SlideWindow

pytestmark = pytest.mark.slow


def open_window(
    qtbot: QtBot, path: Path, tiny: Classifier, asked: list[Path] | None = None
) -> SlideWindow:
    session = SlideSession(loader=lambda: tiny)

    def ask_mpp(_parent: object, slide: Path) -> float | None:
        assert asked is not None
        asked.append(slide)
        return 0.5

    window = SlideWindow(session, Preferences(), ask_mpp=ask_mpp, ask_reviewer=lambda *_: "ann")
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    with qtbot.waitSignal(session.scoring_finished, timeout=60_000) as finished:
        session.open(path, tile_spec_for(tiny.metadata))
    assert finished.args == ["done"]
    return window


@pytest.fixture
def slide_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cmu.svs"
    shutil.copy(SMALL_SVS, target)
    return target


def test_the_slide_opens_scored_with_its_heat_map_and_grid(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    window = open_window(qtbot, slide_copy, tiny)
    session = window.session
    assert session.state is not None
    grid = session.state.grid
    assert window.tiles.rowCount() == len(grid) > 50
    assert not np.isnan(session.p).any()
    heat = heat_cells(grid, session.p)
    row = 0
    cx, cy = int(grid.xs[row] // grid.side), int(grid.ys[row] // grid.side)
    assert heat.pixelColor(cx, cy).alpha() > 0  # a tissue tile is coloured
    assert heat.pixelColor(0, 0).alpha() == 0  # the glass corner is not
    assert session.current == 0 and "cmu_x" in window.facts.text()
    window.close()


def test_a_click_on_the_slide_selects_the_tile_and_the_grid_centres_the_slide(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    window = open_window(qtbot, slide_copy, tiny)
    session, view = window.session, window.overview
    assert session.state is not None
    grid = session.state.grid
    target = len(grid) // 2
    centre = view.mapFromScene(
        float(grid.xs[target] + grid.side / 2), float(grid.ys[target] + grid.side / 2)
    )
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert session.current == target
    assert window.tiles.tile_row(window.grid.currentIndex().row()) == target
    # Zoomed in, selecting in the grid brings the tile to the middle of the view.
    view.scale(8, 8)
    other = 3
    window.grid.setCurrentIndex(window.tiles.index(window.tiles.position_of(other)))
    assert session.current == other
    middle = view.mapToScene(view.viewport().rect().center())
    assert abs(middle.x() - (grid.xs[other] + grid.side / 2)) < grid.side
    assert abs(middle.y() - (grid.ys[other] + grid.side / 2)) < grid.side
    window.close()


def test_review_keys_record_tiles_with_slide_coordinates_and_mpp(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    window = open_window(qtbot, slide_copy, tiny)
    session = window.session
    assert session.state is not None
    window.activateWindow()
    first = session.current
    qtbot.keyClick(window.grid, Qt.Key.Key_A)
    assert session.current != first  # moved on to the next tile
    qtbot.keyClick(window.grid, Qt.Key.Key_D)
    with ReviewStore(store_path_for_folder(slide_copy.parent)) as store:
        events = store.events()
    assert [e.verdict.value for e in events if e.verdict] == ["agree", "disagree"]
    place = parse_tile_relpath(events[0].relpath)
    grid = session.state.grid
    assert events[0].patch_id == grid.id(first) and events[0].reviewer == "ann"
    assert place is not None and (place.x, place.y) == (int(grid.xs[first]), int(grid.ys[first]))
    assert place.slide == "cmu.svs" and place.slide_mpp == pytest.approx(0.499)
    assert events[0].p_tumour == pytest.approx(float(session.p[first]), abs=1e-6)
    badge = window.tiles.data(window.tiles.index(window.tiles.position_of(first)), ReviewRole)
    assert badge == ReviewCode.AGREE
    window.close()


def test_a_slide_without_mpp_is_asked_about_once_and_the_answer_recorded(
    qtbot: QtBot, tmp_path: Path, tiny: Classifier
) -> None:
    bare = write_pyramid(tmp_path / "bare.tif", tissue_picture(800, 1000), mpp=None)
    asked: list[Path] = []
    window = open_window(qtbot, bare, tiny, asked)
    assert asked == [bare] and recorded_mpp(bare) == 0.5
    window.close()
    again = open_window(qtbot, bare, tiny, asked)
    assert asked == [bare]  # not asked a second time
    assert again.session.state is not None and again.session.state.slide.mpp == 0.5
    again.close()


def test_zooming_in_reads_the_visible_part_from_a_finer_level(
    qtbot: QtBot, tmp_path: Path, tiny: Classifier
) -> None:
    path = write_pyramid(tmp_path / "big.tif", tissue_picture(1600, 2400), mpp=0.25)
    window = open_window(qtbot, path, tiny)
    view = window.overview
    view._read_detail()
    assert view.detail_level is None  # fitted in the window, the overview is enough
    view.scale(6, 6)
    view._read_detail()
    assert view.detail_level == 0  # finer than the overview: read from the pyramid
    window.close()


def test_sort_orders_put_uncertain_and_high_p_tiles_first() -> None:
    p = np.array([0.05, 0.52, np.nan, 0.8, 0.45], np.float32)
    assert tile_order(p, POSITION).tolist() == [0, 1, 2, 3, 4]
    assert tile_order(p, SortKey.P_TUMOUR.value).tolist() == [3, 1, 4, 0, 2]
    assert tile_order(p, P_LOW).tolist() == [0, 4, 1, 3, 2]
    assert tile_order(p, SortKey.UNCERTAINTY.value).tolist() == [1, 4, 3, 0, 2]


def test_pathview_opens_a_slide_file_from_the_command_line(
    monkeypatch: pytest.MonkeyPatch, slide_copy: Path
) -> None:
    import pathview.app
    from pathview.cli import main

    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(pathview.app, "run_slide_app", lambda *a: calls.append(a) or 0)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert main([str(slide_copy)]) == 0
    assert calls and calls[0][0] == slide_copy


def test_the_folder_window_opens_a_slide_from_its_file_menu_and_a_drop(
    qtbot: QtBot, make_window: Callable[..., MainWindow], slide_copy: Path
) -> None:
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    window = make_window(loader=None)
    assert "open_slide" in window.action_map
    assert window.action_map["open_slide"].text().startswith("Open &slide")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(slide_copy))])
    drop = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    opened: list[SlideWindow] = []
    original = window.open_slide
    window.open_slide = lambda path: opened.append(original(path)) or opened[-1]  # type: ignore[method-assign]
    window.dropEvent(drop)
    assert len(opened) == 1
    slide_window = opened[0]
    assert isinstance(slide_window, SlideWindow)
    qtbot.waitUntil(lambda: slide_window.session.state is not None, timeout=30_000)
    assert slide_window.session.state is not None
    assert slide_window.session.state.slide.name == "cmu.svs"
    # The bundled model scores it on the slide session's own thread.
    qtbot.waitUntil(lambda: not np.isnan(slide_window.session.p).any(), timeout=60_000)
    slide_window.close()


def test_g_shows_the_current_tiles_grad_cam_between_scoring_batches(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    window = open_window(qtbot, slide_copy, tiny)
    session = window.session
    before = window.tile_view.pixmap().toImage()
    with qtbot.waitSignal(session.explained, timeout=30_000) as explained:
        qtbot.keyClick(window.grid, Qt.Key.Key_G)
    row, explanation = explained.args
    assert row == session.current and explanation.layer == "stages.0"
    assert "Heat map: Grad-CAM" in window.facts.text()
    if explanation.ok:
        assert window.tile_view.pixmap().toImage() != before  # the map is drawn over the tile
    window.close()
