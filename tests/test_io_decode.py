"""Decoding every supported format, documented conversions, typed errors, integrity."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from pathview.core import NATIVE_SIZE
from pathview.io import (
    DecodeErrorKind,
    Integrity,
    check_integrity,
    list_patches,
    pixel_sha1,
    read_patch,
)


@pytest.fixture
def kaggle_file(data_dir: Path) -> Path:
    return sorted((data_dir / "kaggle").glob("*.tif"))[0]


def test_kaggle_tif_decodes_to_native_rgb_and_verifies(kaggle_file: Path) -> None:
    decoded = read_patch(kaggle_file)
    assert decoded.ok and decoded.error is None
    assert decoded.pixels is not None
    assert decoded.pixels.shape == (NATIVE_SIZE, NATIVE_SIZE, 3)
    assert decoded.pixels.dtype == np.uint8
    assert decoded.native
    assert check_integrity(kaggle_file.stem, decoded.pixels) is Integrity.VERIFIED


def test_every_fixture_tif_hashes_to_its_name(data_dir: Path) -> None:
    folder = data_dir / "kaggle"
    for ref in list_patches(folder):
        decoded = read_patch(ref.path(folder))
        assert pixel_sha1(decoded.pixels) == ref.id  # type: ignore[arg-type]


@pytest.mark.parametrize("stem", ["normal", "tumour"])
def test_lossless_formats_equal_the_original(data_dir: Path, stem: str) -> None:
    formats = data_dir / "formats"
    png = read_patch(formats / f"{stem}.png").pixels
    webp = read_patch(formats / f"{stem}.webp").pixels
    jpg = read_patch(formats / f"{stem}.jpg").pixels
    assert png is not None and webp is not None and jpg is not None
    assert np.array_equal(png, webp)
    assert jpg.shape == png.shape
    # JPEG q90 is lossy but close.
    assert np.abs(jpg.astype(int) - png.astype(int)).mean() < 6


def test_greyscale_is_replicated_to_three_equal_channels(data_dir: Path) -> None:
    decoded = read_patch(data_dir / "formats" / "normal_grey.png")
    assert decoded.pixels is not None and decoded.pixels.shape == (96, 96, 3)
    assert np.array_equal(decoded.pixels[..., 0], decoded.pixels[..., 2])
    assert decoded.source_mode == "png/L"


def test_rgba_is_composited_over_white(data_dir: Path) -> None:
    rgba = read_patch(data_dir / "formats" / "normal_rgba.png").pixels
    rgb = read_patch(data_dir / "formats" / "normal.png").pixels
    assert rgba is not None and rgb is not None
    assert (rgba[:8, :8] == 255).all()  # fully transparent corner shows white
    assert np.array_equal(rgba[8:, 8:], rgb[8:, 8:])  # opaque elsewhere: unchanged


def test_odd_size_is_decoded_and_reported(data_dir: Path) -> None:
    decoded = read_patch(data_dir / "formats" / "normal_odd_100x80.tif")
    assert decoded.ok
    assert decoded.size == (100, 80)
    assert not decoded.native


def test_sixteen_bit_and_planar_tiffs(tmp_path: Path) -> None:
    rgb16 = (np.arange(96 * 96 * 3, dtype=np.uint32).reshape(96, 96, 3) * 7 % 65536).astype(
        np.uint16
    )
    tifffile.imwrite(tmp_path / "a.tif", rgb16, photometric="rgb")
    decoded = read_patch(tmp_path / "a.tif")
    assert decoded.pixels is not None
    assert np.array_equal(decoded.pixels, (rgb16 >> 8).astype(np.uint8))
    planar = np.moveaxis(rgb16.astype(np.uint8), -1, 0).copy()
    tifffile.imwrite(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate")
    decoded = read_patch(tmp_path / "p.tif")
    assert decoded.pixels is not None and decoded.pixels.shape == (96, 96, 3)


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.tif").write_bytes(b"")
    decoded = read_patch(tmp_path / "empty.tif")
    assert not decoded.ok and decoded.error is not None
    assert decoded.error.kind is DecodeErrorKind.EMPTY


@pytest.mark.parametrize("suffix", [".tif", ".png", ".jpg", ".webp"])
def test_truncated_files_are_corrupt_not_exceptions(
    tmp_path: Path, kaggle_file: Path, suffix: str
) -> None:
    pixels = read_patch(kaggle_file).pixels
    full = tmp_path / f"full{suffix}"
    if suffix == ".tif":
        shutil.copy(kaggle_file, full)
    else:
        Image.fromarray(pixels).save(full)
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 3])
    decoded = read_patch(cut)
    assert decoded.pixels is None
    assert decoded.error is not None and decoded.error.kind is DecodeErrorKind.CORRUPT
    assert str(decoded.error).startswith("corrupt or truncated")


def test_non_image_with_image_extension(tmp_path: Path) -> None:
    (tmp_path / "notes.tif").write_text("this is not a tiff\n" * 20)
    (tmp_path / "notes.png").write_bytes(b"\x00\x01garbage" * 50)
    for name in ("notes.tif", "notes.png"):
        decoded = read_patch(tmp_path / name)
        assert decoded.error is not None and decoded.error.kind is DecodeErrorKind.CORRUPT


def test_missing_and_unsupported(tmp_path: Path) -> None:
    missing = read_patch(tmp_path / "gone.tif")
    assert missing.error is not None and missing.error.kind is DecodeErrorKind.MISSING
    (tmp_path / "x.bmp").write_bytes(b"BM")
    unsupported = read_patch(tmp_path / "x.bmp")
    assert unsupported.error is not None and unsupported.error.kind is DecodeErrorKind.UNSUPPORTED


def test_unsupported_channel_layout(tmp_path: Path) -> None:
    tifffile.imwrite(
        tmp_path / "five.tif",
        np.zeros((96, 96, 5), np.uint8),
        photometric="minisblack",
        planarconfig="contig",
    )
    decoded = read_patch(tmp_path / "five.tif")
    assert decoded.error is not None
    assert decoded.error.kind in (DecodeErrorKind.BAD_SHAPE, DecodeErrorKind.CORRUPT)


def test_integrity_flags_altered_renamed_and_non_kaggle(data_dir: Path, kaggle_file: Path) -> None:
    altered = next(p for p in (data_dir / "formats").glob("*.tif") if len(p.stem) == 40)
    assert check_integrity(altered.stem, read_patch(altered).pixels) is Integrity.ALTERED
    pixels = read_patch(kaggle_file).pixels
    other_id = "f" * 40
    assert check_integrity(other_id, pixels) is Integrity.ALTERED  # renamed
    assert check_integrity("normal", pixels) is Integrity.NOT_KAGGLE
    assert check_integrity(kaggle_file.stem, None) is Integrity.UNREADABLE
    assert check_integrity(kaggle_file.stem, pixels[:90]) is Integrity.ALTERED


def test_loading_a_patch_hashes_its_pixels_once(
    data_dir: Path, kaggle_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thumbnail loader's integrity check reuses the SHA-1 it records (no second hash)."""
    import pathview.io.integrity as integrity_module
    import pathview.io.patch_info as patch_info_module
    from pathview.core import PatchRef
    from pathview.io import load_patch_info

    calls: list[int] = []

    def counting_sha1(pixels: np.ndarray) -> str:
        calls.append(1)
        return pixel_sha1(pixels)

    monkeypatch.setattr(integrity_module, "pixel_sha1", counting_sha1)
    monkeypatch.setattr(patch_info_module, "pixel_sha1", counting_sha1)
    info = load_patch_info(kaggle_file.parent, PatchRef(kaggle_file.stem, kaggle_file.name))
    assert len(calls) == 1
    assert info.integrity is Integrity.VERIFIED
    assert info.sha1 == kaggle_file.stem
    # A given digest is what the check compares: a wrong one reads as altered.
    assert check_integrity(kaggle_file.stem, info.pixels, "0" * 40) is Integrity.ALTERED
    assert check_integrity(kaggle_file.stem, info.pixels, info.sha1) is Integrity.VERIFIED
