"""Labels and log CSV export, consensus rules, import round trips, and the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pathview.cli import main
from pathview.core import Verdict
from pathview.store import (
    LOG_COLUMNS,
    ConsensusRule,
    ReviewInput,
    ReviewStore,
    StoreError,
    import_reviews,
    open_store_for_folder,
    write_labels_csv,
    write_log_csv,
)


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def _fill(store: ReviewStore) -> None:
    store.record(ReviewInput("p1", Verdict.AGREE, "ann", p_tumour=0.9))  # -> 1
    store.record(ReviewInput("p2", Verdict.DISAGREE, "ann", p_tumour=0.9))  # -> 0
    store.record(ReviewInput("p3", Verdict.UNSURE, "ann", p_tumour=0.2))  # left out
    store.record(ReviewInput("p4", Verdict.DISAGREE, "ann", p_tumour=0.2))  # -> 1, then undone
    store.undo()


def test_labels_csv_agree_keeps_disagree_flips_unsure_left_out(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        _fill(store)
        assert write_labels_csv(store, tmp_path / "labels.csv") == 2
    assert _rows(tmp_path / "labels.csv") == [["id", "label"], ["p1", "1"], ["p2", "0"]]


def test_log_csv_has_fixed_columns_and_every_event(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        _fill(store)
        assert write_log_csv(store, tmp_path / "log.csv") == 5
    rows = _rows(tmp_path / "log.csv")
    assert tuple(rows[0]) == LOG_COLUMNS
    assert rows[0][:4] == ["event_id", "event_uid", "kind", "target_uid"]
    assert [r[2] for r in rows[1:]] == ["review"] * 4 + ["retract"]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (ConsensusRule.LATEST, {"tie": 0, "two_one": 0, "all": 1}),
        (ConsensusRule.MAJORITY, {"two_one": 1, "all": 1}),
        (ConsensusRule.UNANIMOUS, {"all": 1}),
    ],
)
def test_consensus_rules(tmp_path: Path, rule: ConsensusRule, expected: dict[str, int]) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        # tie: ann says tumour, bob (later) says normal
        store.record(ReviewInput("tie", Verdict.AGREE, "ann", p_tumour=0.9))
        store.record(ReviewInput("tie", Verdict.DISAGREE, "bob", p_tumour=0.9))
        # two_one: ann and bob tumour, cat (latest) normal
        store.record(ReviewInput("two_one", Verdict.AGREE, "ann", p_tumour=0.9))
        store.record(ReviewInput("two_one", Verdict.AGREE, "bob", p_tumour=0.9))
        store.record(ReviewInput("two_one", Verdict.DISAGREE, "cat", p_tumour=0.9))
        # all: everyone tumour; an unsure does not vote
        store.record(ReviewInput("all", Verdict.AGREE, "ann", p_tumour=0.9))
        store.record(ReviewInput("all", Verdict.DISAGREE, "bob", p_tumour=0.1))
        store.record(ReviewInput("all", Verdict.UNSURE, "cat", p_tumour=0.9))
        store.record(ReviewInput("all", Verdict.AGREE, "ann", p_tumour=0.9))
        write_labels_csv(store, tmp_path / "out.csv", rule)
        got = {r[0]: int(r[1]) for r in _rows(tmp_path / "out.csv")[1:]}
    assert got == expected


def test_reviewer_filter(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        store.record(ReviewInput("a", Verdict.AGREE, "ann", p_tumour=0.9))
        store.record(ReviewInput("a", Verdict.DISAGREE, "bob", p_tumour=0.9))
        write_labels_csv(store, tmp_path / "ann.csv", reviewer="ann")
    assert _rows(tmp_path / "ann.csv")[1:] == [["a", "1"]]


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "labels.csv"
    out.write_text("old content\n")
    with ReviewStore(tmp_path / "r.sqlite") as store:
        store.record(ReviewInput("a", Verdict.AGREE, "ann", p_tumour=0.9))

        def boom(*args: object, **kwargs: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr("pathview.store.export._cell", boom)
        with pytest.raises(OSError, match="disk full"):
            write_log_csv(store, out)
    assert out.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_import_store_and_log_round_trip_is_idempotent(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "ann.sqlite") as ann:
        _fill(ann)
        write_log_csv(ann, tmp_path / "ann_log.csv")
        ann_events = ann.events()
    with ReviewStore(tmp_path / "bob.sqlite") as bob:
        bob.record(ReviewInput("p9", Verdict.AGREE, "bob", p_tumour=0.3))
        first = import_reviews(bob, tmp_path / "ann.sqlite")
        assert (first.read, first.added) == (5, 5)
        again = import_reviews(bob, tmp_path / "ann.sqlite")
        assert again.added == 0
        from_log = import_reviews(bob, tmp_path / "ann_log.csv")
        assert (from_log.read, from_log.added) == (5, 0)
        merged = bob.events()
        assert len(merged) == 6
        assert {e.event_uid for e in ann_events} <= {e.event_uid for e in merged}
        assert all(e.origin.startswith("store:") for e in merged if e.reviewer == "ann")
        assert set(bob.current_states()) == {"p1", "p2", "p3", "p9"}  # ann's undo came along
        # Undo never retracts a colleague's imported review.
        assert bob.undo() is not None
        assert bob.undo() is None
    with ReviewStore(tmp_path / "cat.sqlite") as cat:
        assert import_reviews(cat, tmp_path / "ann_log.csv").added == 5
        write_log_csv(cat, tmp_path / "cat_log.csv")
    ann_rows = _rows(tmp_path / "ann_log.csv")
    cat_rows = _rows(tmp_path / "cat_log.csv")
    # Same events, same content, apart from where they came from.
    origin = LOG_COLUMNS.index("origin")
    assert [r[1:origin] for r in ann_rows] == [r[1:origin] for r in cat_rows]


def test_import_refuses_bad_logs_whole(tmp_path: Path) -> None:
    log = tmp_path / "bad.csv"
    log.write_text(
        "event_uid,kind,patch_id,reviewer,created_utc,verdict,label\n"
        "u1,review,a,ann,2025-01-01T00:00:00Z,agree,1\n"
        "u2,review,b,ann,2025-01-01T00:00:00Z,maybe,1\n"
    )
    with ReviewStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(StoreError, match="line 3"):
            import_reviews(store, log)
        assert store.events() == []
        (tmp_path / "x.csv").write_text("a,b\n1,2\n")
        with pytest.raises(StoreError, match="not a pathview review log"):
            import_reviews(store, tmp_path / "x.csv")
        with pytest.raises(StoreError, match="into itself"):
            import_reviews(store, store.path)


def test_cli_export_on_a_folder_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "patches"
    folder.mkdir()
    with open_store_for_folder(folder) as store:
        _fill(store)
    out, log = tmp_path / "o" / "labels.csv", tmp_path / "o" / "log.csv"
    assert main(["export", str(folder), "--labels", str(out), "--log", str(log)]) == 0
    assert _rows(out)[1:] == [["p1", "1"], ["p2", "0"]]
    assert len(_rows(log)) == 6
    assert "wrote 2 reviewed labels" in capsys.readouterr().out
    assert main(["export", str(folder / ".pathview" / "reviews.sqlite"), "--labels", str(out)]) == 0


def test_cli_export_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path), "--labels", str(tmp_path / "o.csv")]) == 1
    assert "no review store" in capsys.readouterr().err
    assert main(["export", str(tmp_path)]) == 2
    assert not (tmp_path / ".pathview").exists()  # exporting never creates a store


def test_cli_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ReviewStore(tmp_path / "ann.sqlite") as ann:
        _fill(ann)
    folder = tmp_path / "patches"
    folder.mkdir()
    assert main(["import", str(tmp_path / "ann.sqlite"), "--into", str(folder)]) == 0
    assert main(["import", str(tmp_path / "ann.sqlite"), "--into", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "5 events read, 5 new" in out and "5 events read, 0 new" in out


def test_adjudication_queue_and_final_verdict_flow_into_export(tmp_path: Path) -> None:
    from pathview.store import ADJUDICATOR, adjudication_queue

    with ReviewStore(tmp_path / "r.sqlite") as store:
        store.record(ReviewInput("x", Verdict.AGREE, "ann", p_tumour=0.9))  # ann: 1
        store.record(ReviewInput("x", Verdict.DISAGREE, "bob", p_tumour=0.9))  # bob: 0
        store.record(ReviewInput("y", Verdict.AGREE, "ann", p_tumour=0.9))
        store.record(ReviewInput("y", Verdict.AGREE, "bob", p_tumour=0.9))
        assert adjudication_queue(store) == ["x"]
        write_labels_csv(store, tmp_path / "before.csv", ConsensusRule.MAJORITY)
        assert _rows(tmp_path / "before.csv")[1:] == [["y", "1"]]  # x is a tie
        store.record(ReviewInput("x", Verdict.AGREE, "cat", p_tumour=0.9, role=ADJUDICATOR))
        assert adjudication_queue(store) == []
        for rule in ConsensusRule:
            write_labels_csv(store, tmp_path / "after.csv", rule)
            assert _rows(tmp_path / "after.csv")[1:] == [["x", "1"], ["y", "1"]]
        # The adjudication survives a log round trip into another store.
        write_log_csv(store, tmp_path / "log.csv")
    with ReviewStore(tmp_path / "other.sqlite") as other:
        import_reviews(other, tmp_path / "log.csv")
        assert other.adjudications()["x"].reviewer == "cat"
        assert adjudication_queue(other) == []
