"""Quality flags, duplicates, the embedding map and the similar strip in the real window
(offscreen): marks on tiles, the panel's values, the quality filter, box and lasso selection
filtering the grid, a click on the map and on the strip selecting a patch."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot
from support.fakes import features_loader
from support.ui import MakeWindow, open_and_score

from pathview.triage import DUPLICATES
from pathview.ui.delegate import MARGIN, MARK_SIZE, THUMB, PatchDelegate
from pathview.ui.main_window import MainWindow
from pathview.ui.models import QualityRole

pytestmark = pytest.mark.slow


@pytest.fixture
def dup_folder(kaggle_folder: Path) -> Path:
    """The 12 Kaggle patches (and a corrupt file) plus an exact copy of the first one."""
    first = sorted(kaggle_folder.glob("*.tif"))[0]
    shutil.copy(first, kaggle_folder / "copy_of_first.tif")
    return kaggle_folder


def scored_window(qtbot: QtBot, make_window: MakeWindow, folder: Path) -> MainWindow:
    window = make_window(loader=features_loader)
    open_and_score(qtbot, window, folder)
    # Duplicate groups are computed off the GUI thread once scoring ends.
    qtbot.waitUntil(lambda: window.session.table.insight.groups.any().any(), timeout=10000)
    return window


def positions_of(window: MainWindow) -> list[str]:
    model = window.session.model
    return [model.index(i).data() for i in range(model.rowCount())]


def test_flags_and_duplicates_on_tiles_panel_and_filter(
    qtbot: QtBot, make_window: MakeWindow, dup_folder: Path
) -> None:
    window = scored_window(qtbot, make_window, dup_folder)
    s = window.session
    first = sorted(dup_folder.glob("*.tif"))[0].stem
    copy_row = s.table.row_of("copy_of_first")
    assert copy_row is not None
    model = s.model
    index = model.index(model.position_of(copy_row))  # type: ignore[arg-type]
    assert model.data(index, QualityRole) == "="
    assert "near-duplicate group 1" in model.data(index, Qt.ItemDataRole.ToolTipRole)
    # The delegate paints the mark: amber text on a dark chip in the thumbnail's corner.
    delegate = window.grid.itemDelegate()
    assert isinstance(delegate, PatchDelegate)
    window.grid.scrollTo(index)
    rect = window.grid.visualRect(index)
    assert window.grid.viewport().rect().contains(rect)
    image = window.grid.viewport().grab().toImage()
    right, bottom = rect.left() + MARGIN + THUMB - 2, rect.top() + MARGIN + THUMB - 2
    chip = [
        QColor(image.pixel(x, y))
        for x in range(right - MARK_SIZE, right)
        for y in range(bottom - MARK_SIZE, bottom)
    ]
    assert any(c.red() > 200 and c.green() > 150 and c.blue() < 80 for c in chip)
    # The panel: measured values and the duplicate group.
    s.select_patch("copy_of_first")
    qtbot.waitUntil(
        lambda: "exact copy group 1 (2 patches)" in window.review_panel.fact("duplicates")
    )
    quality = window.review_panel.fact("quality")
    assert "tissue" in quality and "sharpness" in quality
    # The quality filter "duplicates" shows the two copies only.
    combo = window.filter_bar.quality_filter
    combo.setCurrentIndex(combo.findData(DUPLICATES))
    qtbot.waitUntil(lambda: sorted(positions_of(window)) == sorted([first, "copy_of_first"]))
    combo.setCurrentIndex(0)
    qtbot.waitUntil(lambda: len(positions_of(window)) == 14)


def test_a_labels_conflict_in_a_duplicate_group_is_reported(
    qtbot: QtBot, make_window: MakeWindow, dup_folder: Path
) -> None:
    first = sorted(dup_folder.glob("*.tif"))[0].stem
    labels = (dup_folder / "labels.csv").read_text().splitlines()
    label = next(r.split(",")[1] for r in labels if r.startswith(first))
    other = "0" if label.strip() == "1" else "1"
    (dup_folder / "labels.csv").write_text("\n".join([*labels, f"copy_of_first,{other}"]) + "\n")
    window = scored_window(qtbot, make_window, dup_folder)
    s = window.session
    qtbot.waitUntil(lambda: len(s.insight.conflicts) == 1, timeout=10000)
    conflict = s.insight.conflicts[0]
    assert conflict.truth and not conflict.reviews
    s.select_patch(first)
    qtbot.waitUntil(lambda: "labels CSV has both classes" in window.review_panel.fact("duplicates"))


def show_map(qtbot: QtBot, window: MainWindow) -> None:
    ctl = window.session.map
    with qtbot.waitSignal(ctl.projection_changed, timeout=10000):
        window.action_map["toggle_map"].trigger()
    assert window.insight_parts.map_dock.isVisible()
    assert len(ctl.projection) == 13  # every readable patch has an embedding


def test_box_and_lasso_on_the_map_filter_the_grid(
    qtbot: QtBot, make_window: MakeWindow, dup_folder: Path
) -> None:
    window = scored_window(qtbot, make_window, dup_folder)
    show_map(qtbot, window)
    s, panel = window.session, window.insight_parts.map_panel
    proj = s.map.projection
    xy = proj.xy
    # A box round the left half of the points (in data units, as a drag gives it).
    mid = float(np.median(xy[:, 0]))
    lo_y, hi_y = float(xy[:, 1].min()) - 1, float(xy[:, 1].max()) + 1
    inside = {s.table.ids[r] for r in proj.rows[xy[:, 0] <= mid].tolist()}
    panel.view_box.box_drawn.emit(float(xy[:, 0].min()) - 1, lo_y, mid, hi_y)
    qtbot.waitUntil(lambda: set(positions_of(window)) == inside)
    assert s.selection.subset is not None
    assert panel.clear_button.isEnabled()
    assert f"{len(inside)} selected" in panel.count_label.text()
    # A lasso: a triangle round three points' neighbourhood picks exactly what it encloses.
    pick = np.argsort(xy[:, 0])[-3:]
    centre = xy[pick].mean(axis=0)
    far = np.abs(xy - centre).max() * 3 + 1
    triangle = np.array(
        [
            [centre[0] - far, centre[1] - far],
            [centre[0] + far, centre[1] - far],
            [centre[0], centre[1] + far],
        ]
    )
    panel.view_box.lasso_drawn.emit(triangle)
    qtbot.waitUntil(lambda: len(positions_of(window)) == 13)  # a huge triangle: every point
    # Clearing shows every patch again (the corrupt one included).
    panel.clear_button.click()
    qtbot.waitUntil(lambda: len(positions_of(window)) == 14)
    assert s.selection.subset is None


def test_click_on_the_map_and_the_similar_strip_select_patches(
    qtbot: QtBot, make_window: MakeWindow, dup_folder: Path
) -> None:
    window = scored_window(qtbot, make_window, dup_folder)
    show_map(qtbot, window)
    s, panel = window.session, window.insight_parts.map_panel
    first = sorted(dup_folder.glob("*.tif"))[0].stem
    # The strip: the current patch's nearest neighbour is its exact copy (cosine 1).
    s.select_patch(first)
    strip = window.insight_parts.strip
    qtbot.waitUntil(lambda: len(s.similar.neighbours) == s.similar.k)
    assert s.table.ids[s.similar.neighbours[0].row] == "copy_of_first"
    assert "cos 1.00" in strip.caption(0)
    strip.buttons[0].click()
    qtbot.waitUntil(lambda: s.current_id == "copy_of_first")
    # A click on a map point selects its patch; hovering shows it in the preview.
    target = int(np.flatnonzero(s.map.projection.rows == s.table.row_of(first))[0])
    panel.redraw()
    scene_pos = panel.view_box.mapViewToScene(QPointF(*s.map.projection.xy[target]))
    assert panel.point_at(scene_pos) in (
        target,
        int(np.flatnonzero(s.map.projection.rows == s.table.row_of("copy_of_first"))[0]),
    )
    assert s.map.activate_point(target)
    qtbot.waitUntil(lambda: s.current_id == first)
    # Moving the mouse over a point shows that patch in the preview.
    panel.plot.scene().sigMouseMoved.emit(scene_pos)
    qtbot.waitUntil(lambda: "P(tumour)" in panel.preview_text.text())
    shown = panel.preview_text.text().splitlines()[0]
    assert shown in (first, "copy_of_first")


def test_folder_summary_window(qtbot: QtBot, make_window: MakeWindow, dup_folder: Path) -> None:
    window = scored_window(qtbot, make_window, dup_folder)
    runner = window.insight_parts.summary
    with qtbot.waitSignal(runner.summarised, timeout=20000) as got:
        window.action_map["folder_summary"].trigger()
    summary = got.args[0]
    assert summary.patches == 14 and summary.scored == 13
    assert (summary.exact_groups, summary.exact_patches) == (1, 2)
    assert sum(c.size for c in summary.clusters) == 13
    dialog = runner.dialog
    assert dialog is not None and dialog.isVisible()
    text = dialog.browser.toPlainText()
    assert "Folder summary" in text and "1 group (2 patches)" in text


def test_blind_mode_hides_the_map_and_the_similar_strip(
    qtbot: QtBot, make_window: MakeWindow, dup_folder: Path
) -> None:
    window = scored_window(qtbot, make_window, dup_folder)
    show_map(qtbot, window)
    parts, actions = window.insight_parts, window.action_map
    for blind in ("blind_p", "blind_truth"):
        actions[blind].trigger()
        assert parts.map_dock.isHidden() and parts.strip_area.isHidden()
        assert not actions["toggle_map"].isEnabled()
        assert not actions["folder_summary"].isEnabled()
        actions[blind].trigger()
        assert not parts.strip_area.isHidden()
        assert actions["toggle_map"].isEnabled() and actions["folder_summary"].isEnabled()
