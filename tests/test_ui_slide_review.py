"""The slide window reviews as the folder window does: label keys, undo, refusals, blind mode,
the reviewer in the status bar, quality sort keys and flags, and the Grad-CAM method and layer
choices reaching the explain call."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from support.slides import SMALL_SVS

from pathview.core import VIEW_SINGLE
from pathview.explain import Explanation
from pathview.model import Classifier
from pathview.quality import THRESHOLDS, measure_batch
from pathview.scoring.slide import tile_spec_for
from pathview.store import ReviewInput, ReviewStore, store_path_for_folder
from pathview.triage import ANY_FLAG, InsightColumns, ReviewCode, SortKey
from pathview.ui.delegate import tile_size
from pathview.ui.models import ProbabilityRole, QualityRole, ReviewLabelRole, ReviewRole
from pathview.ui.quality_facts import FLAG_MARKS
from pathview.ui.reviews import BLIND_VERDICT_TEXT, NO_MODEL_VERDICT_TEXT
from pathview.ui.settings import Preferences
from pathview.ui.slide_reviews import tile_row_of
from pathview.ui.slide_session import SlideSession, measure_tiles
from pathview.ui.slide_tiles import (
    P_ORDERS,
    POSITION,
    REVIEWED,
    THUMBNAIL_SIDE,
    tile_filter,
    tile_order,
)
from pathview.ui.slide_window import SlideWindow, pane_widths
from pathview.workers.model_jobs import default_explainer

pytestmark = [pytest.mark.slow, pytest.mark.gui]


@pytest.fixture
def slide_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cmu.svs"
    shutil.copy(SMALL_SVS, target)
    return target


class Asked:
    """The reviewer dialog's stand-in: answers ``name`` and counts the questions."""

    def __init__(self, name: str | None = "ann") -> None:
        self.name, self.count = name, 0

    def __call__(self, *_args: object) -> str | None:
        self.count += 1
        return self.name


def open_window(
    qtbot: QtBot,
    path: Path,
    classifier: Classifier | None,
    prefs: Preferences | None = None,
    asked: Asked | None = None,
    explainer: Any = default_explainer,
) -> SlideWindow:
    loader = None if classifier is None else (lambda: classifier)
    session = SlideSession(loader=loader, explainer=explainer)
    window = SlideWindow(session, prefs or Preferences(), ask_reviewer=asked or Asked())
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    spec = tile_spec_for(classifier.metadata) if classifier is not None else None
    if classifier is None:
        with qtbot.waitSignal(session.opened, timeout=60_000):
            session.open(path, spec)
    else:
        with qtbot.waitSignal(session.scoring_finished, timeout=60_000) as finished:
            session.open(path, spec)
        assert finished.args == ["done"]
    return window


def events_of(path: Path) -> list[Any]:
    with ReviewStore(store_path_for_folder(path.parent)) as store:
        return store.events()


def key(
    window: SlideWindow, qtbot: QtBot, k: Qt.Key, mod: Any = Qt.KeyboardModifier.NoModifier
) -> None:
    window.activateWindow()
    qtbot.keyClick(window.grid, k, mod)


def test_label_keys_record_the_label_the_view_and_the_p_shown(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    window = open_window(qtbot, slide_copy, tiny)
    session = window.session
    assert session.state is not None
    grid = session.state.grid
    first = session.current
    key(window, qtbot, Qt.Key.Key_T)
    second = session.current
    assert second != first  # moved on, as after a verdict
    key(window, qtbot, Qt.Key.Key_N)
    events = events_of(slide_copy)
    assert [(e.label, e.given_as, e.verdict) for e in events] == [
        (1, "label", events[0].verdict),
        (0, "label", events[1].verdict),
    ]
    tumour = events[0]
    assert tumour.patch_id == grid.id(first) and tumour.relpath == grid.relpath(first)
    assert tumour.view == VIEW_SINGLE and tumour.reviewer == "ann"
    assert tumour.p_tumour == pytest.approx(float(session.p[first]), abs=1e-6)
    assert tumour.model_id == tiny.model_id
    # The verdict the label amounts to at the P shown is fixed with it.
    assert tumour.verdict is not None
    assert tumour.verdict.value == ("agree" if session.p[first] >= 0.5 else "disagree")
    tiles = window.tiles
    index = tiles.index(tiles.position_of(first))
    assert tiles.data(index, ReviewLabelRole) == 1
    assert tiles.data(tiles.index(tiles.position_of(second)), ReviewLabelRole) == 0
    assert tiles.data(index, ReviewRole) != ReviewCode.UNREVIEWED
    assert window.reviewer_label.text() == "Reviewer: ann"
    session.select(first)
    assert "Label: <b>tumour</b>" in window.facts.text()
    assert "label key" in window.facts.text() and "single view" in window.facts.text()
    window.close()


def test_ctrl_z_retracts_the_reviewers_last_review_and_goes_back_to_its_tile(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    window = open_window(qtbot, slide_copy, tiny)
    session = window.session
    first = session.current
    key(window, qtbot, Qt.Key.Key_A)
    second = session.current
    key(window, qtbot, Qt.Key.Key_U)
    assert set(session.reviews.states) == {first, second}
    key(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert set(session.reviews.states) == {first}
    assert session.current == second  # the tile undone is shown again
    events = events_of(slide_copy)
    assert [e.kind for e in events] == ["review", "review", "retract"]
    assert events[2].target_uid == events[1].event_uid
    tiles = window.tiles
    assert tiles.data(tiles.index(tiles.position_of(second)), ReviewRole) == ReviewCode.UNREVIEWED
    assert "Undid the review" in window.statusBar().currentMessage()
    key(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    key(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert session.reviews.states == {}
    assert window.statusBar().currentMessage() == "Nothing to undo."
    window.close()


def test_reviews_already_in_the_store_are_shown_when_the_slide_opens_again(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    window = open_window(qtbot, slide_copy, tiny)
    first = window.session.current
    key(window, qtbot, Qt.Key.Key_T)
    window.close()
    again = open_window(qtbot, slide_copy, tiny)
    assert set(again.session.reviews.states) == {first}
    assert again.session.reviews.states[first].label == 1
    tiles = again.tiles
    assert tiles.data(tiles.index(tiles.position_of(first)), ReviewLabelRole) == 1
    again.close()


def test_agree_is_refused_without_a_model_before_the_reviewer_is_asked(
    qtbot: QtBot, slide_copy: Path
) -> None:
    asked = Asked()
    window = open_window(qtbot, slide_copy, None, asked=asked)
    for k in (Qt.Key.Key_A, Qt.Key.Key_D):
        key(window, qtbot, k)
        assert window.statusBar().currentMessage() == NO_MODEL_VERDICT_TEXT
    assert asked.count == 0 and not store_path_for_folder(slide_copy.parent).exists()
    key(window, qtbot, Qt.Key.Key_N)  # a label needs no model
    (event,) = events_of(slide_copy)
    assert event.label == 0 and event.verdict is None and event.p_tumour is None
    assert event.view == "" and asked.count == 1
    window.close()


def test_blind_mode_hides_p_everywhere_and_refuses_agree(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    prefs = Preferences()
    window = open_window(qtbot, slide_copy, tiny, prefs)
    session, tiles = window.session, window.tiles
    window.sort.setCurrentText(SortKey.UNCERTAINTY.value)
    assert tiles.data(tiles.index(0), ProbabilityRole) is not None
    key(
        window,
        qtbot,
        Qt.Key.Key_P,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert session.view.options.hide_p and prefs.flag("blind_p", False)
    assert window.action_map["blind_p"].isChecked()
    assert all(tiles.data(tiles.index(i), ProbabilityRole) is None for i in range(5))
    assert not window.overview._heat.isVisible()
    assert "hidden (blind mode)" in window.facts.text()
    assert "P(tumour) 0." not in str(tiles.data(tiles.index(0), Qt.ItemDataRole.ToolTipRole))
    # The orders that show where P lies are off, and the grid went back to position.
    assert window.sort.currentText() == POSITION
    model = window.sort.model()
    disabled = {
        window.sort.itemText(i)
        for i in range(window.sort.count())
        if not model.item(i).isEnabled()  # type: ignore[attr-defined]
    }
    assert disabled == P_ORDERS
    key(window, qtbot, Qt.Key.Key_A)
    assert window.statusBar().currentMessage() == BLIND_VERDICT_TEXT
    assert not store_path_for_folder(slide_copy.parent).exists()
    key(window, qtbot, Qt.Key.Key_T)
    (event,) = events_of(slide_copy)
    assert event.label == 1 and event.p_tumour is None and event.view == ""
    key(
        window,
        qtbot,
        Qt.Key.Key_P,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert (
        window.overview._heat.isVisible()
        and tiles.data(tiles.index(0), ProbabilityRole) is not None
    )
    window.close()


def test_tiles_are_measured_as_scored_and_sort_and_filter_by_quality(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    window = open_window(qtbot, slide_copy, tiny)
    session, tiles = window.session, window.tiles
    assert session.state is not None
    n = len(session.state.grid)
    assert session.quality.known(n).all()
    # The measures are pathview.quality's of the tile pixels the model scored.
    row = n // 3
    pixels = session.tile_pixels(row)
    assert pixels is not None
    measured = measure_batch(pixels)
    values = session.quality.measures_of(row)
    assert values is not None
    assert values["sharpness"] == pytest.approx(float(measured.sharpness[0]), rel=1e-5)
    assert values["tissue_fraction"] == pytest.approx(float(measured.tissue_fraction[0]))
    for order, measure in (
        (SortKey.BLURRIEST.value, "sharpness"),
        (SortKey.LEAST_TISSUE.value, "tissue_fraction"),
        (SortKey.DARKEST.value, "brightness"),
    ):
        window.sort.setCurrentText(order)
        shown = [tiles.tile_row(i) for i in range(tiles.rowCount())]
        assert len(shown) == n
        column = session.quality.measure(measure, n)[shown]
        assert (np.diff(column) >= 0).all(), order
    window.sort.setCurrentText(POSITION)
    window.filter.setCurrentText(ANY_FLAG)
    flagged = session.quality.flag_mask(ANY_FLAG, n)
    assert 0 < tiles.rowCount() == int(flagged.sum()) < n  # the slide has inked, blurred tiles
    first = tiles.tile_row(0)
    marks = tiles.data(tiles.index(0), QualityRole)
    assert marks == "".join(FLAG_MARKS[f] for f in session.quality.flags_of(first)) != ""
    session.select(first)
    assert "⚠" in window.facts.text()  # the flag with its measured value and threshold
    window.close()


def test_grad_cam_method_and_layer_chosen_in_the_panel_reach_the_explain_call(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    calls: list[tuple[str, str]] = []

    def explainer(classifier: Any, pixels: np.ndarray, method: str, layer: str) -> Explanation:
        calls.append((method, layer))
        return default_explainer(classifier, pixels, method, layer)

    window = open_window(qtbot, slide_copy, tiny, explainer=explainer)
    session, panel = window.session, window.panel
    info = session.model_info
    assert info is not None and panel.method_combo.count() == len(info.methods)
    assert panel.layer_combo.currentText() == info.layer_names[info.default_layer]
    with qtbot.waitSignal(session.explained, timeout=30_000):
        key(window, qtbot, Qt.Key.Key_G)
    assert calls[-1] == ("gradcam", info.default_layer)
    assert panel.legend.isVisible() and panel.legend.caption != "no map"
    other_layer = next(layer for layer in info.layers if layer != info.default_layer)
    with qtbot.waitSignal(session.explained, timeout=30_000) as explained:
        panel.method_combo.setCurrentIndex(panel.method_combo.findData("layercam"))
    assert calls[-1] == ("layercam", info.default_layer)
    assert explained.args[1].method == "layercam"
    with qtbot.waitSignal(session.explained, timeout=30_000):
        panel.layer_combo.setCurrentIndex(panel.layer_combo.findData(other_layer))
    assert calls[-1] == ("layercam", other_layer)
    assert "LayerCAM" in window.facts.text()
    # Back to a pair explained before: from the cache, no second call.
    count = len(calls)
    with qtbot.waitSignal(session.explained, timeout=5_000):
        panel.layer_combo.setCurrentIndex(panel.layer_combo.findData(info.default_layer))
    assert len(calls) == count
    # A review records the map shown.
    key(window, qtbot, Qt.Key.Key_U)
    (event,) = events_of(slide_copy)
    assert (event.explanation_method, event.explanation_layer) == ("layercam", info.default_layer)
    key(window, qtbot, Qt.Key.Key_H)  # the folder window's key for the heat map, too
    assert not session.view.options.heatmap and not panel.legend.isVisible()
    window.close()


def test_orders_filters_and_tile_ids_without_a_window() -> None:
    p = np.array([0.2, np.nan, 0.9, 0.5], np.float32)
    quality = InsightColumns()
    pixels = [np.full((96, 96, 3), v, np.uint8) for v in (250, 30, 120)]
    quality.set_rows([0, 2, 3], measure_tiles(pixels))
    # Least tissue: the white tile first; darkest: the dark one; unmeasured tile 1 last.
    assert tile_order(p, SortKey.LEAST_TISSUE.value, quality).tolist()[0] == 0
    assert tile_order(p, SortKey.DARKEST.value, quality).tolist() == [2, 3, 0, 1]
    assert tile_order(p, SortKey.BLURRIEST.value, quality).tolist()[-1] == 1
    blank = next(t for t in THRESHOLDS if t.flag == "blank")
    assert tile_filter("blank", 4, np.array([], np.int64), quality).tolist() == [
        bool(blank.raised(np.array([v]))[0]) and i != 1
        for i, v in enumerate(quality.measure("tissue_fraction", 4))
    ]
    assert tile_filter(REVIEWED, 4, np.array([3]), quality).tolist() == [False, False, False, True]
    assert measure_tiles([]).measures.tissue_fraction.size == 0


def test_tile_ids_map_back_to_rows(slide_copy: Path) -> None:
    from pathview.slide import TileSpec, open_slide, tile_slide

    with open_slide(slide_copy) as slide:
        grid = tile_slide(slide, TileSpec())
    row = len(grid) - 1
    assert tile_row_of(grid, grid.id(row)) == row
    assert tile_row_of(grid, "cmu_x1_y2") is None  # not a tile's corner
    assert tile_row_of(grid, "other_x0_y0") is None
    assert tile_row_of(grid, grid.id(row) + "0") is None


def test_a_failed_grad_cam_says_so_in_the_status_bar(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    def explainer(*_args: object) -> Explanation:
        raise RuntimeError("hooks refused")

    window = open_window(qtbot, slide_copy, tiny, explainer=explainer)
    with qtbot.waitSignal(window.session.failed, timeout=30_000) as failed:
        key(window, qtbot, Qt.Key.Key_G)
    assert "No heat map" in failed.args[0] and "hooks refused" in failed.args[0]
    assert "No heat map" in window.statusBar().currentMessage()
    window.close()


def test_the_panes_share_the_width_with_the_grid_three_or_four_tiles_wide() -> None:
    small, large = pane_widths(1024, 408), pane_widths(1600, 408)
    assert sum(small) == 1024 and sum(large) == 1600
    assert small[2] == large[2] == 408  # the tile panel as it asks
    tile = tile_size(THUMBNAIL_SIDE).width() + 4
    assert small[1] // tile == 3 and large[1] // tile == 4
    assert small[0] >= 200 and large[0] > small[0]


def test_ctrl_z_withdraws_a_bulk_review_of_tiles_as_one_step(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    window = open_window(qtbot, slide_copy, tiny)
    session = window.session
    assert session.state is not None
    grid = session.state.grid
    key(window, qtbot, Qt.Key.Key_T)  # one review of the tile, then a bulk step after it
    rows = [3, 4]
    with ReviewStore(store_path_for_folder(slide_copy.parent)) as store:
        store.record_batch(
            [ReviewInput(grid.id(r), None, "ann", relpath=grid.relpath(r), label=0) for r in rows]
        )
    key(window, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.statusBar().currentMessage() == "Undid the bulk review of 2 patches"
    assert session.current == rows[-1]
    assert set(session.reviews.states) == {0}  # the review before the step stays
    window.close()


def test_home_end_and_next_unreviewed_move_through_the_grid(
    qtbot: QtBot, slide_copy: Path, tiny: Classifier
) -> None:
    window = open_window(qtbot, slide_copy, tiny)
    session, tiles = window.session, window.tiles
    n = tiles.rowCount()
    assert n > 3
    key(window, qtbot, Qt.Key.Key_End)
    assert tiles.position_of(session.current) == n - 1
    key(window, qtbot, Qt.Key.Key_Home)
    assert tiles.position_of(session.current) == 0
    key(window, qtbot, Qt.Key.Key_U)  # reviews the first tile and moves to the second
    key(window, qtbot, Qt.Key.Key_U)  # and the second
    key(window, qtbot, Qt.Key.Key_Home)
    key(window, qtbot, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert tiles.position_of(session.current) == 2  # the first two are reviewed
    assert len(session.reviews.states) == 2  # Shift+N moved; it recorded nothing
    window.close()
