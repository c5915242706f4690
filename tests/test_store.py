"""The review store: round trip, undo, derived state, location, migrations."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from pathview.core import Verdict
from pathview.store import (
    SCHEMA_VERSION,
    ReviewInput,
    ReviewStore,
    SchemaError,
    StoreError,
    locate_store,
    open_store_for_folder,
    store_path_for_folder,
)
from pathview.store.reviews import fallback_store_path


def _review(pid: str, verdict: Verdict, reviewer: str = "ann", p: float = 0.8) -> ReviewInput:
    return ReviewInput(
        patch_id=pid,
        verdict=verdict,
        reviewer=reviewer,
        pixel_sha1="s" + pid,
        relpath=f"{pid}.tif",
        seconds_spent=2.5,
        model_id="m" * 64,
        p_tumour=p,
        explanation_method="gradcam",
        explanation_layer="stage2",
        centre_focus=0.42,
        note="n",
    )


def test_round_trip_records_everything(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        event = store.record(_review("a", Verdict.AGREE))
    with ReviewStore(tmp_path / "r.sqlite", create=False) as store:
        (stored,) = store.events()
    assert stored == event
    assert stored.kind == "review" and stored.verdict is Verdict.AGREE
    assert stored.label == 1  # agree with P=0.8 -> tumour
    assert (stored.pixel_sha1, stored.relpath, stored.reviewer) == ("sa", "a.tif", "ann")
    assert stored.seconds_spent == 2.5 and stored.p_tumour == 0.8
    assert stored.model_id == "m" * 64
    assert (stored.explanation_method, stored.explanation_layer) == ("gradcam", "stage2")
    assert stored.centre_focus == 0.42 and stored.note == "n"
    assert stored.created_utc.endswith("Z") and "T" in stored.created_utc


@pytest.mark.parametrize(
    ("verdict", "p", "label"),
    [
        (Verdict.AGREE, 0.9, 1),
        (Verdict.AGREE, 0.1, 0),
        (Verdict.DISAGREE, 0.9, 0),
        (Verdict.DISAGREE, 0.1, 1),
        (Verdict.AGREE, 0.5, 1),
        (Verdict.UNSURE, 0.9, None),
    ],
)
def test_implied_label(tmp_path: Path, verdict: Verdict, p: float, label: int | None) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        assert store.record(_review("a", verdict, p=p)).label == label


def test_invalid_reviews_are_refused(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(ValueError, match="reviewer"):
            store.record(_review("a", Verdict.AGREE, reviewer="  "))
        with pytest.raises(ValueError, match="outside"):
            store.record(_review("a", Verdict.AGREE, p=1.5))
        assert store.events() == []


def test_undo_appends_a_retraction_and_never_rewrites(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        first = store.record(_review("a", Verdict.AGREE))
        second = store.record(_review("a", Verdict.DISAGREE))
        assert store.current_states()["a"].verdict is Verdict.DISAGREE
        undo = store.undo()
        assert undo is not None and undo.kind == "retract" and undo.target_uid == second.event_uid
        assert store.current_states()["a"].verdict is Verdict.AGREE
        undo2 = store.undo()
        assert undo2 is not None and undo2.target_uid == first.event_uid
        assert store.current_states() == {}
        assert store.undo() is None
        kinds = [e.kind for e in store.events()]
        assert kinds == ["review", "review", "retract", "retract"]
        assert store.events()[0] == first  # history untouched


def test_undo_is_per_reviewer(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        store.record(_review("a", Verdict.AGREE, reviewer="ann"))
        store.record(_review("b", Verdict.AGREE, reviewer="bob"))
        undone = store.undo(reviewer="ann")
        assert undone is not None and undone.patch_id == "a" and undone.reviewer == "ann"
        assert set(store.current_states()) == {"b"}
        assert store.undo(reviewer="ann") is None


def test_current_state_per_reviewer_and_latest_overall(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        store.record(_review("a", Verdict.AGREE, reviewer="ann"))
        store.record(_review("a", Verdict.DISAGREE, reviewer="bob"))
        store.record(_review("b", Verdict.UNSURE, reviewer="ann"))
        assert store.current_states()["a"].reviewer == "bob"
        assert store.current_states(reviewer="ann")["a"].verdict is Verdict.AGREE
        assert set(store.reviewer_states()["a"]) == {"ann", "bob"}
        assert store.reviewers() == ["ann", "bob"]


def test_store_lives_in_the_folder(tmp_path: Path) -> None:
    store = open_store_for_folder(tmp_path)
    store.close()
    assert store.path == tmp_path / ".pathview" / "reviews.sqlite"
    assert locate_store(tmp_path) == store.path
    assert locate_store(store.path) == store.path


def test_unwritable_folder_falls_back_to_user_data_dir(tmp_path: Path) -> None:
    folder = tmp_path / "patches"
    folder.mkdir()
    (folder / ".pathview").write_text("a file where the store folder would go")
    path = store_path_for_folder(folder)
    assert path == fallback_store_path(folder)
    assert str(path).startswith(str(tmp_path.parent)) or "data" in str(path)
    with open_store_for_folder(folder) as store:
        store.record(_review("a", Verdict.AGREE))
    assert locate_store(folder) == path
    # A second folder with the same name elsewhere gets its own store.
    other = tmp_path / "elsewhere" / "patches"
    other.mkdir(parents=True)
    assert fallback_store_path(other) != path


def test_missing_store_and_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no review store"):
        locate_store(tmp_path)
    with pytest.raises(StoreError, match="no review store"):
        ReviewStore(tmp_path / "none.sqlite", create=False)
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a usable review store"):
        ReviewStore(bad)


def test_migrates_a_first_schema_store(data_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "old.sqlite"
    shutil.copy(data_dir / "stores" / "reviews_v1.sqlite", copy)
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    with ReviewStore(copy, create=False) as store:
        assert store.schema_version == SCHEMA_VERSION
        events = store.events()
        assert [e.event_uid for e in events] == ["e1", "e2", "e3", "e4", "e5"]
        assert events[1].note == "looks reactive"
        assert events[0].explanation_method == "" and events[0].centre_focus is None
        states = store.current_states()
        assert {k: v.verdict for k, v in states.items()} == {
            "0a2b": Verdict.AGREE,
            "0c3d": Verdict.AGREE,  # the disagree was undone, then re-reviewed
            "0e4f": Verdict.UNSURE,
        }
        new = store.record(_review("0e4f", Verdict.DISAGREE, reviewer="alice"))
        assert new.explanation_method == "gradcam"


def test_refuses_a_store_from_a_newer_pathview(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    ReviewStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaError, match="newer"):
        ReviewStore(path)


def test_wal_and_full_sync(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_migrates_a_second_schema_store(data_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "v2.sqlite"
    shutil.copy(data_dir / "stores" / "reviews_v2.sqlite", copy)
    with ReviewStore(copy, create=False) as store:
        assert store.schema_version == SCHEMA_VERSION
        events = store.events()
        assert [e.role for e in events] == ["reviewer"] * 3
        assert events[2].origin == "store:othersite" and events[2].explanation_method == "gradcam++"
        assert set(store.reviewer_states()["1c3d"]) == {"bob", "carol"}
        assert store.adjudications() == {}


def test_adjudication_is_kept_apart_from_reviews(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        store.record(_review("a", Verdict.AGREE, reviewer="ann"))
        final = store.record(
            ReviewInput("a", Verdict.DISAGREE, "ann", p_tumour=0.8, role="adjudicator")
        )
        assert final.role == "adjudicator"
        assert store.reviewer_states()["a"]["ann"].verdict is Verdict.AGREE
        assert store.adjudications()["a"].label == 0
        assert store.current_states()["a"].role == "adjudicator"
        with pytest.raises(ValueError, match="role"):
            store.record(ReviewInput("a", Verdict.AGREE, "ann", role="boss"))


def test_one_patchs_state_is_what_every_state_says(tmp_path: Path) -> None:
    from pathview.store import record_adjudication

    with ReviewStore(tmp_path / "r.sqlite") as store:
        for pid, verdicts in (("a", "ADU"), ("b", "DA"), ("c", "U")):
            for i, code in enumerate(verdicts):
                verdict = {"A": Verdict.AGREE, "D": Verdict.DISAGREE, "U": Verdict.UNSURE}[code]
                store.record(
                    ReviewInput(pid, verdict, "ann" if i % 2 == 0 else "bob", p_tumour=0.7)
                )
        store.undo("ann")  # c's only verdict
        store.undo("bob")  # b's second
        record_adjudication(store, "a", 0, "lead", p_tumour=0.7)
        for reviewer in (None, "ann", "bob", "lead"):
            every = store.current_states(reviewer)
            for pid in ("a", "b", "c", "missing"):
                assert store.current_state(pid, reviewer) == every.get(pid), (pid, reviewer)
        assert store.current_state("c") is None
