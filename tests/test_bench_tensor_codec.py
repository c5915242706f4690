"""The tensor JPEG experiment (benchmarks/bench_tensor_codec.py) reproduces the input codec."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from support.bench import load_benchmark

from pathview.io import read_patch
from pathview.model.codec import InputCodec

#: Runs the tensor-codec benchmark and its experiments: seconds, not milliseconds.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("bench_tensor_codec")


@pytest.fixture(scope="module")
def patches() -> tuple[np.ndarray, np.ndarray]:
    """The 240 real Kaggle fixture patches and their OpenCV (libjpeg-turbo) round trip."""
    files = sorted((ROOT / "tests" / "data" / "kaggle").glob("*.tif"))
    pixels = np.stack([read_patch(f).pixels for f in files])  # type: ignore[misc]
    return pixels, InputCodec(quality=75).apply(pixels)


def test_float64_is_bit_identical_to_libjpeg_turbo(bench, patches) -> None:
    pixels, expected = patches
    assert len(pixels) == 240
    got = bench.TensorJpeg(75, torch.float64).apply(pixels)
    assert got.dtype == np.uint8 and got.shape == pixels.shape
    np.testing.assert_array_equal(got, expected)


def test_float32_differs_in_a_handful_of_values_by_at_most_two(bench, patches) -> None:
    pixels, expected = patches
    c = bench.closeness(bench.TensorJpeg(75, torch.float32).apply(pixels), expected)
    # Measured: 66 of 6,635,520 values differ (integer DCT sums above 2^24), none by more than 2.
    assert c["max"] <= 2 and c["identical"] > 0.9999 and c["within1"] > 0.99999, c
    assert c["mean"] < 1e-4, c


def test_stages_match_the_libjpeg_definitions(bench) -> None:
    # The integer DCT matrices read off jfdctint.c / jidctint.c are sqrt(8) * 2^13 times the
    # orthonormal DCT-II basis (and its transpose), to the precision of 13-bit constants.
    k = np.arange(8)
    basis = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * np.sqrt(2 / 8)
    basis[0] /= np.sqrt(2)
    scale = np.sqrt(8) * 2**13
    assert np.abs(bench.FDCT / scale - basis).max() < 2e-4
    assert np.abs(bench.IDCT / scale - basis.T).max() < 2e-4
    q75 = bench.quality_table(bench.LUMA_TABLE, 75)
    assert q75[0, 0] == 8 and q75[7, 7] == 50  # (16 * 50 + 50) // 100, (99 * 50 + 50) // 100
    assert bench.quality_table(bench.LUMA_TABLE, 100).min() == 1


def test_batch_size_and_chunking_do_not_change_the_result(bench, patches) -> None:
    pixels, _ = patches
    whole = bench.TensorJpeg(75, chunk=32).apply(pixels[:70])
    for chunk, n in ((1, 9), (7, 70), (64, 70)):
        np.testing.assert_array_equal(
            bench.TensorJpeg(75, chunk=chunk).apply(pixels[:n]), whole[:n]
        )
    np.testing.assert_array_equal(bench.TensorJpeg(75).apply(pixels[5:6]), whole[5:6])


def test_empty_batch_and_invalid_input(bench) -> None:
    codec = bench.TensorJpeg(75)
    empty = codec.apply(np.zeros((0, 96, 96, 3), np.uint8))
    assert empty.shape == (0, 96, 96, 3) and empty.dtype == np.uint8
    for bad in (
        np.zeros((2, 96, 96, 3), np.float32),
        np.zeros((96, 96, 3), np.uint8),
        np.zeros((2, 64, 64, 3), np.uint8),
        np.zeros((2, 96, 96, 4), np.uint8),
    ):
        with pytest.raises(ValueError, match="uint8 N x 96 x 96 x 3"):
            codec.apply(bad)


@pytest.mark.slow
def test_main_reports_closeness_speed_and_probabilities(bench, capsys) -> None:
    assert bench.main(["--repeats", "1", "--n", "64", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"tensor float64\s+mean \|d\| 0\.00e\+00\s+max 0 ", out), out
    assert len(re.findall(r"^1 thread\(s\) .* best .* median", out, re.M)) == 3
    same = r"^P\(tumour\) \((int8|float32)\), tensor float64 vs OpenCV: mean \|dP\| 0\.00e\+00 "
    assert len(re.findall(same + r".* calls changed 0/240$", out, re.M)) == 2, out
