"""Labels CSV: Kaggle form, tolerated variations, problems reported by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathview.io import LabelsError, find_labels_csv, read_labels


def _write(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_kaggle_fixture_labels(data_dir: Path) -> None:
    table = read_labels(data_dir / "kaggle" / "labels.csv")
    assert len(table) == 240
    assert sorted(set(table.labels.values())) == [0, 1]
    assert sum(table.labels.values()) == 120
    assert table.problems == []


def test_no_header_and_tif_suffix_and_whitespace(tmp_path: Path) -> None:
    table = read_labels(_write(tmp_path, "aaa.tif,1\n bbb , 0 \n\nsub/ccc.TIF,1\n"))
    assert table.labels == {"aaa": 1, "bbb": 0, "ccc": 1}
    assert table.problems == []


def test_header_with_extra_columns_in_any_order(tmp_path: Path) -> None:
    table = read_labels(_write(tmp_path, "\ufeffsplit,label,id\ntrain,1,x1\nvalid,0,x2\n"))
    assert table.labels == {"x1": 1, "x2": 0}


def test_pcam_jpeg_style_with_split_column(data_dir: Path) -> None:
    table = read_labels(data_dir / "pcam-jpeg" / "labels.csv")
    assert len(table) == 24


def test_bad_rows_are_reported_by_line_number(tmp_path: Path) -> None:
    text = "id,label\na,1\nb,2\nc\n,1\nd,maybe\ne,0.0\nf,1.0\ng,0.5\n"
    table = read_labels(_write(tmp_path, text))
    assert table.labels == {"a": 1, "e": 0, "f": 1}
    assert [(p.line, p.reason) for p in table.problems] == [
        (3, "label is not 0 or 1"),
        (4, "too few columns"),
        (5, "empty id"),
        (6, "label is not 0 or 1"),
        (9, "label is not 0 or 1"),
    ]
    assert "line 3" in str(table.problems[0])


def test_conflicting_duplicates_are_dropped_and_reported(tmp_path: Path) -> None:
    table = read_labels(_write(tmp_path, "a,1\na,1\nb,0\nb,1\nb,0\n"))
    assert table.labels == {"a": 1}
    assert [p.line for p in table.problems] == [4, 5]


def test_unreadable_labels_file(tmp_path: Path) -> None:
    with pytest.raises(LabelsError, match="not found"):
        read_labels(tmp_path / "missing.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x00\x81")
    with pytest.raises(LabelsError):
        read_labels(tmp_path / "bin.csv")


def test_find_labels_csv_in_folder_then_parent(tmp_path: Path) -> None:
    train = tmp_path / "train"
    train.mkdir()
    assert find_labels_csv(train) is None
    _write(tmp_path, "id,label\n", "train_labels.csv")
    assert find_labels_csv(train) == tmp_path / "train_labels.csv"
    _write(train, "id,label\n", "labels.csv")
    assert find_labels_csv(train) == train / "labels.csv"
