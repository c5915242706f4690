"""Bulk review of the map selection in the real window (offscreen): one review per patch
with one batch id, patches already reviewed left alone, a confirmation with the count and a
sample, cancel recording nothing, one undo withdrawing the whole batch, and agree/disagree
refused where the model's call is hidden."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QPushButton, QToolButton
from pytestqt.qtbot import QtBot
from support.fakes import features_loader
from support.ui import MakeWindow, open_and_score

from pathview.core import Verdict
from pathview.store import ReviewInput
from pathview.triage.bulk import BulkPlan
from pathview.ui.bulk_review import Sample, confirm_bulk_dialog
from pathview.ui.main_window import MainWindow

pytestmark = pytest.mark.slow


class Answer:
    """Stands in for the confirmation dialog: records what it was shown, answers ``yes``."""

    def __init__(self, yes: bool = True) -> None:
        self.yes = yes
        self.plans: list[BulkPlan] = []
        self.samples: list[Sequence[Sample]] = []

    def __call__(self, _parent: object, plan: BulkPlan, samples: Sequence[Sample]) -> bool:
        self.plans.append(plan)
        self.samples.append(samples)
        return self.yes


def picked_window(
    qtbot: QtBot, make_window: MakeWindow, folder: Path, answer: Answer, half: bool = True
) -> tuple[MainWindow, set[str]]:
    """A scored window with its map shown and the left half of the points (or all) picked
    with a box; the ids picked."""
    window = make_window(loader=features_loader)
    open_and_score(qtbot, window, folder)
    window.bulk.confirm = answer
    s = window.session
    with qtbot.waitSignal(s.map.projection_changed, timeout=10000):
        window.action_map["toggle_map"].trigger()
    xy = s.map.projection.xy
    right = float(np.median(xy[:, 0])) if half else float(xy[:, 0].max()) + 1
    lo, hi = float(xy[:, 1].min()) - 1, float(xy[:, 1].max()) + 1
    window.insight_parts.map_panel.view_box.box_drawn.emit(float(xy[:, 0].min()) - 1, lo, right, hi)
    picked = {s.table.ids[r] for r in s.map.picked_rows().tolist()}
    assert picked and s.selection.subset is not None
    return window, picked


def test_bulk_actions_work_only_on_a_map_selection(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(loader=features_loader)
    open_and_score(qtbot, window, kaggle_folder)
    assert not window.action_map["bulk_tumour"].isEnabled()
    button = window.insight_parts.map_panel.findChild(QToolButton)
    assert button is not None and button.text() == "Review selection"
    assert not button.isEnabled()
    window.bulk.confirm = Answer()
    assert window.bulk.run("tumour") == 0  # nothing picked: nothing asked, nothing recorded
    assert window.bulk.confirm.plans == []
    assert window.session.store is not None and window.session.store.events() == []


def test_a_bulk_label_records_one_review_per_patch_and_undoes_as_one_step(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    answer = Answer()
    window, picked = picked_window(qtbot, make_window, kaggle_folder, answer)
    s = window.session
    store = s.store
    assert store is not None
    # One patch outside the pick reviewed before, to see that undo stops at the batch.
    outside = next(pid for pid in s.table.ids if pid not in picked)  # hidden by the pick
    store.record(ReviewInput(outside, None, "Dr Test", label=0))
    assert window.action_map["bulk_tumour"].isEnabled()
    window.filter_bar.sort_combo.setFocus()
    window.action_map["bulk_tumour"].trigger()
    assert window.focusWidget() is window.grid  # the keys are the grid's again
    (plan,) = answer.plans
    assert len(plan) == len(picked) and plan.picked == len(picked)
    assert f"on {len(picked)} of the {len(picked)} selected" in plan.summary()
    assert [x.patch_id for x in answer.samples[0]] == [s.table.ids[r] for r in plan.sample()]
    assert all(x.image is not None and x.image.width() == 96 for x in answer.samples[0])
    batch = [e for e in store.events() if e.batch_id]
    assert sorted(e.patch_id for e in batch) == sorted(picked)
    assert len({e.batch_id for e in batch}) == 1
    assert all(e.label == 1 and e.reviewer == "Dr Test" for e in batch)
    assert all(e.pixel_sha1 and e.view == "single" and e.p_tumour is not None for e in batch)
    states = store.current_states()
    assert {pid for pid, st in states.items() if st.label == 1} == picked
    # The grid's projection of the store: every picked tile shows the label.
    for pid in picked:
        row = s.table.row_of(pid)
        assert row is not None and s.table.review_label[row] == 1
    s.select_patch(sorted(picked)[0])
    assert "bulk review of a map selection" in window.review_panel.fact("review")
    # One undo withdraws the whole batch; the single review before it stays.
    window.action_map["undo"].trigger()
    assert set(store.current_states()) == {outside}
    assert window.action_map["clear_selection"].isEnabled()
    window.action_map["clear_selection"].trigger()  # Selection > Clear the selection
    assert s.selection.subset is None and not window.action_map["bulk_tumour"].isEnabled()
    for pid in picked:
        row = s.table.row_of(pid)
        assert row is not None and s.table.review_label[row] == -1
    assert "Undid the bulk review" in window.statusBar().currentMessage()


def test_patches_already_reviewed_are_left_and_cancel_records_nothing(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    answer = Answer(yes=False)
    window, picked = picked_window(qtbot, make_window, kaggle_folder, answer)
    s = window.session
    store = s.store
    assert store is not None
    mine = sorted(picked)[0]
    s.select_patch(mine)
    assert s.record(Verdict.AGREE)
    assert window.bulk.run("normal") == 0  # cancelled
    assert len(store.events()) == 1
    (plan,) = answer.plans
    assert len(plan) == len(picked) - 1
    assert "1 you have reviewed already" in plan.summary()
    answer.yes = True
    assert window.bulk.run("normal") == len(picked) - 1
    assert store.current_state(mine).verdict is Verdict.AGREE  # the closer look stays
    assert "Recorded “label normal” on" in window.statusBar().currentMessage()


def test_agree_in_bulk_is_refused_where_the_call_is_hidden(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    answer = Answer()
    window, picked = picked_window(qtbot, make_window, kaggle_folder, answer)
    s = window.session
    assert window.bulk.run("agree") == len(picked)
    store = s.store
    assert store is not None
    for e in store.events():
        assert e.verdict is Verdict.AGREE
        assert e.label == (1 if e.p_tumour is not None and e.p_tumour >= 0.5 else 0)
    window.action_map["undo"].trigger()
    window.action_map["blind_p"].trigger()  # blind: no call to agree with
    assert window.bulk.run("disagree") == 0
    assert "Blind mode" in window.statusBar().currentMessage()
    assert len(answer.plans) == 1  # refused before asking
    assert window.bulk.run("tumour") == len(picked)  # labels need no call


def test_the_confirmation_shows_the_count_and_the_sample(qtbot: QtBot) -> None:
    from pathview.triage.bulk import BULK_ACTIONS, plan_bulk

    plan = plan_bulk(
        np.arange(30), BULK_ACTIONS["tumour"], np.full(30, 0.2), np.zeros(30, bool), ""
    )
    samples = [Sample(f"p{i}", None) for i in plan.sample().tolist()]
    seen: dict[str, object] = {}

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QDialog)
        seen["texts"] = [w.text() for w in dialog.findChildren(QLabel)]
        seen["buttons"] = [b.text() for b in dialog.findChildren(QPushButton)]
        dialog.reject()

    QTimer.singleShot(200, answer)
    assert confirm_bulk_dialog(None, plan, samples) is False  # type: ignore[arg-type]
    texts = seen["texts"]
    assert isinstance(texts, list)
    assert any("label tumour" in t and "30 of the 30" in t for t in texts)
    assert any("A sample of 12 of the 30" in t for t in texts)
    assert "Record 30 reviews" in seen["buttons"]  # type: ignore[operator]
