"""The precision benchmark runs, and what it reports about int8 is real (speed is not asserted)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from support.bench import load_benchmark

#: Runs the benchmark on the bundled model: seconds, not milliseconds.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("bench_precision")


@pytest.fixture(scope="module")
def bundled_classifier():
    from pathview.core.resources import bundled_model_dir
    from pathview.model import load_model

    return load_model(bundled_model_dir(), "cpu")


@pytest.fixture(scope="module")
def fixture_pixels() -> np.ndarray:
    from pathview.io import read_patch

    files = sorted((ROOT / "tests" / "data" / "kaggle").glob("*.tif"))
    return np.stack([read_patch(f).pixels for f in files])  # type: ignore[misc]


def test_int8_bundled_model_tracks_fp32_on_real_patches(bench, bundled_classifier, fixture_pixels):
    from pathview.model.network import PatchNet
    from pathview.model.quantised import quantise

    net = bundled_classifier.network
    assert isinstance(net, PatchNet)
    x = bundled_classifier.preprocess(fixture_pixels)
    int8 = quantise(net, x)
    with torch.inference_mode():
        ref = torch.sigmoid(net(x) / bundled_classifier.temperature).numpy()
        got = torch.sigmoid(int8(x) / bundled_classifier.temperature).numpy()
    assert got.shape == ref.shape == (len(fixture_pixels),)
    delta = np.abs(got - ref)
    assert delta.max() > 0  # it really is another network, not the fp32 one
    assert delta.mean() < 0.02 and delta.max() < 0.15, (delta.mean(), delta.max())
    assert np.corrcoef(got, ref)[0, 1] > 0.99


def test_main_reports_all_formats_on_the_bundled_model(bench, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench_precision.py", "--repeats", "1", "--arch", "pv-tiny"])
    assert bench.main() == 0
    out = capsys.readouterr().out
    rows = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r"^(fp32 \(BN folded\)|bf16 autocast|int8 \(PTQ, x86\)) .* (\S+)$", out, re.M
        )
    }
    assert set(rows) == {"fp32 (BN folded)", "bf16 autocast", "int8 (PTQ, x86)"}
    # AUC on the labelled fixtures: every format still discriminates tumour from normal.
    assert all(auc > 0.9 for auc in rows.values()), rows
    assert re.search(r"^pv-tiny\s+5,113\s", out, re.M)
