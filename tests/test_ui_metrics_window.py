"""The metrics dock in the real main window, offscreen: the numbers of pathview.evaluation,
reviewer agreement after importing a colleague's reviews, adjudication into the labels export,
and the sort key of patches unstable under flips/rotations."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from support.fakes import FakeClassifier, views_loader
from support.ui import (
    MakeWindow,
    cell,
    confusion,
    export,
    import_reviews,
    load_tiny_model,
    open_and_score,
)

from pathview.core import Verdict
from pathview.evaluation import EvaluationReport
from pathview.io import read_labels
from pathview.scoring import score_folder
from pathview.stats import accuracy, cohen_kappa, confusion_at, roc_auc, unstable_ids
from pathview.store import ReviewInput, ReviewStore, write_log_csv
from pathview.triage import SortKey
from pathview.ui.main_window import MainWindow
from pathview.ui.settings import Preferences

COLLEAGUE = "Dr Colleague"


@pytest.fixture
def make_window(make_window: MakeWindow) -> MakeWindow:
    """conftest's windows with the metrics panel opened (it starts closed): these tests look
    at it. ``metrics=False`` leaves it as the saved layout says."""

    def make(*args: Any, metrics: bool = True, **kwargs: Any) -> MainWindow:
        window = make_window(*args, **kwargs)
        if metrics and not window.metrics_dock.isVisible():
            window.action_map["toggle_metrics"].trigger()
        return window

    return make


def wait_report(
    qtbot: QtBot, window: MainWindow, ready: Callable[[EvaluationReport], object]
) -> EvaluationReport:
    """The panel's report once ``ready`` holds (reports are built in the background)."""
    panel = window.metrics_panel

    def check() -> bool:
        return panel.report is not None and bool(ready(panel.report))

    qtbot.waitUntil(check, timeout=15000)
    assert panel.report is not None
    return panel.report


def grid_ids(window: MainWindow) -> list[str]:
    s = window.session
    return [s.table.ids[s.model.table_row(i)] for i in range(s.model.rowCount())]


# ------------------------------------------------------------------------------ numbers


@pytest.mark.slow
def test_metrics_dock_shows_evaluation_numbers_for_known_labels(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    panel = window.metrics_panel
    assert window.metrics_dock.isVisible() and window.action_map["toggle_metrics"].isChecked()
    open_and_score(qtbot, window, kaggle_folder)
    report = wait_report(qtbot, window, lambda r: len(r.ids) == 12)
    # What `pathview score --labels` computes: score_folder's float32 scores, then the
    # model's metric functions on the labelled ids.
    result = score_folder(kaggle_folder, FakeClassifier())
    labels = read_labels(kaggle_folder / "labels.csv").labels
    known = [i for i, pid in enumerate(result.ids) if pid in labels]
    y = np.array([labels[result.ids[i]] for i in known])
    p = result.p[known]
    assert 0 < y.sum() < len(y)
    assert report.source == "truth" and panel.source() == "truth"  # no reviews yet
    assert cell(panel, 0, "reference") == "ground truth"
    assert cell(panel, 0, "patches") == "12" and cell(panel, 0, "tumour") == str(int(y.sum()))
    assert cell(panel, 0, "AUC") == f"{roc_auc(p, y):.4f}"
    assert cell(panel, 0, "accuracy") == f"{accuracy(p, y):.4f}"
    ev = report.evaluation("truth")
    assert ev is not None and ev.auc == roc_auc(p, y)
    # The threshold is adjustable; the confusion matrix follows.
    panel.set_threshold(0.3)
    c = confusion_at(p, y, 0.3)
    assert confusion(panel) == [[c.tn, c.fp], [c.fn, c.tp]]
    assert cell(panel, 0, "sensitivity") == f"{c.sensitivity:.4f}"
    assert window.session.threshold == pytest.approx(0.3)
    # A review adds the reviews as a reference; "both" shows them side by side.
    s = window.session
    s.select_position(0)
    window.disagree()
    s.select_position(1)
    window.agree()
    report = wait_report(qtbot, window, lambda r: len(r.reviews) == 2)
    assert report.threshold == pytest.approx(0.3)  # the user's threshold is kept
    assert report.sources == ["truth", "reviews", "both"] and report.source == "both"
    assert [cell(panel, r, "reference") for r in range(2)] == ["ground truth", "reviews"]
    assert cell(panel, 1, "patches") == "2"
    with qtbot.waitSignal(panel.source_changed):
        panel.set_source("reviews")
    assert s.evaluation_source == "reviews"
    assert panel.summary_table.rowCount() == 1 and cell(panel, 0, "reference") == "reviews"
    s.select_position(2)
    window.agree()  # a refresh keeps the reference the user chose
    wait_report(qtbot, window, lambda r: len(r.reviews) == 3)
    assert panel.source() == "reviews" and cell(panel, 0, "patches") == "3"


@pytest.mark.slow
def test_numbers_match_pathview_score_with_a_real_model_directory(
    qtbot: QtBot,
    make_window: MakeWindow,
    kaggle_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pathview.cli import main

    window = make_window(loader=None)
    model_dir = load_tiny_model(qtbot, window, tmp_path / "tiny-model")
    open_and_score(qtbot, window, kaggle_folder)
    wait_report(qtbot, window, lambda r: len(r.ids) == 12)
    args = ["score", str(kaggle_folder), "--out", str(tmp_path / "scores.csv")]
    args += ["--labels", str(kaggle_folder / "labels.csv"), "--model", str(model_dir)]
    assert main([*args, "--device", "cpu"]) == 3  # the corrupt file: scored, but partial
    printed = re.search(r"AUC (\S+)  accuracy (\S+)(?:  ECE (\S+))?", capsys.readouterr().out)
    assert printed is not None
    panel = window.metrics_panel
    assert (cell(panel, 0, "AUC"), cell(panel, 0, "accuracy")) == printed.groups()[:2]
    if printed.group(3) is not None:  # newer `score` prints the calibration error too
        assert cell(panel, 0, "ECE") == printed.group(3)


# ------------------------------------------------------------------------------ reviewers


def review_and_import(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> tuple[list[str], list[str], Path]:
    """Dr Test agrees with the model on the first 6 patches; a colleague's store (imported)
    agrees on 4 of them and disagrees on 2. Returns (ids, disputed ids, colleague store)."""
    s = window.session
    ids = grid_ids(window)[:6]
    for i in range(6):
        s.select_position(i)
        window.agree()
    disputed = [ids[1], ids[4]]
    colleague = tmp_path / "colleague.sqlite"
    with ReviewStore(colleague) as other:
        for pid in ids:
            verdict = Verdict.DISAGREE if pid in disputed else Verdict.AGREE
            p = s.table.p[s.table.row_of(pid)]  # type: ignore[index]
            other.record(ReviewInput(pid, verdict, COLLEAGUE, p_tumour=p))
    wait_report(qtbot, window, lambda r: len(r.reviews) == 6)
    assert "One reviewer (Dr Test)" in window.metrics_panel.agreement_label.text()
    result = import_reviews(qtbot, window, colleague)
    assert result is not None and (result.read, result.added) == (6, 6)
    return ids, disputed, colleague


@pytest.mark.slow
def test_importing_a_second_reviewer_updates_kappa_and_the_queue(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, tmp_path: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    ids, disputed, colleague = review_and_import(qtbot, window, tmp_path)
    report = wait_report(qtbot, window, lambda r: r.reviewers is not None and r.reviewers.queue)
    assert report.reviewers is not None
    assert report.reviewers.reviewers == (COLLEAGUE, "Dr Test")
    s = window.session
    mine = [int(s.table.p[s.table.row_of(pid)] >= 0.5) for pid in ids]  # type: ignore[index]
    theirs = [1 - m if pid in disputed else m for pid, m in zip(ids, mine, strict=True)]
    kappa = cohen_kappa(theirs, mine)
    panel = window.metrics_panel
    text = panel.agreement_label.text()
    assert f"Cohen's kappa {kappa:.3f}" in text and "on 6 shared patches" in text
    assert [panel.queue_list.item(i).text() for i in range(panel.queue_list.count())] == sorted(
        disputed
    )
    assert panel.list_tabs.tabText(0) == "To adjudicate (2)"
    assert "reviewed 6 / 13" in window.counts_label.text()
    # The same reviews as a log CSV: nothing new (events are keyed by uid).
    log = tmp_path / "colleague_log.csv"
    with ReviewStore(colleague) as other:
        write_log_csv(other, log)
    again = import_reviews(qtbot, window, log)
    assert again is not None and again.added == 0
    # A file that is no review store: a message, and nothing changes.
    assert s.store is not None
    before = len(s.store.events())
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    assert import_reviews(qtbot, window, garbage) is None
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1 and "Nothing imported" in boxes[0].text()
    boxes[0].close()
    assert len(s.store.events()) == before


@pytest.mark.slow
def test_adjudication_in_the_panel_flows_into_the_labels_export(
    qtbot: QtBot,
    make_window: MakeWindow,
    kaggle_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pathview.cli import main

    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    _ids, disputed, _colleague = review_and_import(qtbot, window, tmp_path)
    wait_report(qtbot, window, lambda r: r.reviewers is not None and len(r.reviewers.queue) == 2)
    s = window.session
    panel = window.metrics_panel

    def exported() -> dict[str, int]:
        out = tmp_path / "labels.csv"
        assert export(qtbot, window, "labels", out) >= 0
        rows = list(csv.reader(out.read_text().splitlines()))
        return {pid: int(label) for pid, label in rows[1:]}

    target = disputed[0]
    call = int(s.table.p[s.table.row_of(target)] >= 0.5)  # type: ignore[index]
    assert exported()[target] == 1 - call  # latest review: the colleague's disagreement
    # Clicking the patch in the queue selects it in the grid.
    item = panel.queue_list.item(0)
    assert item.text() == target
    rect = panel.queue_list.visualItemRect(item)
    qtbot.mouseClick(panel.queue_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert s.current_id == target
    assert window.grid.currentIndex().row() == s.position
    # The final verdict: the model's call, recorded by the current reviewer as adjudicator.
    with qtbot.waitSignal(panel.adjudication_recorded) as recorded:
        panel.final_buttons[call].click()
    assert recorded.args == [target, call]
    assert s.store is not None
    final = s.store.adjudications()[target]
    assert (final.label, final.reviewer, final.role) == (call, "Dr Test", "adjudicator")
    labels = exported()
    assert labels[target] == call
    assert labels[disputed[1]] == 1 - int(s.table.p[s.table.row_of(disputed[1])] >= 0.5)  # type: ignore[index]
    # `pathview export` (the same code) writes the same file.
    cli_out = tmp_path / "cli_labels.csv"
    assert main(["export", str(kaggle_folder), "--labels", str(cli_out)]) == 0
    capsys.readouterr()
    assert cli_out.read_text() == (tmp_path / "labels.csv").read_text()
    report = wait_report(
        qtbot, window, lambda r: r.reviewers is not None and r.reviewers.adjudicated
    )
    assert report.reviewers is not None and report.reviewers.queue == (disputed[1],)
    assert "1 patches have a final verdict" in panel.agreement_label.text()


# ------------------------------------------------------------------------------ stability


@pytest.mark.slow
def test_unstable_sort_key_needs_tta_then_lists_the_unstable_first(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(loader=views_loader)
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    by_name = grid_ids(window)
    with qtbot.waitSignal(s.message, check_params_cb=lambda text: "Score with TTA" in text):
        window.sort_combo.setCurrentIndex(list(SortKey).index(SortKey.UNSTABLE))
    assert s.sort_key is SortKey.UNSTABLE and grid_ids(window) == by_name  # sorts nothing
    wait_report(qtbot, window, lambda r: len(r.ids) == 12)
    assert window.metrics_panel.list_tabs.tabText(1) == "Unstable"
    with qtbot.waitSignal(s.scoring_finished, timeout=30000):
        window.action_map["score_tta"].trigger()
    views = s.table.views()
    assert views is not None
    scored = [r for r in range(len(s.table)) if not np.isnan(views[r]).any()]
    ids = [s.table.ids[r] for r in scored]

    def expected(threshold: float) -> list[str]:
        return unstable_ids(ids, views[scored], threshold)

    unstable = expected(0.5)
    assert 2 <= len(unstable) < 12  # the fake's views disagree on some patches only
    order = grid_ids(window)
    assert order[: len(unstable)] == unstable
    assert order[len(unstable) :] == [*sorted(set(ids) - set(unstable)), "zz_corrupt_0"]
    report = wait_report(qtbot, window, lambda r: r.unstable is not None)
    assert report.tta and list(report.unstable or ()) == unstable
    panel = window.metrics_panel
    assert panel.list_tabs.tabText(1) == f"Unstable ({len(unstable)})"
    assert [panel.unstable_list.item(i).text() for i in range(len(unstable))] == unstable
    # Another threshold: another set of unstable patches, in the grid and the panel.
    assert expected(0.3) != unstable
    with qtbot.waitSignal(s.order_changed, timeout=5000):
        panel.set_threshold(0.3)
    assert grid_ids(window)[: len(expected(0.3))] == expected(0.3)
    wait_report(qtbot, window, lambda r: list(r.unstable or ()) == expected(0.3))
    # Choosing one in the panel selects it in the grid.
    panel.list_tabs.setCurrentIndex(1)
    last = panel.unstable_list.item(panel.unstable_list.count() - 1)
    rect = panel.unstable_list.visualItemRect(last)
    qtbot.mouseClick(panel.unstable_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert s.current_id == last.text()


# ------------------------------------------------------------------------------ layout


@pytest.mark.slow
def test_metrics_dock_visibility_is_saved_with_the_layout(
    qtbot: QtBot, make_window: MakeWindow
) -> None:
    window = make_window(loader=None)
    assert window.session.evaluation_enabled
    window.action_map["toggle_metrics"].trigger()
    assert not window.metrics_dock.isVisible() and not window.session.evaluation_enabled
    window.close()
    assert Preferences().layout("window_state") is not None
    again = make_window(loader=None, metrics=False)
    assert not again.metrics_dock.isVisible()
    assert not again.action_map["toggle_metrics"].isChecked()
    assert not again.session.evaluation_enabled  # nothing is computed for a hidden panel
    again.metrics_dock.toggleViewAction().trigger()  # the dock's own toggle stays in sync
    assert again.metrics_dock.isVisible() and again.action_map["toggle_metrics"].isChecked()
    assert again.session.evaluation_enabled
