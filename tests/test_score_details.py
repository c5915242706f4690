"""``pathview score --details``: the per-patch CSV of P(tumour), quality flags and duplicate
groups, and the scoring loop's quality rows behind it."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.cli import run_cli

from pathview.core import PatchRef
from pathview.io import read_patch
from pathview.model import Classifier
from pathview.quality import FLAGS, THRESHOLDS
from pathview.scoring import details_columns, score_folder, score_patches, write_details_csv

#: What ``--help`` must list, in this order.
EXPECTED_COLUMNS = [
    "id",
    "p_tumour",
    "blank",
    "tissue_fraction",
    "dark",
    "brightness",
    "saturated",
    "saturation",
    "ink",
    "ink_fraction",
    "blurred",
    "sharpness",
    "exact_duplicate_group",
    "near_duplicate_group",
]


def _save(path: Path, rgb: np.ndarray, *params: int) -> None:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]), list(params))


@pytest.fixture
def planted(tmp_path: Path, data_dir: Path) -> tuple[Path, list[str]]:
    """16 distinct real patches, then copies of some of them: the same file under another
    name, a lossless PNG of the same pixels (named like a formula), a JPEG re-encoding, a
    flipped and a rotated PNG; and a blank slide."""
    out = tmp_path / "planted"
    out.mkdir()
    src = sorted((data_dir / "kaggle").glob("*.tif"))[:16]
    for f in src:
        shutil.copy(f, out / f.name)
    real = [f.stem for f in src]
    px = [read_patch(f).pixels for f in src]
    shutil.copy(src[0], out / "copy.tif")
    _save(out / "=same_pixels.png", px[5])  # type: ignore[arg-type]
    _save(out / "reencoded.jpg", px[1], cv2.IMWRITE_JPEG_QUALITY, 80)  # type: ignore[arg-type]
    _save(out / "flipped.png", px[2][:, ::-1])  # type: ignore[index]
    _save(out / "rotated.png", np.rot90(px[3]))  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    _save(out / "blank.png", np.clip(rng.normal(235, 2, (96, 96, 3)), 0, 255).astype(np.uint8))
    return out, real


def _rows(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = {r["id"]: r for r in reader}
        return list(reader.fieldnames or []), rows


def test_cli_details_flags_and_groups_planted_copies(
    planted: tuple[Path, list[str]],
    tmp_path: Path,
    tiny_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, real = planted
    out, details = tmp_path / "s.csv", tmp_path / "d.csv"
    model = tiny_dir
    assert run_cli("score", folder, "--out", out, "--details", details, "--model", model) == 0
    printed = capsys.readouterr().out
    assert "quality flags: 1 blank, 0 dark, 0 saturated, 0 ink, 1 blurred" in printed
    assert "4 patches in 2 exact-duplicate groups" in printed
    assert "10 patches in 5 near-duplicate groups" in printed
    assert f"wrote {details}" in printed and "tiny-test" in printed  # model provenance
    # --out stays the Kaggle format.
    assert out.read_text().splitlines()[0] == "id,label"
    columns, rows = _rows(details)
    assert columns == EXPECTED_COLUMNS == details_columns()
    assert len(rows) == 22 == len(out.read_text().splitlines()) - 1
    kaggle_p = {r[0]: r[1] for r in csv.reader(out.read_text().splitlines()[1:])}
    assert all(kaggle_p[pid] == row["p_tumour"] for pid, row in rows.items())
    # A formula-like id is neutralised in both files.
    assert "'=same_pixels" in rows and "'=same_pixels" in kaggle_p
    exact = {pid: r["exact_duplicate_group"] for pid, r in rows.items()}
    near = {pid: r["near_duplicate_group"] for pid, r in rows.items()}
    assert exact[real[0]] == exact["copy"] != ""
    assert exact[real[5]] == exact["'=same_pixels"] != "" != exact[real[0]]
    assert sum(1 for g in exact.values() if g) == 4
    for original, copy in [
        (real[0], "copy"),
        (real[5], "'=same_pixels"),
        (real[1], "reencoded"),
        (real[2], "flipped"),
        (real[3], "rotated"),
    ]:
        assert near[original] == near[copy] != "", copy
    assert exact["reencoded"] == exact["flipped"] == exact["rotated"] == ""
    # Distinct real patches are in no group (besides their planted copies).
    assert all(near[pid] == "" for pid in real[4:5] + real[6:])
    assert len({near[p] for p in (real[0], real[1], real[2], real[3], real[5])}) == 5
    blank = rows["blank"]
    assert blank["blank"] == "1" and float(blank["tissue_fraction"]) < 0.1
    assert blank["blurred"] == "1" and blank["near_duplicate_group"] == ""
    assert all(rows[pid][f] == "0" for pid in real for f in FLAGS)


def test_cli_details_with_tta_has_the_spread(
    planted: tuple[Path, list[str]], tmp_path: Path, tiny_dir: Path
) -> None:
    folder, _ = planted
    out, details = tmp_path / "s.csv", tmp_path / "d.csv"
    model = tiny_dir
    assert (
        run_cli("score", folder, "--out", out, "--details", details, "--model", model, "--tta") == 0
    )
    columns, rows = _rows(details)
    assert columns == details_columns(tta=True)
    assert columns[:3] == ["id", "p_tumour", "tta_spread"]
    assert all(float(r["tta_spread"]) >= 0 for r in rows.values())


def test_cli_without_details_writes_no_details(
    planted: tuple[Path, list[str]],
    tmp_path: Path,
    tiny_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, _ = planted
    model = tiny_dir
    assert run_cli("score", folder, "--out", tmp_path / "s.csv", "--model", model) == 0
    assert "quality flags" not in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["planted", "s.csv", "tiny"]


def test_help_lists_the_details_columns_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    from pathview.cli.score import DETAILS_HELP

    with pytest.raises(SystemExit):
        run_cli("score", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--details DETAILS.csv" in text
    listed = [c.strip().split(" ")[0] for c in DETAILS_HELP.split(" (flags")[0].split(",")]
    assert listed == details_columns(tta=True)
    assert " ".join(DETAILS_HELP.split()) in text
    for t in THRESHOLDS:
        assert f"{t.flag} {t.measure} {'<' if t.below else '>'} {t.value:g}" in DETAILS_HELP


def test_unwritable_details_or_scores_leave_neither_file(
    planted: tuple[Path, list[str]],
    tmp_path: Path,
    tiny_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, _ = planted
    model = tiny_dir
    out, details, taken = tmp_path / "s.csv", tmp_path / "d.csv", tmp_path / "a-folder"
    taken.mkdir()
    code = run_cli("score", folder, "--out", out, "--details", taken, "--model", model)
    assert code == 1 and f"cannot write {taken}" in capsys.readouterr().err
    assert not out.exists()
    code = run_cli("score", folder, "--out", taken, "--details", details, "--model", model)
    assert code == 1 and f"cannot write {taken}" in capsys.readouterr().err
    assert not details.exists()


# ------------------------------------------------------------------------ scoring loop


def test_loop_quality_rows_follow_the_scored_refs(
    planted: tuple[Path, list[str]], tiny: Classifier
) -> None:
    folder, _ = planted
    (folder / "broken.tif").write_bytes(b"II*\x00 not a tiff")
    clf = tiny
    names = sorted(p.name for p in folder.iterdir())
    refs = [PatchRef(Path(n).stem, n) for n in names]
    batches = list(score_patches(folder, refs, clf, batch_size=5, quality=True))
    assert sum(len(b.failed) for b in batches) == 1
    for b in batches:
        assert b.quality is not None and len(b.quality) == len(b.refs)
        for ref, sha1 in zip(b.refs, b.quality.sha1, strict=True):
            from pathview.io import pixel_sha1

            assert sha1 == pixel_sha1(read_patch(folder / ref.relpath).pixels)  # type: ignore[arg-type]
    assert all(b.quality is None for b in score_patches(folder, refs, clf, batch_size=5))
    result = score_folder(folder, clf, quality=True)
    assert result.quality is not None and len(result.quality) == result.scored == 22
    plain = score_folder(folder, clf)
    assert plain.quality is None
    np.testing.assert_array_equal(plain.p, result.p)


def test_write_details_csv_checks_lengths(tmp_path: Path) -> None:
    from pathview.quality import PatchQuality

    with pytest.raises(ValueError, match="2 ids"):
        write_details_csv(tmp_path / "d.csv", ["a", "b"], [0.1], PatchQuality.empty())
    assert not (tmp_path / "d.csv").exists()
