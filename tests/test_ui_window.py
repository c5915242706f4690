"""The real main window, offscreen: open, score, select, overlay pixels, review keys, export."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot
from support.fakes import failing_loader, hot_corner_explainer
from support.patches import make_folder
from support.ui import MakeWindow, export, load_tiny_model, open_and_score

from pathview.explain import colormap_lut
from pathview.io import FileStatus
from pathview.store import open_store_for_folder
from pathview.triage import ReviewCode, SortKey
from pathview.ui.main_window import MainWindow
from pathview.ui.models import FileStatusRole, ProbabilityRole, StatusReasonRole
from pathview.ui.palette import BOX_COLOUR
from pathview.ui.settings import Preferences


def grab(window: MainWindow) -> QImage:
    return window.patch_view.viewport().grab().toImage()


def pixel(image: QImage, xy: tuple[int, int]) -> tuple[int, int, int]:
    c = QColor(image.pixel(xy[0], xy[1]))
    return c.red(), c.green(), c.blue()


def close_to(a: tuple[int, ...], b: tuple[int, ...], tol: int = 3) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def wait_current_loaded(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.session.current_info is not None, timeout=15000)
    qtbot.waitUntil(lambda: window.patch_view.pixels is not None, timeout=15000)


@pytest.mark.slow
def test_open_folder_streams_scores_and_marks_the_corrupt_tile(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    model = s.model
    assert model.rowCount() == 13
    assert window.grid_stack.currentWidget() is window.grid
    scored = [model.data(model.index(i), ProbabilityRole) for i in range(13)]
    assert sum(p is not None for p in scored) == 12
    corrupt = next(i for i in range(13) if model.index(i).data() == "zz_corrupt_0")
    index = model.index(corrupt)
    assert model.data(index, FileStatusRole) == FileStatus.UNREADABLE
    assert "corrupt" in model.data(index, StatusReasonRole)
    # Ground truth from the folder's labels.csv is shown.
    assert sum(t >= 0 for t in s.table.truth) == 12
    # Selecting the corrupt patch shows its reason, never a crash.
    s.select_position(corrupt)
    qtbot.waitUntil(lambda: "corrupt" in window.review_panel.fact("integrity"), timeout=15000)
    assert window.patch_view.pixels is None


@pytest.mark.slow
def test_box_outline_is_drawn_on_the_centre_box_edge(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    window.session.select_position(1)
    wait_current_loaded(qtbot, window)
    view = window.patch_view
    box = (BOX_COLOUR.red(), BOX_COLOUR.green(), BOX_COLOUR.blue())
    edge_points = [view.image_to_view(32, 48), view.image_to_view(48, 64)]
    inside = view.image_to_view(48.5, 48.5)

    def has_box(image: QImage, xy: tuple[int, int]) -> bool:
        x, y = xy
        return any(
            close_to(pixel(image, (x + dx, y + dy)), box) for dx in (-1, 0) for dy in (-1, 0)
        )

    image = grab(window)
    assert all(has_box(image, xy) for xy in edge_points)
    assert not close_to(pixel(image, inside), box)
    # Nearest-neighbour zoom: one image pixel covers a block of identical screen pixels.
    x0, y0 = view.image_to_view(10, 10)
    x1, _ = view.image_to_view(11, 10)
    assert x1 - x0 >= 3
    assert len({pixel(image, (x, y0 + 1)) for x in range(x0, x1)}) == 1
    window.action_map["toggle_box"].trigger()
    image = grab(window)
    assert not any(has_box(image, xy) for xy in edge_points)
    assert not window.review_panel.box_check.isChecked()


@pytest.mark.slow
def test_heatmap_is_blended_where_the_map_is_hot(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(explainer=hot_corner_explainer)
    open_and_score(qtbot, window, kaggle_folder)
    window.review_panel.set_opacity(0.5)
    with qtbot.waitSignal(
        window.session.heatmap_changed, timeout=15000, check_params_cb=lambda m: m is not None
    ):
        window.session.select_position(2)
    wait_current_loaded(qtbot, window)
    view = window.patch_view
    pixels = view.pixels
    assert pixels is not None
    hot_xy, cold_xy = view.image_to_view(10.5, 10.5), view.image_to_view(80.5, 80.5)
    top = tuple(int(v) for v in colormap_lut("inferno")[255])
    image = grab(window)
    patch_hot = tuple(int(v) for v in pixels[10, 10])
    expected = tuple(round(0.5 * a + 0.5 * b) for a, b in zip(patch_hot, top, strict=True))
    assert close_to(pixel(image, hot_xy), expected, tol=4)
    assert close_to(pixel(image, cold_xy), tuple(int(v) for v in pixels[80, 80]), tol=1)
    window.review_panel.set_opacity(1.0)
    assert close_to(pixel(grab(window), hot_xy), top, tol=2)
    window.action_map["toggle_heatmap"].trigger()
    assert close_to(pixel(grab(window), hot_xy), patch_hot, tol=1)
    assert window.prefs.overlay_opacity == 1.0
    assert "Grad-CAM" in window.review_panel.fact("explanation")


@pytest.mark.slow
def test_review_keys_write_the_store_and_undo(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    s.select_position(0)
    wait_current_loaded(qtbot, window)
    first = s.current_id
    qtbot.keyClick(window.grid, Qt.Key.Key_A)
    qtbot.keyClick(window.grid, Qt.Key.Key_J)
    second = s.current_id
    qtbot.keyClick(window.grid, Qt.Key.Key_D)
    qtbot.keyClick(window.grid, Qt.Key.Key_Right)
    third = s.current_id
    qtbot.keyClick(window.grid, Qt.Key.Key_U)
    assert len({first, second, third}) == 3
    assert s.store is not None
    states = s.store.current_states()
    assert {k: v.verdict.value for k, v in states.items()} == {
        first: "agree",
        second: "disagree",
        third: "unsure",
    }
    event = next(e for e in s.store.events() if e.patch_id == first)
    assert event.reviewer == "Dr Test" and event.model_id == "tiny-test-model"
    assert event.p_tumour == pytest.approx(s.table.p[s.table.row_of(first)])
    assert event.seconds_spent is not None and event.seconds_spent >= 0
    assert event.pixel_sha1 == first  # Kaggle ids are pixel hashes
    assert "reviewed 3 / 13" in window.counts_label.text()
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert third not in s.store.current_states()
    assert s.table.review[s.table.row_of(third)] == ReviewCode.UNREVIEWED
    qtbot.keyClick(window.grid, Qt.Key.Key_K)
    assert s.current_id == second
    # A verdict is in the store at once: another connection sees it.
    other = open_store_for_folder(kaggle_folder)
    try:
        assert set(other.current_states()) == {first, second}
    finally:
        other.close()


@pytest.mark.slow
def test_reviewer_is_asked_once_and_remembered(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(reviewer="")
    open_and_score(qtbot, window, kaggle_folder)
    window.agree()  # a verdict key never asks: nothing is recorded without a reviewer
    assert window.session.reviewer == ""
    assert window.ask_reviewer_at_start()  # the app asks once its window is up
    assert window.session.reviewer == "Dr Asked"
    assert Preferences().reviewer == "Dr Asked"


@pytest.mark.slow
def test_auto_advance_goes_to_the_next_unreviewed_in_sort_order(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    window.sort_combo.setCurrentIndex(list(SortKey).index(SortKey.UNCERTAINTY))
    window.action_map["auto_advance"].trigger()
    s.select_position(1)
    window.agree()  # position 1 reviewed -> advances to 2
    assert s.position == 2
    s.select_position(0)
    window.disagree()  # 0 reviewed, 1 reviewed -> 2
    assert s.position == 2


@pytest.mark.slow
def test_sort_and_filter_change_the_grid_order(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    model = s.model

    def probs() -> list[float | None]:
        return [model.data(model.index(i), ProbabilityRole) for i in range(model.rowCount())]

    window.sort_combo.setCurrentIndex(list(SortKey).index(SortKey.P_TUMOUR))
    ps = probs()
    assert ps[-1] is None  # the unscored corrupt file goes last
    assert ps[:-1] == sorted(ps[:-1], reverse=True)
    window.sort_combo.setCurrentIndex(list(SortKey).index(SortKey.UNCERTAINTY))
    dist = [abs(p - 0.5) for p in probs() if p is not None]
    assert dist == sorted(dist)
    window.p_min.setValue(0.3)
    window.p_max.setValue(0.6)  # applied when the boxes rest
    qtbot.waitUntil(lambda: s.selection.filter_spec.p_max == 0.6, timeout=3000)
    assert all(p is not None and 0.3 <= p <= 0.6 for p in probs())
    window.p_min.setValue(0.0)
    window.p_max.setValue(1.0)
    qtbot.waitUntil(lambda: s.selection.filter_spec.p_max == 1.0, timeout=3000)
    window.truth_filter.setCurrentIndex(2)  # truth 1
    assert model.rowCount() == sum(t == 1 for t in s.table.truth)
    window.truth_filter.setCurrentIndex(0)
    s.select_position(0)
    window.agree()
    window.review_filter.setCurrentIndex(1)  # unreviewed
    assert model.rowCount() == 12
    window.review_filter.setCurrentIndex(2)  # reviewed
    assert model.rowCount() == 1
    window.review_filter.setCurrentIndex(0)
    window.disagree_check.setChecked(True)
    t = s.table
    for i in range(model.rowCount()):
        row = model.table_row(i)
        wrong = t.truth[row] >= 0 and (t.p[row] >= 0.5) != bool(t.truth[row])
        assert wrong or t.review[row] == ReviewCode.DISAGREE


@pytest.mark.slow
def test_exports_write_the_csvs(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, tmp_path: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    s.select_position(0)
    window.agree()
    s.select_position(1)
    window.disagree()
    p0, p1 = (s.table.p[s.model.table_row(i)] for i in (0, 1))
    out = tmp_path / "labels.csv"
    assert export(qtbot, window, "labels", out) == 2
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["id", "label"]
    labels = {r[0]: int(r[1]) for r in rows[1:]}
    assert labels[s.table.ids[s.model.table_row(0)]] == int(p0 >= 0.5)
    assert labels[s.table.ids[s.model.table_row(1)]] == 1 - int(p1 >= 0.5)
    log = tmp_path / "log.csv"
    assert export(qtbot, window, "log", log) == 2
    header = next(csv.reader(log.read_text().splitlines()))
    assert "verdict" in header and "reviewer" in header


@pytest.mark.slow
def test_kaggle_submission_export(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, tmp_path: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    out = tmp_path / "submission.csv"
    assert export(qtbot, window, "submission", out) == 12
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["id", "label"] and len(rows) == 13
    scores = window.session.scores()
    for pid, value in rows[1:]:
        assert float(value) == pytest.approx(scores[pid], abs=1e-5)


@pytest.mark.slow
def test_no_model_still_browses_and_reviews(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(loader=failing_loader)
    s = window.session
    with qtbot.waitSignal(s.listing_finished, timeout=10000):
        window.open_folder(kaggle_folder)
    assert window.model_banner.isVisible()
    assert "weights file is missing" in window.model_banner.text()
    assert all(math.isnan(p) for p in s.table.p)
    s.select_position(0)
    wait_current_loaded(qtbot, window)
    assert window.review_panel.fact("probability") == "no model"
    window.unsure()
    assert s.store is not None
    (state,) = s.store.current_states().values()
    assert state.verdict.value == "unsure" and state.p_tumour is None


@pytest.mark.parametrize("content", ["empty", "not-images"])
@pytest.mark.slow
def test_empty_or_non_image_folder_says_so(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path, content: str
) -> None:
    folder = tmp_path / content
    folder.mkdir()
    if content == "not-images":
        (folder / "notes.txt").write_text("hello")
        (folder / "table.csv").write_text("a,b\n")
    window = make_window()
    with qtbot.waitSignal(window.session.folder_failed, timeout=15000) as failed:
        window.open_folder(folder)
    text = failed.args[0]
    assert "no patch images" in text
    assert ("is empty" in text) == (content == "empty")
    assert window.grid_stack.currentWidget() is window.grid_message
    assert window.grid_message.text() == text


@pytest.mark.slow
def test_switching_folders_cancels_cleanly(
    qtbot: QtBot, make_window: MakeWindow, data_dir: Path, tmp_path: Path
) -> None:
    big = tmp_path / "big"
    make_folder(big, data_dir / "kaggle", 240)
    small = tmp_path / "small"
    make_folder(small, data_dir / "kaggle", 3)
    window = make_window()
    s = window.session
    with qtbot.waitSignal(s.scoring_progressed, timeout=10000):
        window.open_folder(big)
    with qtbot.waitSignal(s.scoring_finished, timeout=30000, check_params_cb=lambda o: o == "done"):
        window.open_folder(small)
    assert s.folder == small.resolve()
    assert len(s.table) == 3 and s.model.rowCount() == 3
    assert all(not math.isnan(p) for p in s.table.p)


@pytest.mark.slow
def test_settings_remember_folder_reviewer_and_opacity(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    window.review_panel.set_opacity(0.8)
    open_and_score(qtbot, window, kaggle_folder)
    window.close()
    prefs = Preferences()
    assert prefs.overlay_opacity == pytest.approx(0.8)
    assert prefs.last_folder == str(kaggle_folder.resolve())
    assert prefs.reviewer == "Dr Test"
    assert prefs.layout("geometry") is not None
    again = make_window(loader=None)
    assert again.review_panel.opacity_slider.value() == 80
    assert str(kaggle_folder.resolve()) in [a.text() for a in again.recent_menu.actions()]


@pytest.mark.slow
def test_histogram_counts_follow_reviews(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    window.session.select_position(0)
    window.agree()
    window.histogram.refresh()
    hist = window.histogram.last
    assert hist is not None
    assert int(hist.counts["agree"].sum()) == 1
    assert int(sum(c.sum() for c in hist.counts.values())) == 12
    window.histogram.group_combo.setCurrentIndex(1)
    assert window.histogram.last is not None and "truth 1" in window.histogram.last.counts


@pytest.mark.slow
def test_real_gradcam_on_a_tiny_network(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    s.select_position(0)  # (the first tile may be current already, its map there too)
    qtbot.waitUntil(lambda: s.current_info is not None, timeout=20000)
    qtbot.waitUntil(lambda: s.explanation is not None, timeout=20000)
    text = window.review_panel.fact("explanation")
    assert "Grad-CAM, block 1 of 2, 48×48" in text  # readable; the module name is the tip
    assert "layer stages.0" in window.review_panel._labels["explanation"].toolTip()
    heat = getattr(s.explanation, "map", None)
    assert heat is None or (heat.shape == (96, 96) and np.isfinite(heat).all())


@pytest.mark.slow
def test_real_model_directory_end_to_end(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, tmp_path: Path
) -> None:
    """The default loader (pathview.model.load_model) on a tiny model dir written to tmp."""
    window = make_window(loader=None)
    load_tiny_model(qtbot, window, tmp_path / "tiny-model")
    s = window.session
    info = s.model_info
    assert info is not None and info.default_layer == "stages.0"
    assert window.review_panel.layer_combo.count() >= 2
    with qtbot.waitSignal(s.scoring_finished, timeout=30000):
        window.open_folder(kaggle_folder)
    assert sum(not math.isnan(p) for p in s.table.p) == 12
    with qtbot.waitSignal(s.scoring_finished, timeout=30000):
        window.action_map["score_tta"].trigger()
    pairs = zip(s.table.spread, s.table.p, strict=True)
    assert all(not math.isnan(v) for v, p in pairs if not math.isnan(p))
    s.select_position(0)
    qtbot.waitUntil(lambda: s.explanation is not None, timeout=20000)
    window.agree()
    assert s.store is not None
    event = s.store.events()[-1]
    assert event.model_id == info.model_id
    assert event.explanation_layer in ("", "stages.0")


@pytest.mark.slow
def test_status_bar_names_the_number_format_and_why_int8_is_not_used(
    qtbot: QtBot, make_window: MakeWindow, data_dir: Path, tmp_path: Path
) -> None:
    from support.models import make_tiny_model

    from pathview.model.quantised import int8_unavailable
    from pathview.training.quantise import add_int8

    if int8_unavailable() is not None:
        pytest.skip(f"no x86 int8 kernels here: {int8_unavailable()}")
    model_dir = make_tiny_model(tmp_path / "tiny8")
    add_int8(model_dir, data_dir / "kaggle", data_dir / "kaggle" / "labels.csv", 16, workers=1)
    window = make_window(loader=None)
    s = window.session
    with qtbot.waitSignal(s.model_worker.model_loaded, timeout=20000):
        s.load_model(model_dir, "cpu")
    assert s.model_status.text.endswith("on cpu, int8")
    assert window.model_label.toolTip() == s.model_status.text
    # Damaged int8 weights: float32 scores, and the status says why.
    path = model_dir / "weights-int8.pt"
    path.write_bytes(path.read_bytes()[:-10] + bytes(10))
    with qtbot.waitSignal(s.model_worker.model_loaded, timeout=20000):
        s.load_model(model_dir, "cpu")
    assert "on cpu, float32 (int8 weights unusable" in s.model_status.text
    assert "checksum mismatch" in window.model_label.toolTip()


@pytest.mark.slow
def test_dropping_a_folder_opens_it_and_a_csv_loads_labels(
    qtbot: QtBot, make_window: MakeWindow, data_dir: Path, tmp_path: Path
) -> None:
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    folder = tmp_path / "dropped"
    make_folder(folder, data_dir / "kaggle", 4, labels=False)
    labels = tmp_path / "elsewhere.csv"
    make_folder(tmp_path / "with-labels", data_dir / "kaggle", 4)
    labels.write_text((tmp_path / "with-labels" / "labels.csv").read_text())
    window = make_window(loader=None)

    def drop(path: Path) -> None:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        event = QDropEvent(
            QPointF(10, 10),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        window.dropEvent(event)

    with qtbot.waitSignal(window.session.listing_finished, timeout=15000):
        drop(folder)
    assert window.session.folder == folder.resolve()
    assert all(t < 0 for t in window.session.table.truth)
    with qtbot.waitSignal(window.session.labels_loaded, timeout=15000):
        drop(labels)  # read off the GUI thread
    assert sum(t >= 0 for t in window.session.table.truth) == 4


def test_a_large_folders_names_are_sorted_off_the_gui_thread(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From NAMES_IN_THREAD patches the listing's name order comes from a worker before
    listing_finished; the grid shows the names in order, as when sorted on the GUI thread."""
    import pathview.ui.folder as folder_module
    from pathview.triage import name_rank_of

    monkeypatch.setattr(folder_module, "NAMES_IN_THREAD", 2)
    sorted_on = []
    real = folder_module.name_rank_of

    def spy(ids: list[str]) -> np.ndarray:
        import threading

        sorted_on.append(threading.current_thread() is threading.main_thread())
        return real(ids)

    monkeypatch.setattr(folder_module, "name_rank_of", spy)
    window = make_window(loader=failing_loader)
    s = window.session
    with qtbot.waitSignal(s.listing_finished, timeout=10000):
        window.open_folder(kaggle_folder)
    assert sorted_on == [False]  # once, on the worker
    ids = list(s.table.ids)
    np.testing.assert_array_equal(s.table.name_rank(), name_rank_of(ids))
    shown = [s.model.table_row(i) for i in range(s.model.rowCount())]
    assert [ids[r] for r in shown] == sorted(ids)
