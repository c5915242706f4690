"""Malformed review logs are refused whole, naming the line; exports neutralise formula cells."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from pathview.core import Verdict
from pathview.store import (
    ReviewInput,
    ReviewStore,
    StoreError,
    import_reviews,
    write_labels_csv,
    write_log_csv,
)

HEADER = "event_uid,kind,patch_id,reviewer,created_utc,verdict,label,p_tumour,relpath\n"
GOOD = "u1,review,a,ann,2025-01-01T00:00:00.000Z,agree,1,0.9,a.tif\n"


def _import_fails(tmp_path: Path, data: bytes, *needles: str) -> None:
    log = tmp_path / "log.csv"
    log.write_bytes(data)
    with ReviewStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(StoreError) as info:
            import_reviews(store, log)
        assert store.events() == []
    message = str(info.value)
    assert "nothing imported" in message, message
    for needle in needles:
        assert needle in message, message


def test_a_non_utf8_byte_names_its_line(tmp_path: Path) -> None:
    bad = b"u2,review,b,J\xe9r\xf4me,2025-01-01T00:00:00.000Z,agree,1,0.9,b.tif\n"
    _import_fails(tmp_path, (HEADER + GOOD).encode() + bad, "line 3", "UTF-8")


def test_a_field_over_the_size_limit_names_its_line(tmp_path: Path) -> None:
    huge = "x" * (200 * 1024)
    row = f"u2,review,b,ann,2025-01-01T00:00:00.000Z,agree,1,0.9,{huge}\n"
    _import_fails(tmp_path, (HEADER + GOOD + row).encode(), "line 3", "too long")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("u2,review,b,a\x00nn,2025-01-01T00:00:00.000Z,agree,1,0.9,b.tif", "control character"),
        ("u2,review,b,ann,next tuesday,agree,1,0.9,b.tif", "timestamp"),
        ("u2,review,b,ann,2025-01-01T00:00:00.000Z,agree,0,0.9,b.tif", "contradicts"),
        ("u2,review,b,ann,2025-01-01T00:00:00.000Z,disagree,,0.9,b.tif", "contradicts"),
        ("u2,review,b,ann,2025-01-01T00:00:00.000Z,agree,1,0.9,/etc/b.tif", "absolute"),
        ("u2,review,b,ann,2025-01-01T00:00:00.000Z,agree,1,0.9,../../b.tif", ".."),
        ("u2,review,b,ann,2025-01-01T00:00:00.000Z,agree,1,1.5,b.tif", "outside [0, 1]"),
    ],
)
def test_a_bad_field_is_rejected_with_its_line(tmp_path: Path, row: str, reason: str) -> None:
    _import_fails(tmp_path, (HEADER + GOOD + row + "\n").encode(), "line 3", reason)


def test_several_bad_rows_are_all_counted(tmp_path: Path) -> None:
    rows = "".join(
        f"u{i},review,b,ann,someday,agree,1,0.9,b.tif\n" for i in range(2, 9)
    )  # lines 3..9
    _import_fails(tmp_path, (HEADER + GOOD + rows).encode(), "7 bad rows", "line 3", "line 7")


def test_a_crafted_store_with_a_climbing_relpath_is_refused(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "evil.sqlite") as evil:
        evil.record(ReviewInput("a", Verdict.AGREE, "ann", relpath="a.tif", p_tumour=0.9))
    conn = sqlite3.connect(tmp_path / "evil.sqlite")
    conn.execute("UPDATE events SET relpath = '../../../etc/passwd.tif'")
    conn.commit()
    conn.close()
    with ReviewStore(tmp_path / "mine.sqlite") as mine:
        with pytest.raises(StoreError, match=r"\.\."):
            import_reviews(mine, tmp_path / "evil.sqlite")
        assert mine.events() == []


def test_record_refuses_a_relpath_that_leaves_the_folder(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        for relpath in ("/etc/passwd", "../x.tif", "a/../../x.tif", "C:\\x.tif"):
            with pytest.raises(ValueError, match="refused"):
                store.record(ReviewInput("a", Verdict.AGREE, "ann", relpath=relpath, p_tumour=0.9))
        assert store.events() == []


# -- 11. formula injection -----------------------------------------------------------------
FORMULAS = ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx", "'quoted"]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_exports_neutralise_formula_cells_and_import_restores_them(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "ann.sqlite") as store:
        for i, text in enumerate(FORMULAS):
            store.record(
                ReviewInput(
                    f"{text}{i}" if i < 4 else f"p{i}",
                    Verdict.AGREE,
                    reviewer=text if text.isprintable() else "ann",
                    note=text,
                    p_tumour=0.9,
                    centre_focus=-0.5,
                )
            )
        write_log_csv(store, tmp_path / "log.csv")
        write_labels_csv(store, tmp_path / "labels.csv")
        original = [(e.event_uid, e.reviewer, e.note, e.patch_id) for e in store.events()]
    log = _rows(tmp_path / "log.csv")
    for row, text in zip(log, FORMULAS, strict=True):
        assert row["reviewer"] == ("'" + text if text.isprintable() else "ann")
        assert row["note"] == "'" + text
        assert row["centre_focus"] == "-0.5"  # numbers stay numbers
        assert row["p_tumour"] == "0.9"
    labels = _rows(tmp_path / "labels.csv")
    assert all(r["id"][0] not in "=+-@" for r in labels)
    assert {r["id"] for r in labels} >= {
        '\'=HYPERLINK("http://x")0',
        "'+1+21",
        "'-2+32",
        "'@SUM(A1)3",
    }
    with ReviewStore(tmp_path / "bob.sqlite") as bob:
        assert import_reviews(bob, tmp_path / "log.csv").added == len(FORMULAS)
        back = [(e.event_uid, e.reviewer, e.note, e.patch_id) for e in bob.events()]
    assert back == original


def test_scores_csv_neutralises_formula_ids(tmp_path: Path) -> None:
    from pathview.scoring import write_scores_csv

    write_scores_csv(tmp_path / "s.csv", ["=cmd|' /C calc'!A0", "ok"], [0.25, 0.5])
    rows = _rows(tmp_path / "s.csv")
    assert [r["id"] for r in rows] == ["'=cmd|' /C calc'!A0", "ok"]
    assert [r["label"] for r in rows] == ["0.250000", "0.500000"]
