"""Schema 4: the view and P shown, labels given with label keys, the ground-truth flag, notes
amended onto a review, batch ids; migration from a version-3 store; logs of every version."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from pathlib import Path

import pytest

from pathview.core import Verdict
from pathview.store import (
    LOG_COLUMNS,
    SCHEMA_VERSION,
    ReviewInput,
    ReviewStore,
    StoreError,
    import_reviews,
    write_labels_csv,
    write_log_csv,
)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_migrates_a_third_schema_store(data_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "v3.sqlite"
    shutil.copy(data_dir / "stores" / "reviews_v3.sqlite", copy)
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    conn.close()
    with ReviewStore(copy, create=False) as store:
        assert store.schema_version == SCHEMA_VERSION == 4
        events = store.events()
        assert [e.event_uid for e in events] == ["e1", "e2", "e3", "e4"]
        assert {(e.view, e.given_as, e.gt_flag, e.batch_id) for e in events} == {
            ("", "verdict", False, "")
        }
        assert events[1].note == "mitoses?" and events[1].label == 1
        assert store.adjudications()["2c3d"].reviewer == "cat"
        assert store.reviewer_states()["2c3d"]["ann"].label == 0
        new = store.record(
            ReviewInput("2a3b", Verdict.DISAGREE, "bob", p_tumour=0.4, view="tta", gt_flag=True)
        )
        assert (new.label, new.view, new.gt_flag) == (1, "tta", True)
        write_log_csv(store, tmp_path / "log.csv")
    rows = _rows(tmp_path / "log.csv")
    assert [r["view"] for r in rows] == ["", "", "", "", "tta"]
    assert [r["gt_flag"] for r in rows] == ["0"] * 4 + ["1"]


def test_the_new_columns_come_last_in_the_log() -> None:
    assert LOG_COLUMNS[-4:] == ("view", "given_as", "gt_flag", "batch_id")
    assert LOG_COLUMNS.index("role") == len(LOG_COLUMNS) - 5


def test_view_flag_note_and_batch_round_trip(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        event = store.record(
            ReviewInput(
                "a",
                Verdict.AGREE,
                "ann",
                p_tumour=0.3,
                view="single",
                gt_flag=True,
                note="folded tissue",
                batch_id="b-1",
            )
        )
    with ReviewStore(tmp_path / "r.sqlite", create=False) as store:
        (stored,) = store.events()
        state = store.current_state("a")
    assert stored == event
    assert (stored.view, stored.gt_flag, stored.batch_id, stored.note) == (
        "single",
        True,
        "b-1",
        "folded tissue",
    )
    assert state is not None and (state.label, state.p_tumour, state.view) == (0, 0.3, "single")
    assert state.gt_flag and state.note == "folded tissue"


def test_an_unknown_view_is_refused(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(ValueError, match="view"):
            store.record(ReviewInput("a", Verdict.AGREE, "ann", p_tumour=0.3, view="mean"))
        assert store.events() == []


@pytest.mark.parametrize(
    ("label", "p", "verdict"),
    [
        (1, None, None),  # no model: a label and no verdict
        (0, None, None),
        (1, 0.8, Verdict.AGREE),  # with a model: the verdict it amounts to
        (1, 0.2, Verdict.DISAGREE),
        (0, 0.2, Verdict.AGREE),
        (0, 0.8, Verdict.DISAGREE),
    ],
)
def test_a_label_key_records_the_label_given(
    tmp_path: Path, label: int, p: float | None, verdict: Verdict | None
) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        event = store.record(ReviewInput("a", None, "ann", p_tumour=p, label=label))
        assert (event.label, event.verdict, event.given_as) == (label, verdict, "label")
        state = store.current_state("a")
        assert state is not None and state.label == label and state.verdict is verdict
        assert write_labels_csv(store, tmp_path / "labels.csv") == 1
    assert _rows(tmp_path / "labels.csv") == [{"id": "a", "label": str(label)}]


def test_a_review_needs_a_verdict_or_a_label_that_agrees_with_it(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(ValueError, match="verdict or a label"):
            store.record(ReviewInput("a", None, "ann"))
        with pytest.raises(ValueError, match="contradicts"):
            store.record(ReviewInput("a", Verdict.AGREE, "ann", p_tumour=0.9, label=0))
        assert store.events() == []


def test_amend_keeps_the_review_and_undo_withdraws_the_amendment(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        assert store.amend("a", "ann", note="x") is None  # nothing to amend yet
        store.record(ReviewInput("a", Verdict.DISAGREE, "ann", p_tumour=0.7, view="tta"))
        store.record(ReviewInput("a", Verdict.AGREE, "bob", p_tumour=0.2))
        amended = store.amend("a", "ann", note="ink at the edge", gt_flag=True)
        assert amended is not None and amended.seconds_spent is None
        assert (amended.verdict, amended.label, amended.p_tumour, amended.view) == (
            Verdict.DISAGREE,
            0,
            0.7,
            "tta",
        )
        again = store.amend("a", "ann", gt_flag=False)
        assert again is not None and again.note == "ink at the edge" and not again.gt_flag
        ann = store.reviewer_states()["a"]["ann"]
        assert ann.note == "ink at the edge" and not ann.gt_flag
        store.undo("ann")
        assert store.reviewer_states()["a"]["ann"].gt_flag
        store.record(ReviewInput("b", None, "ann", label=1))
        label_only = store.amend("b", "ann", note="n")
        assert label_only is not None and label_only.given_as == "label"
        assert label_only.label == 1 and label_only.verdict is None


def test_a_log_round_trips_label_keys_flags_and_batches(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "a.sqlite") as store:
        store.record(ReviewInput("a", None, "ann", label=1, gt_flag=True, note="fold"))
        store.record(ReviewInput("b", None, "ann", label=0, p_tumour=0.9, view="tta"))
        store.record_batch(
            [ReviewInput(pid, Verdict.AGREE, "ann", p_tumour=0.9) for pid in ("c", "d")]
        )
        store.record(ReviewInput("e", Verdict.AGREE, "ann", p_tumour=0.9))
        store.undo("ann")  # e only: the batch before it stays
        write_log_csv(store, tmp_path / "log.csv")
        original = store.events()
    with ReviewStore(tmp_path / "b.sqlite") as other:
        result = import_reviews(other, tmp_path / "log.csv")
        assert result.added == len(original) == 6
        imported = other.events()
        assert write_labels_csv(other, tmp_path / "labels.csv") == 4
    for before, after in zip(original, imported, strict=True):
        assert (before.view, before.given_as, before.gt_flag, before.batch_id) == (
            after.view,
            after.given_as,
            after.gt_flag,
            after.batch_id,
        )
        assert (before.verdict, before.label, before.note) == (
            after.verdict,
            after.label,
            after.note,
        )
    batch = original[2].batch_id
    assert batch and original[3].batch_id == batch and original[4].batch_id == ""
    assert imported[-1].kind == "retract" and imported[-1].patch_id == "e"
    assert _rows(tmp_path / "labels.csv") == [
        {"id": "a", "label": "1"},
        {"id": "b", "label": "0"},
        {"id": "c", "label": "1"},
        {"id": "d", "label": "1"},
    ]


def test_a_log_from_schema_3_still_imports(tmp_path: Path) -> None:
    """A log exported before schema 4 (no view, given_as, gt_flag, batch_id columns)."""
    header = LOG_COLUMNS[: LOG_COLUMNS.index("role") + 1]
    log = tmp_path / "old.csv"
    values = {
        "event_id": "1",
        "event_uid": "u1",
        "kind": "review",
        "patch_id": "a",
        "verdict": "disagree",
        "label": "0",
        "reviewer": "ann",
        "created_utc": "2026-10-01T08:00:00.000Z",
        "p_tumour": "0.75",
        "role": "reviewer",
    }
    log.write_text(",".join(header) + "\n" + ",".join(values.get(c, "") for c in header) + "\n")
    with ReviewStore(tmp_path / "r.sqlite") as store:
        assert import_reviews(store, log).added == 1
        (event,) = store.events()
    assert (event.view, event.given_as, event.gt_flag, event.batch_id) == ("", "verdict", False, "")
    assert event.label == 0


@pytest.mark.parametrize(
    ("given_as", "verdict", "label", "p", "gt_flag", "view", "reason"),
    [
        ("label", "", "", "", "0", "", "without a label"),
        ("label", "agree", "1", "0.2", "0", "", "contradicts label"),
        ("verdict", "", "1", "", "0", "", "without a verdict"),
        ("guess", "agree", "1", "0.9", "0", "", "given_as"),
        ("verdict", "agree", "1", "0.9", "2", "", "gt_flag"),
        ("verdict", "agree", "1", "0.9", "0", "mean", "view"),
    ],
)
def test_bad_new_columns_refuse_the_log(
    tmp_path: Path,
    given_as: str,
    verdict: str,
    label: str,
    p: str,
    gt_flag: str,
    view: str,
    reason: str,
) -> None:
    log = tmp_path / "bad.csv"
    log.write_text(
        "event_uid,kind,patch_id,reviewer,created_utc,verdict,label,p_tumour,given_as,gt_flag,view\n"
        f"u1,review,a,ann,2026-01-01T00:00:00.000Z,{verdict},{label},{p},{given_as},{gt_flag},{view}\n"
    )
    with ReviewStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(StoreError, match=reason):
            import_reviews(store, log)
        assert store.events() == []


def test_a_bulk_review_is_one_event_per_patch_and_undoes_as_one_step(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        store.record(ReviewInput("before", None, "ann", label=0))
        events = store.record_batch(
            [ReviewInput(pid, None, "ann", label=1, p_tumour=0.3) for pid in ("a", "b", "c")]
        )
        assert [e.patch_id for e in events] == ["a", "b", "c"]
        assert len({e.batch_id for e in events}) == 1 and events[0].batch_id
        assert [e.label for e in events] == [1, 1, 1]
        assert [e.verdict for e in events] == [Verdict.DISAGREE] * 3  # P 0.3 called normal
        assert set(store.current_states()) == {"before", "a", "b", "c"}
        undone = store.undo_step("ann")
        assert sorted(e.patch_id for e in undone) == ["a", "b", "c"]
        assert all(e.kind == "retract" and e.batch_id == events[0].batch_id for e in undone)
        assert set(store.current_states()) == {"before"}
        assert [e.patch_id for e in store.undo_step("ann")] == ["before"]
        assert store.undo_step("ann") == []


def test_a_bulk_review_with_one_invalid_review_stores_nothing(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        reviews = [ReviewInput("a", None, "ann", label=1), ReviewInput("", None, "ann", label=1)]
        with pytest.raises(ValueError, match="patch id"):
            store.record_batch(reviews)
        assert store.events() == []
        assert store.record_batch([]) == []


def test_undo_of_a_batch_leaves_a_later_single_review_of_the_same_patch_for_later(
    tmp_path: Path,
) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        store.record_batch([ReviewInput(pid, None, "ann", label=1) for pid in ("a", "b")])
        store.record(ReviewInput("a", None, "ann", label=0))  # a second look at a
        assert [e.patch_id for e in store.undo_step("ann")] == ["a"]
        assert store.current_state("a", "ann").label == 1  # the batch's review again
        assert sorted(e.patch_id for e in store.undo_step("ann")) == ["a", "b"]
        assert store.current_states() == {}
