"""A retrained model's verdict in the Model menu and the status bar; "worse" is never shown as an
improvement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from support.models import make_tiny_model
from support.ui import MakeWindow

from pathview.model.metadata import VerdictRecord
from pathview.ui.model_verdict import format_verdict

VERDICTS = {
    "better": {"delta": 0.0031, "ci95": [0.0012, 0.0049]},
    "no measurable change": {"delta": 0.0004, "ci95": [-0.001, 0.002]},
    "worse": {"delta": -0.0030, "ci95": [-0.0052, -0.0011]},
}


def record(result: str) -> VerdictRecord:
    return VerdictRecord(
        result=result,
        metric="auc_tta",
        parent=0.9836,
        new=0.9836 + VERDICTS[result]["delta"],  # type: ignore[operator]
        n=2000,
        **VERDICTS[result],  # type: ignore[arg-type]
    )


def test_each_verdict_reads_as_what_it_is() -> None:
    better, same, worse = (format_verdict(record(r)) for r in VERDICTS)
    assert better.menu == (
        "Retrained: better than its parent (AUC, 8-view TTA +0.0031, 95% CI +0.0012..+0.0049)"
    )
    assert same.menu == (
        "Retrained: no measurable change (AUC, 8-view TTA +0.0004, 95% CI -0.0010..+0.0020)"
        " — not shown to be better"
    )
    assert worse.menu.startswith("Retrained: WORSE than its parent (AUC, 8-view TTA -0.0030")
    assert "not an improvement" in worse.menu and worse.worse
    assert not better.worse and not same.worse
    assert "2,000 validation patches" in worse.detail
    assert "parent 0.9836, this model 0.9806" in worse.detail
    for text in (same, worse):
        assert "better" not in text.status and "improve" not in text.status


def test_a_verdict_without_figures_still_says_the_result() -> None:
    text = format_verdict(VerdictRecord(result="worse"))
    assert text.menu == "Retrained: WORSE than its parent (AUC) — not an improvement"
    assert text.detail == text.menu


def retrained_model(directory: Path, result: str | None) -> Path:
    """A tiny model directory whose metadata carries ``result`` as its retraining verdict."""
    make_tiny_model(directory)
    if result is not None:
        meta_path = directory / "model.json"
        meta = json.loads(meta_path.read_text())
        meta["verdict"] = {"result": result, "metric": "auc_tta", "n": 2000, **VERDICTS[result]}
        meta_path.write_text(json.dumps(meta))
    return directory


def load(qtbot: QtBot, make_window: MakeWindow, model_dir: Path):  # type: ignore[no-untyped-def]
    window = make_window(loader=None)
    with qtbot.waitSignal(window.session.model_changed, timeout=20000) as changed:
        window.session.load_model(model_dir, "cpu")
    qtbot.waitUntil(lambda: window.session.model_info is not None, timeout=20000)
    return window, changed


@pytest.mark.slow
@pytest.mark.parametrize("result", [*VERDICTS, None])
def test_the_model_menu_and_status_show_the_loaded_models_verdict(
    qtbot: QtBot,
    make_window: MakeWindow,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    result: str | None,
) -> None:
    monkeypatch.setenv("PATHVIEW_SCORING", "thread")  # no scoring child for a menu test
    window, _ = load(qtbot, make_window, retrained_model(tmp_path / "m", result))
    qtbot.waitUntil(lambda: window.session.model_status.info is not None, timeout=20000)
    entry = window.verdict_entry.action
    model_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Model")
    label = window.status.model_label
    banner = window.status.model_banner
    if result is None:
        assert entry not in model_menu.actions()  # no entry for a model without a verdict
        assert "retrained" not in label.text()
        assert banner.isHidden()
        return
    assert model_menu.actions()[0] is entry  # at the top of the Model menu
    assert model_menu.actions()[1].isSeparator()
    assert not entry.isEnabled()  # information, not a command
    assert entry.text() == "&" + format_verdict(record(result)).menu
    assert label.text().endswith(format_verdict(record(result)).status)
    if result == "worse":
        assert "WORSE" in label.text() and "7a1f1f" in label.styleSheet()
        assert banner.isVisible() and "worse than the model it was retrained from" in banner.text()
        assert "improvement" not in entry.text().replace("not an improvement", "")
    else:
        assert banner.isHidden() and label.styleSheet() == ""
