"""The metrics panel renders offscreen with the right numbers and follows the threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot
from support.ui import cell, confusion

from pathview.core import Verdict
from pathview.evaluation import available_sources, build_report, choose_source, summarise_reviewers
from pathview.store import ReviewInput, ReviewStore, record_adjudication, reviewed_labels
from pathview.ui.evaluation import ReportState
from pathview.ui.metrics_panel import MetricsPanel

IDS = ["a", "b", "c", "d"]
P = np.array([0.1, 0.4, 0.35, 0.8], np.float32)
TRUTH = {"a": 0, "b": 0, "c": 1, "d": 1}
REVIEWS = {"a": 0, "c": 1, "d": 1}


@pytest.fixture
def store(tmp_path: Path) -> ReviewStore:
    s = ReviewStore(tmp_path / "reviews.sqlite")
    for pid, ann, bob in (("a", 0, 0), ("b", 0, 1), ("c", 1, 1), ("d", 1, 1)):
        p = float(P[IDS.index(pid)])
        for reviewer, label in (("ann", ann), ("bob", bob)):
            verdict = Verdict.AGREE if int(p >= 0.5) == label else Verdict.DISAGREE
            s.record(ReviewInput(pid, verdict, reviewer, p_tumour=p))
    yield s  # type: ignore[misc]
    s.close()


@pytest.fixture
def state() -> ReportState:
    return ReportState()


@pytest.fixture
def panel(qtbot: QtBot, store: ReviewStore, state: ReportState) -> MetricsPanel:
    widget = MetricsPanel()
    qtbot.addWidget(widget)
    report = build_report(
        IDS, P, TRUTH, REVIEWS, source="truth", model_id="ab" * 32, model_name="tiny",
        data_name="fixture", reviewers=summarise_reviewers(store), unstable=["c"],
    )  # fmt: skip
    widget.bind(state)
    state.set_report(report)
    widget.resize(640, 900)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.mark.slow
def test_shows_the_numbers_of_the_report(panel: MetricsPanel) -> None:
    assert panel.summary_table.rowCount() == 1
    assert cell(panel, 0, "reference") == "ground truth"
    assert cell(panel, 0, "patches") == "4" and cell(panel, 0, "tumour") == "2"
    assert cell(panel, 0, "AUC") == "0.7500"
    assert cell(panel, 0, "sensitivity") == "0.5000"
    assert cell(panel, 0, "specificity") == "1.0000"
    assert cell(panel, 0, "accuracy") == "0.7500"
    # rows: truth normal / tumour; columns: called normal / tumour
    assert confusion(panel) == [[2, 0], [1, 1]]
    assert "fixture" in panel.title_label.text() and "tiny abababababab" in panel.title_label.text()
    assert [panel.source_combo.itemText(i) for i in range(panel.source_combo.count())] == [
        "truth",
        "reviews",
        "both",
    ]
    assert "Cohen's kappa 0.500" in panel.agreement_label.text()
    assert "4 shared patches" in panel.agreement_label.text()
    assert panel.queue_list.count() == 1 and panel.queue_list.item(0).text() == "b"
    assert panel.unstable_list.count() == 1 and panel.list_tabs.tabText(1) == "Unstable (1)"


@pytest.mark.slow
def test_threshold_updates_the_confusion_matrix(
    panel: MetricsPanel, qtbot: QtBot, state: ReportState
) -> None:
    with qtbot.waitSignal(panel.threshold_changed) as blocker:
        panel.threshold_slider.setValue(30)  # as a drag would
    assert blocker.args == [0.3]
    assert state.threshold == 0.3  # the state owns it; the panel draws the state's report
    assert panel.threshold_spin.value() == pytest.approx(0.3)
    assert confusion(panel) == [[1, 1], [0, 2]]
    assert cell(panel, 0, "sensitivity") == "1.0000" and cell(panel, 0, "specificity") == "0.5000"
    assert cell(panel, 0, "AUC") == "0.7500"  # threshold-free
    panel.set_threshold(0.9)
    assert panel.threshold_slider.value() == 90
    assert confusion(panel) == [[2, 0], [2, 0]] and cell(panel, 0, "sensitivity") == "0.0000"


@pytest.mark.slow
def test_source_selection(panel: MetricsPanel, qtbot: QtBot, state: ReportState) -> None:
    with qtbot.waitSignal(panel.source_changed):
        panel.set_source("both")
    assert state.source == "both"
    assert panel.summary_table.rowCount() == 2 and panel.confusion_table.rowCount() == 4
    assert cell(panel, 1, "reference") == "reviews" and cell(panel, 1, "AUC") == "1.0000"
    assert cell(panel, 1, "patches") == "3"
    panel.set_source("reviews")
    assert panel.summary_table.rowCount() == 1 and cell(panel, 0, "reference") == "reviews"


def test_a_report_without_truth_compares_with_the_reviews(qtbot: QtBot) -> None:
    widget = MetricsPanel()
    qtbot.addWidget(widget)
    source = choose_source("both", available_sources(None, REVIEWS))
    widget.set_report(build_report(IDS, P, None, REVIEWS, source=source, model_name="m"))
    assert widget.source() == "reviews" and cell(widget, 0, "AUC") == "1.0000"
    widget.set_report(build_report(IDS, P))
    assert widget.summary_table.rowCount() == 0
    assert "No ground truth or reviews" in widget.title_label.text()


def test_a_report_computed_before_the_users_choice_is_shown_at_it() -> None:
    state = ReportState()
    state.set_source("reviews")
    state.set_threshold(0.3)
    state.set_report(build_report(IDS, P, TRUTH, REVIEWS, source="truth"))
    assert state.report is not None
    assert state.report.source == "reviews" and state.report.threshold == 0.3
    with pytest.raises(ValueError):
        state.set_threshold(1.5)


@pytest.mark.slow
def test_queue_activation_and_final_verdict(
    panel: MetricsPanel, qtbot: QtBot, store: ReviewStore
) -> None:
    item = panel.queue_list.item(0)
    with qtbot.waitSignal(panel.patch_activated) as blocker:
        panel.queue_list.itemActivated.emit(item)
    assert blocker.args == ["b"]
    assert not panel.final_buttons[1].isEnabled()  # no recorder yet
    report = panel.report
    assert report is not None

    def record(patch_id: str, label: int | None) -> bool:
        p = float(report.probs[report.ids.index(patch_id)])
        record_adjudication(store, patch_id, label, "lead", p_tumour=p, model_id=report.model_id)
        return True

    panel.set_recorder(record)
    panel.queue_list.setCurrentRow(0)
    assert panel.final_buttons[1].isEnabled()
    with qtbot.waitSignal(panel.adjudication_recorded) as recorded:
        panel.final_buttons[1].click()
    assert recorded.args == ["b", 1]
    assert panel.queue_list.count() == 0 and not panel.final_buttons[1].isEnabled()
    final = store.adjudications()["b"]
    assert final.label == 1 and final.reviewer == "lead" and final.role == "adjudicator"
    assert final.model_id == "ab" * 32
    assert reviewed_labels(store, "unanimous")["b"] == 1  # the export honours it


def _distinct_colours(image: QImage, step: int = 4) -> set[int]:
    return {
        image.pixel(x, y)
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
    }


def _has_colour(image: QImage, colour: str, tolerance: int = 40) -> bool:
    target = QColor(colour)
    for x in range(image.width()):
        for y in range(image.height()):
            c = image.pixelColor(x, y)
            if (
                abs(c.red() - target.red())
                + abs(c.green() - target.green())
                + abs(c.blue() - target.blue())
                < tolerance
            ):
                return True
    return False


@pytest.mark.slow
def test_renders_offscreen_not_blank(panel: MetricsPanel, qtbot: QtBot) -> None:
    qtbot.wait(10)
    image = panel.grab().toImage()
    assert image.width() > 300 and image.height() > 300
    assert len(_distinct_colours(image)) > 20
    roc = panel.roc_plot.grab().toImage()
    assert _has_colour(roc, "#1f6fb4")  # the ground-truth ROC curve is drawn
    panel.plot_tabs.setCurrentIndex(2)
    bars = panel.disagreement_plot.grab().toImage()
    assert _has_colour(bars, "#1f6fb4")
