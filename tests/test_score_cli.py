"""Headless scoring (pathview.scoring) and the ``pathview score`` command."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.cli import run_cli
from support.patches import kaggle_labels

from pathview.core import CancelToken
from pathview.io import FolderError
from pathview.model import Classifier
from pathview.scoring import score_folder, write_scores_csv


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path) -> Path:
    """12 real Kaggle patches with their labels, plus one odd-size TIFF and one PNG."""
    out = tmp_path / "patches"
    out.mkdir()
    src = data_dir / "kaggle"
    ids = sorted(p.stem for p in src.glob("*.tif"))[:12]
    for pid in ids:
        shutil.copy(src / f"{pid}.tif", out / f"{pid}.tif")
    labels = kaggle_labels(src)
    (out / "labels.csv").write_text("id,label\n" + "".join(f"{pid},{labels[pid]}\n" for pid in ids))
    shutil.copy(data_dir / "formats" / "normal_odd_100x80.tif", out / "odd.tif")
    shutil.copy(data_dir / "formats" / "tumour.png", out / "tumour.png")
    return out


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(path.read_text().splitlines()))


# ------------------------------------------------------------------------------ scoring


def test_score_folder_scores_every_patch_in_sorted_order(folder: Path, tiny: Classifier) -> None:
    calls: list[tuple[int, int]] = []
    result = score_folder(folder, tiny, batch_size=5, progress=lambda d, t: calls.append((d, t)))
    assert result.total == result.scored == 14
    assert result.relpaths == sorted(result.relpaths)
    assert result.p.shape == (14,) and ((result.p >= 0) & (result.p <= 1)).all()
    assert result.spread is None and not result.failed and not result.cancelled
    assert result.model_id == tiny.model_id
    assert calls[0] == (0, 14) and calls[-1] == (14, 14)
    # Same numbers as predicting the decoded patches directly.
    from pathview.io import read_patch

    direct = tiny.predict([read_patch(folder / r).pixels for r in result.relpaths])  # type: ignore[misc]
    np.testing.assert_allclose(result.p, direct.p, atol=1e-5)


def test_unreadable_files_are_listed_not_fatal(folder: Path, tiny: Classifier) -> None:
    (folder / "broken.tif").write_bytes(b"II*\x00 not really a tiff")
    (folder / "empty.png").write_bytes(b"")
    result = score_folder(folder, tiny, tta=True, batch_size=4)
    assert result.scored == 14 and result.total == 16
    assert sorted(r for r, _ in result.failed) == ["broken.tif", "empty.png"]
    assert result.spread is not None and result.spread.shape == (14,)


def test_cancel_stops_between_batches(folder: Path, tiny: Classifier) -> None:
    token = CancelToken()

    def progress(done: int, total: int) -> None:
        if done >= 4:
            token.cancel()

    result = score_folder(folder, tiny, batch_size=4, progress=progress, cancel=token)
    assert result.cancelled and 4 <= result.scored < 14


def test_recursive_and_missing_folder(folder: Path, tiny: Classifier, tmp_path: Path) -> None:
    sub = folder / "sub"
    sub.mkdir()
    shutil.copy(next(folder.glob("*.tif")), sub / "copy.tif")
    assert score_folder(folder, tiny).scored == 14
    assert "sub/copy.tif" in score_folder(folder, tiny, recursive=True).relpaths
    with pytest.raises(FolderError):
        score_folder(tmp_path / "missing", tiny)


def test_write_scores_csv_is_kaggle_format(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "scores.csv"
    assert write_scores_csv(out, ["a", "b"], np.array([0.25, 1.0])) == 2
    assert read_csv(out) == [["id", "label"], ["a", "0.250000"], ["b", "1.000000"]]
    with pytest.raises(ValueError):
        write_scores_csv(out, ["a"], [0.1, 0.2])
    assert read_csv(out)[1] == ["a", "0.250000"]  # a failed write leaves the old file


# ------------------------------------------------------------------------------ CLI


def test_cli_writes_csv_and_prints_auc(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scores.csv"
    code = run_cli(
        "score",
        folder,
        "--out",
        out,
        "--model",
        tiny_dir,
        "--labels",
        folder / "labels.csv",
        "--device",
        "cpu",
        "--batch-size",
        "8",
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = read_csv(out)
    assert rows[0] == ["id", "label"] and len(rows) == 15
    assert {r[0] for r in rows[1:]} >= {"odd", "tumour"}
    assert all(0.0 <= float(r[1]) <= 1.0 for r in rows[1:])
    assert "AUC" in captured.out and "accuracy" in captured.out and "12 labelled" in captured.out
    assert "ECE" in captured.out
    assert "scoring [" not in captured.err  # no progress bar when stderr is not a terminal


def test_cli_tta_and_partial_failure_exit_code(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "broken.tif").write_bytes(b"garbage")
    out = tmp_path / "tta.csv"
    code = run_cli("score", folder, "--out", out, "--model", tiny_dir, "--tta")
    captured = capsys.readouterr()
    assert code == 3
    assert "unreadable: broken.tif" in captured.err
    assert len(read_csv(out)) == 15


@pytest.mark.parametrize("case", ["no-folder", "empty", "bad-model", "bad-labels", "all-bad"])
def test_cli_failures_exit_non_zero_and_write_nothing(
    case: str, folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    target, extra = folder, []
    if case == "no-folder":
        target = tmp_path / "missing"
    elif case == "empty":
        target = tmp_path / "empty"
        target.mkdir()
    elif case == "bad-model":
        (tiny_dir / "weights.pt").write_bytes(b"tampered")
    elif case == "bad-labels":
        extra = ["--labels", tmp_path / "nope.csv"]
    else:
        target = tmp_path / "bad"
        target.mkdir()
        (target / "x.tif").write_bytes(b"junk")
    code = run_cli("score", target, "--out", out, "--model", tiny_dir, *extra)
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines()[-1].startswith("pathview score:")
    assert not out.exists()
