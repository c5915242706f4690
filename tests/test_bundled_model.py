"""The bundled model (pathview/resources/model): metadata, integrity, accuracy on real patches."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from pathview.core.resources import bundled_model_dir
from pathview.io import read_patch
from pathview.model import Classifier, load_model
from pathview.model.classifier import default_model_dir
from pathview.stats import accuracy, roc_auc


@pytest.fixture(scope="module")
def bundled() -> Classifier:
    return load_model(bundled_model_dir(), "cpu")


def test_bundled_model_metadata(bundled: Classifier, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATHVIEW_MODEL_DIR", raising=False)
    assert bundled.model_dir == default_model_dir()
    meta = bundled.metadata
    assert meta.input_size == 96
    assert meta.classes == {"0": "normal", "1": "tumour"}
    assert meta.parent_model is None
    assert meta.resize_policy in ("centre_crop", "resize")
    assert 0.05 < meta.temperature < 20
    assert len(meta.normalisation.mean) == len(meta.normalisation.std) == 3
    assert meta.block("external") is not None
    weights = bundled.model_dir / meta.weights.file  # type: ignore[operator]
    assert weights.stat().st_size < 20_000_000


def test_cam_layers_exist_with_the_recorded_map_sides(bundled: Classifier) -> None:
    cam = bundled.cam_layers
    modules = dict(bundled.network.named_modules())
    sides: dict[str, int] = {}
    hooks = [
        modules[name].register_forward_hook(
            lambda _m, _i, out, name=name: sides.__setitem__(name, out.shape[-1])
        )
        for name in cam["candidates"]
    ]
    with torch.no_grad():
        bundled.logits(bundled.preprocess(np.zeros((1, 96, 96, 3), np.uint8)))
    for h in hooks:
        h.remove()
    assert sides == cam["candidates"]
    assert cam["candidates"][cam["default"]] >= 12
    assert min(cam["candidates"].values()) <= 6  # the last conv is offered too


def test_bundled_model_separates_real_fixture_patches(bundled: Classifier, data_dir: Path) -> None:
    folder = data_dir / "kaggle"
    rows = list(csv.reader((folder / "labels.csv").read_text().splitlines()))[1:]
    pixels = np.stack([read_patch(folder / f"{pid}.tif").pixels for pid, _ in rows])  # type: ignore[misc]
    y = np.array([int(label) for _, label in rows])
    pred = bundled.predict(pixels)
    assert roc_auc(pred.p, y) > 0.9
    assert accuracy(pred.p, y) > 0.8
    tta = bundled.predict(pixels[:16], tta=True)
    assert tta.spread is not None and (tta.spread >= 0).all()


@pytest.mark.slow
def test_bundled_int8_weights_score_like_float32_on_real_patches(data_dir: Path) -> None:
    from pathview.model.quantised import int8_unavailable

    model_dir = bundled_model_dir()
    fp32 = load_model(model_dir, "cpu", precision="float32")
    record = fp32.metadata.int8
    assert record is not None and record.source_sha256 == fp32.model_id
    assert (model_dir / record.file).stat().st_size < 20_000_000
    external = fp32.metadata.block("external")
    assert external is not None and external.int8 is not None  # measured, not assumed
    if int8_unavailable() is not None:
        pytest.skip(f"no x86 int8 kernels here: {int8_unavailable()}")
    int8 = load_model(model_dir, "cpu")
    assert (int8.precision, int8.precision_note) == ("int8", None)
    folder = data_dir / "kaggle"
    rows = list(csv.reader((folder / "labels.csv").read_text().splitlines()))[1:]
    pixels = np.stack([read_patch(folder / f"{pid}.tif").pixels for pid, _ in rows])  # type: ignore[misc]
    y = np.array([int(label) for _, label in rows])
    p8, p32 = int8.predict(pixels).p, fp32.predict(pixels).p
    assert roc_auc(p8, y) > 0.9 and abs(roc_auc(p8, y) - roc_auc(p32, y)) < 0.01
    assert np.abs(p8 - p32).mean() < 0.02 and np.abs(p8 - p32).max() < 0.15
