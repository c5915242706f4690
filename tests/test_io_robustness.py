"""Hostile folders: non-UTF-8 names, symlink loops and dangling links, unreadable files, float
TIFFs in 0-255, decompression bombs, bad label rows; and retraining never reads outside
--images."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from support.cli import run_cli

from pathview.core.files import UnsafePathError, join_inside
from pathview.io import DecodeErrorKind, list_patches, pixel_sha1, read_patch
from pathview.io.decode import MAX_PIXELS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def good(data_dir: Path) -> Path:
    return sorted((data_dir / "kaggle").glob("*.tif"))[0]


def _folder_with(tmp_path: Path, data_dir: Path, n: int = 3) -> Path:
    folder = tmp_path / "patches"
    folder.mkdir()
    for src in sorted((data_dir / "kaggle").glob("*.tif"))[:n]:
        shutil.copy(src, folder / src.name)
    return folder


# -- 5. non-UTF-8 file names ---------------------------------------------------------------
def test_a_non_utf8_file_name_is_reported_and_the_rest_scored(
    tmp_path: Path, data_dir: Path, tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder_with(tmp_path, data_dir)
    good = sorted(folder.iterdir())[0]
    bad_name = os.fsencode(folder) + b"/caf\xe9-\xff.tif"
    with open(bad_name, "wb") as handle:
        handle.write(good.read_bytes())
    decoded = read_patch(os.fsdecode(bad_name))
    assert decoded.error is not None and decoded.error.kind is DecodeErrorKind.BAD_NAME
    out = tmp_path / "scores.csv"
    code = run_cli("score", folder, "--out", out, "--model", tiny_dir, "--device", "cpu")
    err = capsys.readouterr().err
    assert code == 3, err
    assert "caf\\xe9-\\xff.tif" in err and "not valid UTF-8" in err
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "id,label" and len(rows) == 4


# -- 10. symlink loops and dangling links ------------------------------------------------
def test_symlink_loops_and_dangling_links_are_listed_and_reported(
    tmp_path: Path, data_dir: Path, tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder_with(tmp_path, data_dir)
    (folder / "dangling.tif").symlink_to(folder / "nowhere.tif")
    (folder / "loop_a.tif").symlink_to(folder / "loop_b.tif")
    (folder / "loop_b.tif").symlink_to(folder / "loop_a.tif")
    names = {r.relpath for r in list_patches(folder)}
    assert {"dangling.tif", "loop_a.tif", "loop_b.tif"} <= names
    dangling = read_patch(folder / "dangling.tif")
    loop = read_patch(folder / "loop_a.tif")
    assert dangling.error is not None and dangling.error.kind is DecodeErrorKind.BROKEN_LINK
    assert "dangling" in dangling.error.detail
    assert loop.error is not None and loop.error.kind is DecodeErrorKind.BROKEN_LINK
    assert "loop" in loop.error.detail
    out = tmp_path / "scores.csv"
    assert run_cli("score", folder, "--out", out, "--model", tiny_dir, "--device", "cpu") == 3
    err = capsys.readouterr().err
    for name in ("dangling.tif", "loop_a.tif", "loop_b.tif"):
        assert f"unreadable: {name}: broken link" in err
    assert len(out.read_text().splitlines()) == 4


# -- 12a. an unreadable file is not "corrupt" -----------------------------------------------
def test_a_file_without_read_permission_is_unreadable_not_corrupt(
    tmp_path: Path, good: Path
) -> None:
    target = tmp_path / "locked.tif"
    shutil.copy(good, target)
    target.chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file modes cannot be enforced")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    code = (
        "import sys; from pathview.io import read_patch; d = read_patch(sys.argv[1]); "
        "print(d.error.kind.name, d.error.detail)"
    )
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", code, str(target)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    target.chmod(0o600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("UNREADABLE "), proc.stdout
    assert "permission denied" in proc.stdout.lower()


# -- 12b. float TIFFs ----------------------------------------------------------------------
def test_a_float_tiff_holding_0_to_255_is_taken_as_is(tmp_path: Path, good: Path) -> None:
    pixels = read_patch(good).pixels
    assert pixels is not None
    tifffile.imwrite(tmp_path / "f255.tif", pixels.astype(np.float32), photometric="rgb")
    tifffile.imwrite(tmp_path / "f1.tif", pixels.astype(np.float32) / 255.0, photometric="rgb")
    for name in ("f255.tif", "f1.tif"):
        decoded = read_patch(tmp_path / name)
        assert decoded.pixels is not None, decoded.error
        assert np.array_equal(decoded.pixels, pixels), name
        assert pixel_sha1(decoded.pixels) == good.stem


@pytest.mark.parametrize(
    ("values", "reason"),
    [((-5.0, 100.0), "negative"), ((0.0, 4000.0), "above 255"), ((0.0, np.nan), "not finite")],
)
def test_a_float_tiff_outside_the_known_ranges_is_refused(
    tmp_path: Path, values: tuple[float, float], reason: str
) -> None:
    arr = np.full((96, 96, 3), values[0], np.float32)
    arr[10:20, 10:20] = values[1]
    tifffile.imwrite(tmp_path / "odd.tif", arr, photometric="rgb")
    decoded = read_patch(tmp_path / "odd.tif")
    assert decoded.pixels is None and decoded.error is not None
    assert decoded.error.kind is DecodeErrorKind.BAD_VALUES
    assert reason in decoded.error.detail


# -- 12c. decompression bombs --------------------------------------------------------------
def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height pixels, followed by a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_images_over_the_pixel_limit_are_refused_from_the_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    side = int(MAX_PIXELS**0.5) + 64
    big = np.zeros((side, side), np.uint8)
    tifffile.imwrite(tmp_path / "bomb.tif", big, compression="zlib")
    Image.fromarray(big).save(tmp_path / "bomb.png")
    _png_header_only(tmp_path / "claims.png", 100_000, 100_000)
    assert (tmp_path / "bomb.tif").stat().st_size < 1_000_000  # small file, many pixels
    for name in ("bomb.tif", "bomb.png", "claims.png"):
        t0 = time.perf_counter()
        decoded = read_patch(tmp_path / name)
        assert decoded.pixels is None and decoded.error is not None, name
        assert decoded.error.kind is DecodeErrorKind.TOO_LARGE, (name, decoded.error)
        assert f"{MAX_PIXELS:,}" in decoded.error.detail
        assert time.perf_counter() - t0 < 0.5, name  # refused before decoding
    # The direct reader of uncompressed Kaggle TIFFs stays within the limit too.
    from pathview.io import decode

    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((20, 20, 3), np.uint8), photometric="rgb")
    with monkeypatch.context() as m:
        m.setattr(decode, "MAX_PIXELS", 399)
        refused = read_patch(tmp_path / "plain.tif")
    assert refused.error is not None and refused.error.kind is DecodeErrorKind.TOO_LARGE
    assert read_patch(tmp_path / "plain.tif").ok
    # Just under the limit still decodes.
    ok_side = int(MAX_PIXELS**0.5)
    Image.fromarray(np.zeros((ok_side, 64), np.uint8)).save(tmp_path / "tall.png")
    assert read_patch(tmp_path / "tall.png").ok


# -- 8. score --labels reports the rows it cannot use --------------------------------------
def test_score_reports_bad_and_conflicting_label_rows_by_line(
    tmp_path: Path, data_dir: Path, tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder_with(tmp_path, data_dir)
    ids = sorted(p.stem for p in folder.glob("*.tif"))
    labels = tmp_path / "labels.csv"
    labels.write_text(
        f"id,label\n{ids[0]},1\n{ids[1]},2\n{ids[2]},0\n{ids[2]},1\n{ids[0]},1\n",
        encoding="utf-8",
    )
    out = tmp_path / "scores.csv"
    code = run_cli(
        "score", folder, "--out", out, "--model", tiny_dir, "--device", "cpu", "--labels", labels
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "2 rows of" in captured.err and "not used" in captured.err
    assert "line 3: label is not 0 or 1" in captured.err
    assert "line 5: id listed with both labels (first on line 4)" in captured.err
    assert "on 1 labelled patches" in captured.out


# -- 4. retraining reads nothing outside --images ------------------------------------------
@pytest.mark.parametrize("relpath", ["/abs", "../outside/x.tif", "sub/../../outside/x.tif"])
def test_join_inside_refuses_paths_that_leave_the_folder(tmp_path: Path, relpath: str) -> None:
    outside = tmp_path / "outside" / "x.tif"
    text = str(outside) if relpath == "/abs" else relpath
    with pytest.raises(UnsafePathError, match="refused"):
        join_inside(tmp_path / "images", text)
    assert join_inside(tmp_path, "sub/x.tif") == tmp_path / "sub" / "x.tif"


@pytest.mark.parametrize("how", ["absolute", "climbing"])
def test_retraining_never_reads_a_reviewed_image_outside_images(
    tmp_path: Path, good: Path, how: str
) -> None:
    from pathview.training.review_labels import (
        ReviewedLabel,
        ReviewLabels,
        match_reviews_to_images,
    )

    images = tmp_path / "images"
    images.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(good, outside / "secret.tif")
    relpath = str(outside / "secret.tif") if how == "absolute" else "../outside/secret.tif"
    labels = ReviewLabels(
        labels={"secret": ReviewedLabel("secret", 1, good.stem, relpath, ("ann",))},
        sources=[],
        reviewers=["ann"],
        events=1,
        reviewed_patches=1,
        rule="latest",
    )
    matched = match_reviews_to_images(labels, [images])
    assert matched.ids == [] and matched.pixels == []
    assert [m.patch_id for m in matched.mismatches] == ["secret"]
    assert "leaves the image folders" in matched.mismatches[0].reason


def test_labels_reader_reports_an_unparseable_row_and_goes_on(tmp_path: Path) -> None:
    from pathview.io import read_labels

    path = tmp_path / "labels.csv"
    path.write_text(f'id,label\na,1\n"{"x" * 200_000}",1\nb,0\n', encoding="utf-8")
    table = read_labels(path)
    assert table.labels == {"a": 1, "b": 0}
    assert [(p.line, p.reason) for p in table.problems] == [
        (3, "unreadable row: a cell is too long (over 128 KiB)")
    ]


def test_a_tiff_with_huge_samples_per_pixel_is_refused_from_the_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathview.io import decode

    monkeypatch.setattr(decode, "MAX_PIXELS", 100 * 100)
    tifffile.imwrite(
        tmp_path / "wide.tif",
        np.zeros((64, 64, 64), np.float64),
        planarconfig="contig",
        photometric="minisblack",
        compression="zlib",
    )
    decoded = read_patch(tmp_path / "wide.tif")  # 4,096 pixels, but 2 MiB of samples
    assert decoded.error is not None and decoded.error.kind is DecodeErrorKind.TOO_LARGE
    assert "bytes of samples" in decoded.error.detail
