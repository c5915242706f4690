"""Resuming a folder: the last patch, sort, filter, histogram modes and TTA come back, and
cached scores are shown without scoring again; the histogram filters on a click."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pytestqt.qtbot import QtBot
from support.fakes import FakeClassifier, ViewsFakeClassifier
from support.ui import MakeWindow, open_and_score

from pathview.triage import FilterSpec, ReviewFilter, SortKey
from pathview.triage.resume import FolderResume, folder_key
from pathview.ui.main_window import MainWindow
from pathview.ui.settings import Preferences


def test_the_state_round_trips_as_json() -> None:
    state = FolderResume(
        patch_id="abc",
        sort=SortKey.UNCERTAINTY,
        filter=FilterSpec(ReviewFilter.UNREVIEWED, True, 0.2, 0.7, 1),
        histogram="truth",
        histogram_log=True,
        tta=True,
    )
    assert FolderResume.from_json(state.to_json()) == state


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[1, 2]",
        '{"sort": "a sort of a newer version", "histogram": "by colour", "tta": "yes"}',
        '{"filter": {"review": "nope", "p_min": "x", "truth": 7}, "patch_id": 3}',
    ],
)
def test_unknown_or_damaged_values_take_their_defaults(text: str) -> None:
    assert FolderResume.from_json(text) == FolderResume()


def test_a_p_range_is_kept_in_order_and_in_range() -> None:
    state = FolderResume.from_json('{"filter": {"p_min": 0.9, "p_max": -3}}')
    assert (state.filter.p_min, state.filter.p_max) == (0.0, 0.9)


def test_folders_are_keyed_by_their_resolved_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert folder_key(tmp_path / "a") == folder_key(tmp_path / "a" / ".." / "a")
    assert folder_key(tmp_path / "a") != folder_key(tmp_path)


def test_only_the_latest_folders_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathview.ui import settings

    monkeypatch.setattr(settings, "MAX_RESUMED", 3)
    prefs = Preferences()
    for i in range(5):
        prefs.set_folder_state(f"k{i}", f"{{}}{i}")
    assert [prefs.folder_state(f"k{i}") for i in range(5)] == ["", "", "{}2", "{}3", "{}4"]


class CountingLoader:
    """A loader whose classifiers count the batches they score."""

    def __init__(self, kind: type[FakeClassifier] = FakeClassifier) -> None:
        self.kind = kind
        self.made: list[FakeClassifier] = []

    def __call__(self, _model_dir: Path | None, _device: str) -> Any:
        classifier = self.kind()
        self.made.append(classifier)
        return classifier


def reopen(qtbot: QtBot, make_window: MakeWindow, folder: Path, loader: Any) -> MainWindow:
    window = make_window(loader=loader)
    with qtbot.waitSignal(window.session.scoring_finished, timeout=30000) as finished:
        window.open_folder(folder)
    assert finished.args == ["done"]
    return window


@pytest.mark.slow
def test_reopening_shows_the_cached_scores_without_scoring(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    first_loader = CountingLoader()
    window = make_window(loader=first_loader)
    open_and_score(qtbot, window, kaggle_folder)
    scored = dict(window.session.scores())
    assert len(scored) == 12 and first_loader.made[0].calls > 0
    window.close()

    loader = CountingLoader()
    again = reopen(qtbot, make_window, kaggle_folder, loader)
    # Nothing scored: the corrupt file (never cached) is tried again but cannot be decoded.
    assert loader.made[0].calls == 0
    assert again.session.scores() == pytest.approx(scored)
    # The quality rows come back with the scores: flags and values without measuring again.
    table = again.session.table
    assert int(table.insight.known(len(table)).sum()) == 12
    again.session.select_patch(next(iter(scored)))
    qtbot.waitUntil(lambda: "sharpness" in again.review_panel.fact("quality"))


@pytest.mark.slow
def test_a_folder_comes_back_where_it_was_left(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(loader=CountingLoader(ViewsFakeClassifier))
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    with qtbot.waitSignal(s.scoring_finished, timeout=30000):
        window.score_tta()
    window.filter_bar.sort_combo.setCurrentIndex(
        window.filter_bar.sort_combo.findData(SortKey.UNCERTAINTY)
    )
    window.review_filter.setCurrentIndex(window.review_filter.findData(ReviewFilter.UNREVIEWED))
    window.truth_filter.setCurrentIndex(window.truth_filter.findData(1))
    window.histogram.set_modes("truth", True)
    s.select_position(2)
    chosen = s.current_id
    assert chosen is not None and s.sort_key is SortKey.UNCERTAINTY
    window.close()

    loader = CountingLoader(ViewsFakeClassifier)
    again = reopen(qtbot, make_window, kaggle_folder, loader)
    t = again.session
    assert t.sort_key is SortKey.UNCERTAINTY
    assert t.selection.filter_spec.review is ReviewFilter.UNREVIEWED
    assert t.selection.filter_spec.truth == 1
    assert again.truth_filter.currentData() == 1
    assert again.filter_bar.sort_combo.currentData() == SortKey.UNCERTAINTY
    assert again.review_filter.currentData() == ReviewFilter.UNREVIEWED
    assert again.histogram.grouping == "truth" and again.histogram.log_scale
    assert t.current_id == chosen
    assert t.scoring.tta_scored  # scored with TTA again, answered by the cache
    assert loader.made[0].calls == 0
    assert t.table.has_views


@pytest.mark.slow
def test_a_folder_chosen_while_listing_keeps_the_users_patch(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(loader=None)
    window.open_folder(kaggle_folder)
    qtbot.waitUntil(lambda: window.session.folders.listing_done, timeout=15000)
    window.session.select_position(4)
    window.close()
    prefs = Preferences()
    state = FolderResume.from_json(prefs.folder_state(folder_key(kaggle_folder)))
    assert state.patch_id is not None
    again = make_window(loader=None)
    again.open_folder(kaggle_folder)
    qtbot.waitUntil(lambda: again.session.folders.listing_done, timeout=15000)
    qtbot.waitUntil(lambda: again.session.current_id == state.patch_id, timeout=5000)


@pytest.mark.slow
def test_the_filter_bar_counts_the_patches_shown(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    assert window.filter_bar.shown_label.text() == "13"
    window.truth_filter.setCurrentIndex(window.truth_filter.findData(1))
    shown = window.session.model.rowCount()
    assert 0 < shown < 13
    assert window.filter_bar.shown_label.text() == f"{shown} of 13"


@pytest.mark.slow
def test_clicking_a_histogram_bar_filters_to_its_range(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    window.histogram.refresh()
    hist = window.histogram.last
    assert hist is not None
    totals = sum(hist.counts.values())
    busiest = int(np.argmax(totals))
    lo, hi = float(hist.edges[busiest]), float(hist.edges[busiest + 1])
    window.histogram.click_at((lo + hi) / 2)
    spec = s.selection.filter_spec
    assert (spec.p_min, spec.p_max) == pytest.approx((lo, hi))
    assert window.p_min.value() == pytest.approx(lo) and window.p_max.value() == pytest.approx(hi)
    shown = [s.table.p[s.model.table_row(i)] for i in range(s.model.rowCount())]
    assert len(shown) == int(totals[busiest]) and all(lo <= p <= hi for p in shown)
    window.histogram.click_at((lo + hi) / 2)  # the same bar again: everything
    assert s.selection.filter_spec == FilterSpec()
    assert s.model.rowCount() == 13


@pytest.mark.slow
def test_the_log_scale_keeps_small_bins_visible(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    panel = window.histogram
    panel.log_check.setChecked(True)
    assert panel.plot.getAxis("left").labelText == "patches (log)"
    heights = [
        item.opts["height"]
        for item in panel.plot.listDataItems() + panel.plot.items()
        if hasattr(item, "opts") and "height" in item.opts
    ]
    tallest = max(float(np.max(h)) for h in heights)
    assert tallest <= np.log10(1 + 13) + 1e-9  # heights on the log10(1 + count) axis
    panel.log_check.setChecked(False)
    assert panel.plot.getAxis("left").labelText == "patches"
