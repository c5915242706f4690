"""Labels, not only verdicts, on screen (issue 18 item 2): tiles and the panel show the label
each review fixed when it was made, with the verdict and the P (and view) it was given against,
so scoring again with TTA never flips what a badge says; label keys T / N record a label with
or without a model; with no model A/D stay disabled and say why; label-key reviews export."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot
from support.fakes import FakeClassifier, Prediction
from support.ui import MakeWindow, export, open_and_score

from pathview.core import Verdict
from pathview.io import FileStatus
from pathview.store import PatchState
from pathview.triage import ReviewCode
from pathview.ui.delegate import MARGIN, THUMB, PatchDelegate
from pathview.ui.main_window import MainWindow
from pathview.ui.models import ReviewLabelRole
from pathview.ui.palette import LABEL_COLOURS
from pathview.ui.reviews import NO_MODEL_VERDICT_TEXT

NO = Qt.KeyboardModifier.NoModifier


class FlippingClassifier(FakeClassifier):
    """Its TTA score is the other side of 0.5 from its single-view score: every call flips
    (the 3-in-40 of the issue, made certain)."""

    def predict(self, pixels: np.ndarray, tta: bool = False, batch_size: int = 256) -> Prediction:
        plain = super().predict(pixels)
        if not tta:
            return plain
        return Prediction(1.0 - plain.p, np.full(len(plain.p), 0.02))


def flipping_loader(_model_dir: Path | None, _device: str) -> FlippingClassifier:
    return FlippingClassifier()


def state(window: MainWindow, patch_id: str | None) -> PatchState:
    store = window.session.store
    assert store is not None and patch_id is not None
    found = store.current_state(patch_id)
    assert found is not None, f"{patch_id} is not reviewed"
    return found


def tile_label(window: MainWindow, patch_id: str) -> object:
    s = window.session
    row = s.table.row_of(patch_id)
    assert row is not None
    position = s.model.position_of(row)
    assert position is not None
    return s.model.data(s.model.index(position), ReviewLabelRole)


def open_listed(qtbot: QtBot, window: MainWindow, folder: Path) -> None:
    with qtbot.waitSignal(window.session.listing_finished, timeout=10000):
        window.open_folder(folder)
    window.session.select_position(0)
    qtbot.waitUntil(lambda: window.session.current_info is not None, timeout=15000)


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_the_label_stays_fixed_when_scoring_again_with_tta(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(loader=flipping_loader)
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    given: dict[str, tuple[int, float]] = {}
    for position in range(s.model.rowCount()):
        s.select_position(position)
        row = s.current_row
        assert row is not None and s.current_id is not None
        if s.table.status[row] == FileStatus.UNREADABLE:
            continue
        p = s.table.p[row]
        window.disagree()  # label = the opposite of the single-view call
        given[s.current_id] = (0 if p >= 0.5 else 1, p)
    assert len(given) >= 10
    for patch_id, (label, p) in given.items():
        st = state(window, patch_id)
        assert (st.label, st.p_tumour, st.view) == (label, pytest.approx(p), "single")
        assert tile_label(window, patch_id) == label
    with qtbot.waitSignal(s.scoring_finished, timeout=30000):
        window.score_tta()
    flipped = [
        pid
        for pid, (_label, p) in given.items()
        if (s.table.p[s.table.row_of(pid) or 0] >= 0.5) != (p >= 0.5)
    ]
    assert len(flipped) >= 10  # P 0.5 exactly would not flip
    for patch_id, (label, p) in given.items():
        assert tile_label(window, patch_id) == label  # the badge never follows the new P
        assert s.select_patch(patch_id)
        facts = s.current_facts()
        assert facts.label == ("tumour" if label else "normal")
        assert f"disagreed at P {p:.3f} (single view)" in facts.review
        # The model's call is named as such, never where the label would be read.
        assert f"the model's call: {'tumour' if p >= 0.5 else 'normal'}" in facts.review
        assert "Dr Test" in facts.review
    s.select_patch(flipped[0])
    shown = window.review_panel.fact("label")
    assert shown == ("tumour" if given[flipped[0]][0] else "normal")
    # A verdict given now is against the TTA P, and says so.
    window.agree()
    st = state(window, flipped[0])
    assert st.view == "tta" and st.p_tumour == pytest.approx(s.table.p[s.current_row or 0])
    assert "(TTA)" in s.current_facts().review


@pytest.mark.slow
def test_label_keys_work_without_a_model_and_export_rows(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path, tmp_path: Path
) -> None:
    window = make_window(loader=None)
    open_listed(qtbot, window, kaggle_folder)
    s = window.session
    assert not window.action_map["agree"].isEnabled()
    assert window.action_map["label_tumour"].isEnabled()
    window.grid.setFocus()
    qtbot.waitUntil(window.grid.hasFocus, timeout=2000)
    first = s.current_id
    qtbot.keyClick(window.grid, Qt.Key.Key_A, NO)  # refused: says why
    assert "agree/disagree need the model's call" in window.statusBar().currentMessage()
    qtbot.keyClick(window.grid, Qt.Key.Key_T, NO)
    st = state(window, first)
    assert (st.label, st.verdict, st.given_as, st.p_tumour, st.view) == (
        1,
        None,
        "label",
        None,
        "",
    )
    assert s.table.review[s.current_row or 0] == ReviewCode.LABELLED
    assert tile_label(window, first or "") == 1
    assert window.review_panel.fact("label") == "tumour"
    assert window.review_panel.fact("review") == "label key, no P shown · Dr Test"
    s.select_position(1)
    second = s.current_id
    qtbot.keyClick(window.grid, Qt.Key.Key_N, NO)
    assert state(window, second).label == 0
    s.select_position(2)
    qtbot.keyClick(window.grid, Qt.Key.Key_U, NO)  # unsure: a review without a label
    assert "labelled" in window.status.counts_label.text()
    out = tmp_path / "labels.csv"
    assert export(qtbot, window, "labels", out) == 2
    assert rows_of(out) == sorted(
        [{"id": first, "label": "1"}, {"id": second, "label": "0"}], key=lambda r: str(r["id"])
    )
    window.agree()  # a direct call is refused too, with the reason
    assert window.statusBar().currentMessage() == NO_MODEL_VERDICT_TEXT


@pytest.mark.slow
def test_label_keys_with_a_model_record_the_p_shown_and_the_verdict_they_amount_to(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    open_and_score(qtbot, window, kaggle_folder)
    s = window.session
    s.select_position(0)
    row = s.current_row
    assert row is not None
    p = s.table.p[row]
    window.label_tumour()
    st = state(window, s.current_id)
    assert st.label == 1 and st.given_as == "label" and st.view == "single"
    assert st.p_tumour == pytest.approx(p)
    assert st.verdict is (Verdict.AGREE if p >= 0.5 else Verdict.DISAGREE)
    assert s.current_facts().review.startswith("label key (")


def test_a_tile_shows_the_label_its_review_fixed(qtbot: QtBot) -> None:
    delegate = PatchDelegate()
    image = QImage(THUMB, THUMB, QImage.Format.Format_RGB888)
    image.fill(QColor(255, 255, 255))
    for label in (1, 0, None):
        tile = delegate._render(
            image, 0.2, (ReviewCode.DISAGREE, label), None, FileStatus.OK, 1.0
        ).toImage()
        chip = QRect(MARGIN, MARGIN, THUMB, THUMB)
        # Inside the chip, bottom right of the thumbnail, just right of its left edge.
        colours = {
            tile.pixelColor(x, chip.bottom() - 8).name()
            for x in range(chip.right() - 30, chip.right() - 2)
        }
        assert LABEL_COLOURS[label].name() in colours, (label, colours)
    plain = delegate._render(
        image, 0.2, (ReviewCode.UNREVIEWED, None), None, FileStatus.OK, 1.0
    ).toImage()
    assert plain.pixelColor(MARGIN + THUMB - 10, MARGIN + THUMB - 8).name() == "#ffffff"
