"""The direct Kaggle-TIFF reader: identical to tifffile where it reads, tifffile elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from pathview.io import decode
from pathview.io.decode import MAX_PIXELS, read_patch
from pathview.io.tiff_fast import decode_rgb8, read_file

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_TIFFS = sorted(
    p for p in (*ROOT.glob("tests/data/**/*.tif"), *ROOT.glob("pathview/resources/**/*.tif"))
)


def tifffile_pixels(path: Path) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        return tif.pages.first.asarray()


def test_there_are_fixture_tiffs() -> None:
    assert len(FIXTURE_TIFFS) > 200


def test_every_fixture_tiff_reads_identically() -> None:
    fast_count = 0
    for path in FIXTURE_TIFFS:
        fast = decode_rgb8(read_file(str(path), path.stat().st_size), MAX_PIXELS)
        if fast is None:
            continue
        fast_count += 1
        ref = tifffile_pixels(path)
        assert fast.dtype == ref.dtype and fast.shape == ref.shape, path
        assert np.array_equal(fast, ref), path
    # Every original Kaggle file in the fixtures takes the direct path.
    kaggle = [p for p in FIXTURE_TIFFS if len(p.stem) == 40 and "kaggle" in str(p)]
    assert kaggle and fast_count >= len(kaggle)


def test_kaggle_pixels_hash_to_their_id_through_the_direct_path() -> None:
    path = next(p for p in FIXTURE_TIFFS if len(p.stem) == 40 and "kaggle" in str(p))
    decoded = read_patch(path)
    assert decoded.ok and decoded.source_mode == "tiff/rgb/uint8"
    assert decode.pixel_sha1(decoded.pixels) == path.stem


ACCEPTED = [
    {"shape": (96, 96, 3)},
    {"shape": (96, 96, 3), "byteorder": ">"},
    {"shape": (96, 96, 3), "rowsperstrip": 7},
    {"shape": (96, 96, 3), "rowsperstrip": 1, "byteorder": ">"},
    {"shape": (80, 100, 3), "rowsperstrip": 13},
    {"shape": (1, 1, 3)},
    {"shape": (3, 500, 3), "rowsperstrip": 2},
    {"shape": (96, 96, 3), "description": "x" * 5000},
]

DECLINED = [
    {"shape": (96, 96, 3), "compression": "zlib"},
    {"shape": (96, 96, 3), "planarconfig": "separate"},
    {"shape": (96, 96), "photometric": "minisblack"},
    {"shape": (96, 96, 3), "dtype": np.uint16},
    {"shape": (96, 96, 3), "dtype": np.float32},
    {"shape": (96, 96, 4), "extrasamples": "unassalpha"},
    {"shape": (96, 96, 3), "tile": (16, 16)},
    {"shape": (96, 96, 3), "bigtiff": True},
    {"shape": (96, 96, 3), "photometric": "minisblack", "planarconfig": "contig"},
]


def _write(path: Path, spec: dict[str, object], seed: int) -> None:
    spec = dict(spec)
    shape = spec.pop("shape")
    dtype = spec.pop("dtype", np.uint8)
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=shape).astype(dtype)  # type: ignore[call-overload]
    if np.issubdtype(arr.dtype, np.floating):
        arr = arr / 255.0
    spec.setdefault("photometric", "rgb")
    tifffile.imwrite(path, arr, **spec)  # type: ignore[arg-type]


@pytest.mark.parametrize("index", range(len(ACCEPTED)))
def test_generated_layouts_it_takes_match_tifffile(tmp_path: Path, index: int) -> None:
    path = tmp_path / "a.tif"
    _write(path, ACCEPTED[index], index)
    fast = decode_rgb8(read_file(str(path), path.stat().st_size), MAX_PIXELS)
    assert fast is not None
    assert np.array_equal(fast, tifffile_pixels(path))
    assert fast.flags.writeable


@pytest.mark.parametrize("index", range(len(DECLINED)))
def test_other_layouts_fall_back_to_tifffile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index: int
) -> None:
    path = tmp_path / "b.tif"
    _write(path, DECLINED[index], 100 + index)
    assert decode_rgb8(read_file(str(path), path.stat().st_size), MAX_PIXELS) is None
    decoded = read_patch(path)
    assert decoded.ok
    assert _same(decoded, _reference(path, monkeypatch))


def _reference(path: Path, monkeypatch: pytest.MonkeyPatch) -> decode.Decoded:
    with monkeypatch.context() as m:
        m.setattr(decode, "decode_rgb8", lambda data, max_pixels: None)
        return read_patch(path)


def _same(a: decode.Decoded, b: decode.Decoded) -> bool:
    if a.ok != b.ok:
        return False
    if a.ok:
        assert a.pixels is not None and b.pixels is not None
        return bool(np.array_equal(a.pixels, b.pixels)) and a.source_mode == b.source_mode
    assert a.error is not None and b.error is not None
    return a.error.kind == b.error.kind


def test_truncated_files_keep_their_error_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = next(p for p in FIXTURE_TIFFS if len(p.stem) == 40).read_bytes()
    for n in (1, 7, 8, 100, 200, 286, 287, 1000, len(src) - 1000, len(src) - 1):
        path = tmp_path / f"t{n}.tif"
        path.write_bytes(src[:n])
        got, ref = read_patch(path), _reference(path, monkeypatch)
        assert _same(got, ref), (n, got, ref)


def test_damaged_headers_decode_as_tifffile_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random byte edits in the header and IFD: same pixels, or the same kind of error."""
    src = next(p for p in FIXTURE_TIFFS if len(p.stem) == 40).read_bytes()
    rng = np.random.default_rng(20261201)
    header_end = 287  # the Kaggle files' pixels start here
    path = tmp_path / "m.tif"
    for _ in range(300):
        data = bytearray(src)
        for _k in range(int(rng.integers(1, 4))):
            data[int(rng.integers(0, header_end))] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
        got, ref = read_patch(path), _reference(path, monkeypatch)
        assert _same(got, ref), (bytes(data[:header_end]).hex(), got, ref)
