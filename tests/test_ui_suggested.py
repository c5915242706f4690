"""The app's suggested review order (the "suggested" sort key, Review ▸ Next suggested) is the
order ``pathview queue --strategy auto`` writes for the same folder and scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pytestqt.qtbot import QtBot
from support.cli import run_cli
from support.patches import make_folder
from support.ui import MakeWindow, state_of

from pathview.core import PatchRef
from pathview.model import load_model
from pathview.scoring import score_folder
from pathview.triage import PatchTable, SortKey, next_to_review, ordered_rows, suggested_rows
from pathview.triage.ordering import FilterSpec
from pathview.ui.selection import ALL_SUGGESTED_REVIEWED_TEXT, NO_SUGGESTION_TEXT


def table_of(p: list[float], reviews: dict[str, str]) -> PatchTable:
    table = PatchTable()
    ids = [f"p{i:02d}" for i in range(len(p))]
    table.extend([PatchRef(pid, f"{pid}.tif") for pid in ids])
    table.set_scores(ids, p)
    table.set_reviews(reviews)  # type: ignore[arg-type]
    return table


def test_the_suggested_rows_are_the_auto_queue_of_the_unreviewed_scored_patches() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 40).tolist()
    p[5] = math.nan  # not scored: never queued
    reviewed = {"p01": "agree", "p07": "disagree", "p30": "unsure"}
    table = table_of(p, reviewed)
    rows = suggested_rows(table)
    scored = [i for i in range(40) if not math.isnan(p[i])]
    expected = next_to_review(
        [table.ids[i] for i in scored],
        np.asarray(p)[scored],
        len(scored) - 3,
        "auto",
        reviewed=set(reviewed),
    )
    assert [table.ids[r] for r in rows] == expected
    assert len(rows) == 36 and 5 not in rows
    # As a sort key: the queue first, then the rest (reviewed, unscored) by name.
    order = ordered_rows(table, SortKey.SUGGESTED, FilterSpec(), suggested=rows)
    assert order[:36] == rows.tolist()
    assert [table.ids[r] for r in order[36:]] == ["p01", "p05", "p07", "p30"]


def test_the_queue_is_capped_and_empty_when_all_is_reviewed() -> None:
    table = table_of([0.1, 0.5, 0.9], {})
    assert len(suggested_rows(table, count=2)) == 2
    assert suggested_rows(table_of([0.2, 0.6], {"p00": "agree", "p01": "agree"})).size == 0
    # Without a queue the suggested sort has no values: name order.
    assert ordered_rows(table, SortKey.SUGGESTED, FilterSpec()) == [0, 1, 2]


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path) -> Path:
    """30 real Kaggle patches: the auto queue of 27 holds two random slots (10th, 20th)."""
    out = tmp_path / "patches"
    make_folder(out, data_dir / "kaggle", 30)
    return out


def grid_ids(window) -> list[str]:  # type: ignore[no-untyped-def]
    s = window.session
    return [s.table.ids[s.model.table_row(i)] for i in range(s.model.rowCount())]


@pytest.mark.slow
def test_the_apps_suggested_order_is_the_queue_commands(
    qtbot: QtBot,
    make_window: MakeWindow,
    folder: Path,
    tiny_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATHVIEW_SCORING", "thread")
    window = make_window(loader=None)
    s = window.session
    with qtbot.waitSignal(s.model_worker.model_loaded, timeout=20000):
        s.load_model(tiny_dir, "cpu")
    with qtbot.waitSignal(s.scoring_finished, timeout=60000) as finished:
        window.open_folder(folder)
    assert finished.args == ["done"]
    # Two reviews in the folder's store: the app and the command both skip them.
    for pid in sorted(s.table.ids)[:2]:
        assert s.select_patch(pid)
        qtbot.waitUntil(lambda: s.current_info is not None, timeout=10000)
        window.action_map["unsure"].trigger()
        assert state_of(window, pid) == "unsure"
    reviewed = set(sorted(s.table.ids)[:2])

    out = tmp_path / "ids.txt"
    code = run_cli(
        "queue", folder, "--count", 28, "--out", out, "--strategy", "auto",
        "--model", tiny_dir, "--device", "cpu",
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    cli = out.read_text().splitlines()
    assert len(cli) == 28 and not set(cli) & reviewed

    # The command defers near-duplicates by the network's embeddings: the app is given the
    # same ones (in the table's row order) and must then queue exactly the same ids.
    scored = score_folder(folder, load_model(tiny_dir, device="cpu"), features=True)
    assert scored.features is not None
    by_id = dict(zip(scored.ids, scored.features, strict=True))
    s.selection.suggestions.embeddings = lambda: np.stack([by_id[pid] for pid in s.table.ids])
    with qtbot.waitSignal(s.order_changed, timeout=10000):  # chosen off the GUI thread
        window.sort_combo.setCurrentIndex(window.sort_combo.findData(SortKey.SUGGESTED))
    assert s.sort_key is SortKey.SUGGESTED
    assert grid_ids(window)[:28] == cli
    assert set(grid_ids(window)[28:]) == reviewed  # reviewed patches go last
    assert s.current_id == cli[0]  # a new sort goes to the top

    # Review ▸ Next suggested (Q) walks the same queue, skipping what gets reviewed.
    window.action_map["unsure"].trigger()  # reviews cli[0]
    walked = []
    for _ in range(3):
        window.action_map["next_suggested"].trigger()
        walked.append(s.current_id)
    assert walked == cli[1:4]
    assert window.action_map["next_suggested"].shortcuts()[0].toString() == "Q"


@pytest.mark.slow
def test_next_suggested_says_why_when_there_is_nothing_to_suggest(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(loader=None)  # no model: nothing is scored
    s = window.session
    with qtbot.waitSignal(s.listing_finished, timeout=15000):
        window.open_folder(kaggle_folder)
    with qtbot.waitSignal(s.message, timeout=5000) as said:
        window.action_map["next_suggested"].trigger()
    assert said.args == [NO_SUGGESTION_TEXT]
    with qtbot.waitSignal(s.message, timeout=5000) as said:
        window.sort_combo.setCurrentIndex(window.sort_combo.findData(SortKey.SUGGESTED))
    assert said.args == [NO_SUGGESTION_TEXT]
    assert grid_ids(window) == sorted(s.table.ids)  # nothing queued: by name


@pytest.mark.slow
def test_next_suggested_stops_when_every_queued_patch_is_reviewed(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window()
    s = window.session
    with qtbot.waitSignal(s.scoring_finished, timeout=30000):
        window.open_folder(kaggle_folder)
    chosen: list[np.ndarray] = []
    s.selection.suggestions.request(chosen.append)
    qtbot.waitUntil(lambda: bool(chosen), timeout=10000)
    queued = [s.table.ids[r] for r in chosen[0]]
    assert len(queued) == 12  # 12 readable patches scored, none reviewed
    visited = []
    for _ in queued:
        before = s.current_id
        s.selection.next_suggested()
        qtbot.waitUntil(lambda b=before: s.current_id != b, timeout=10000)  # type: ignore[misc]
        qtbot.waitUntil(lambda: s.current_info is not None, timeout=10000)
        visited.append(s.current_id)
        window.action_map["unsure"].trigger()
    assert sorted(visited) == sorted(queued)  # each queued patch once, reviewed ones skipped
    with qtbot.waitSignal(s.message, timeout=5000) as said:
        s.selection.next_suggested()
    assert said.args == [ALL_SUGGESTED_REVIEWED_TEXT]
