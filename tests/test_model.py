"""pathview.model: loading model directories, preprocessing, inference, TTA and metrics.

A tiny randomly initialised network written to tmp_path stands in for the bundled weights.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from support.models import make_tiny_model
from torch import nn

from pathview.model import (
    Classifier,
    ModelLoadError,
    NetConfig,
    PatchNet,
    default_model_dir,
    dihedral_view,
    load_model,
    resolve_device,
)
from pathview.model.bundle import write_model_dir
from pathview.model.classifier import fold_batchnorm
from pathview.model.network import BasicBlock, PointwiseConv2d
from pathview.model.runtime import tune_malloc
from pathview.stats import accuracy, expected_calibration_error, fit_temperature, roc_auc, sigmoid


def random_patches(n: int, size: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------ loading


def test_load_model_exposes_the_documented_attributes(tiny: Classifier, tiny_dir: Path) -> None:
    meta = json.loads((tiny_dir / "model.json").read_text())
    assert tiny.model_id == meta["weights"]["sha256"]
    assert len(tiny.model_id) == 64
    assert tiny.device == torch.device("cpu")
    assert tiny.metadata.temperature == 1.5
    assert not tiny.network.training
    assert tiny.cam_layers["default"] in dict(tiny.network.named_modules())
    assert tiny.device_note is None


def test_sha256_mismatch_is_a_clear_load_error(tiny_dir: Path) -> None:
    weights = tiny_dir / "weights.pt"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="checksum mismatch"):
        load_model(tiny_dir, device="cpu")


@pytest.mark.parametrize("remove", ["weights.pt", "model.json"])
def test_missing_files_are_load_errors(tiny_dir: Path, remove: str) -> None:
    (tiny_dir / remove).unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        load_model(tiny_dir, device="cpu")


def test_missing_directory_and_bad_metadata(tmp_path: Path, tiny_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(tmp_path / "nope", device="cpu")
    meta = json.loads((tiny_dir / "model.json").read_text())
    del meta["cam_layers"]
    (tiny_dir / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="cam_layers"):
        load_model(tiny_dir, device="cpu")
    (tiny_dir / "model.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="unreadable"):
        load_model(tiny_dir, device="cpu")


def test_weights_that_do_not_fit_the_architecture(tiny_dir: Path) -> None:
    meta = json.loads((tiny_dir / "model.json").read_text())
    other = PatchNet(NetConfig(stem=((4, 2),), stages=((8, 1, 1),)))
    write_model_dir(tiny_dir, other.state_dict(), meta)
    with pytest.raises(ModelLoadError, match="do not fit"):
        load_model(tiny_dir, device="cpu")


def test_default_model_dir_and_env_override(
    monkeypatch: pytest.MonkeyPatch, tiny_dir: Path
) -> None:
    monkeypatch.delenv("PATHVIEW_MODEL_DIR", raising=False)
    default = default_model_dir()
    assert default.parts[-3:] == ("resources", "model", "pcam-default")
    assert default.parents[2] == Path(__file__).resolve().parents[1] / "pathview"
    monkeypatch.setenv("PATHVIEW_MODEL_DIR", str(tiny_dir))
    assert default_model_dir() == tiny_dir
    assert load_model(device="cpu").metadata.name == "tiny-test"


def test_device_fallback_to_cpu_with_warning(
    monkeypatch: pytest.MonkeyPatch, tiny_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="pathview.model.classifier"):
        clf = load_model(tiny_dir, device="cuda")
    assert clf.device == torch.device("cpu")
    assert clf.device_note is not None and "CUDA" in clf.device_note
    assert any("CUDA" in r.getMessage() for r in caplog.records)
    assert resolve_device("mps")[0] == torch.device("cpu")
    assert resolve_device("auto") == (torch.device("cpu"), None)
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


# ------------------------------------------------------------------------------ inference


def test_preprocess_shapes_layout_and_normalisation(tiny: Classifier) -> None:
    grey = np.full((2, 96, 96, 3), 255, np.uint8)
    x = tiny.preprocess(grey)
    assert x.shape == (2, 3, 96, 96) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    expected = (1.0 - 0.7) / 0.24
    assert torch.allclose(x[:, 0], torch.full((2, 96, 96), expected))
    assert tiny.preprocess(grey[0]).shape == (1, 3, 96, 96)
    with pytest.raises(ValueError):
        tiny.preprocess(np.zeros((96, 96), np.uint8))
    with pytest.raises(ValueError):
        tiny.preprocess(np.zeros((1, 96, 96, 3), np.float32))


@pytest.mark.parametrize("shape", [(5, 96, 96), (3, 96, 96), (2, 40, 57)])
def test_preprocess_is_the_per_channel_normalisation_bit_for_bit(
    tiny: Classifier, tiny_dir: Path, shape: tuple[int, int, int]
) -> None:
    """The row-wise normalisation gives exactly (pixels * scale + shift) broadcast over the
    3 channels, for the input size and for another size (cropped or resized after)."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    norm = json.loads((tiny_dir / "model.json").read_text())["normalisation"]
    mean = torch.tensor(norm["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(norm["std"]).view(1, 3, 1, 1)
    raw = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()
    reference = torch.addcmul(-mean / std, raw, 1.0 / (255.0 * std))
    got = tiny._to_tensor(pixels)
    assert torch.equal(got, reference)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, (raw / 255 - mean) / std)
    assert tiny.preprocess(pixels).shape == (shape[0], 3, 96, 96)


def test_predict_shapes_range_and_batching(tiny: Classifier) -> None:
    pixels = random_patches(7)
    pred = tiny.predict(pixels)
    assert pred.p.shape == (7,) and pred.spread is None
    assert ((pred.p > 0) & (pred.p < 1)).all()
    np.testing.assert_allclose(tiny.predict(pixels, batch_size=3).p, pred.p, atol=1e-6)
    assert tiny.predict(pixels[0]).p.shape == (1,)


def test_probability_is_temperature_scaled_logit(tiny: Classifier) -> None:
    pixels = random_patches(4)
    with torch.no_grad():
        z = tiny.logits(tiny.preprocess(pixels)).numpy()
    np.testing.assert_allclose(tiny.predict(pixels).p, sigmoid(z / 1.5), atol=1e-5)


def test_batchnorm_folding_keeps_outputs(tiny: Classifier) -> None:
    x = tiny.preprocess(random_patches(4))
    fast = fold_batchnorm(tiny.network)  # type: ignore[arg-type]
    with torch.no_grad():
        np.testing.assert_allclose(fast(x).numpy(), tiny.network(x).numpy(), atol=1e-4)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in tiny.network.modules())


def test_logits_carry_gradients_for_grad_cam(tiny: Classifier) -> None:
    x = tiny.preprocess(random_patches(2)).requires_grad_(True)
    tiny.logits(x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("size", [48, 47])
@pytest.mark.parametrize("channels_last", [False, True])
def test_pointwise_conv_equals_a_strided_1x1_conv(size: int, channels_last: bool) -> None:
    """PointwiseConv2d (subsample, then a stride-1 1x1 conv) is nn.Conv2d(cin, cout, 1, 2):
    the same outputs and gradients, the same state-dict keys, on even and odd sides."""
    torch.manual_seed(0)
    plain = nn.Conv2d(8, 16, 1, 2, bias=False)
    safe = PointwiseConv2d(8, 16, 2)
    assert safe.state_dict().keys() == plain.state_dict().keys()
    safe.load_state_dict(plain.state_dict())
    x0 = torch.randn(3, 8, size, size)
    grads = []
    for conv in (plain, safe):
        x = x0.clone()
        if channels_last and conv is safe:  # the plain conv's channels-last backward is the bug
            conv = conv.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        out = conv(x)
        out.square().sum().backward()
        assert conv.weight.grad is not None and x.grad is not None
        grads.append((out.detach(), conv.weight.grad.clone(), x.grad.clone()))
    for a, b in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_small_strided_shortcuts_avoid_the_onednn_path() -> None:
    """Below 16 input channels a strided shortcut is a PointwiseConv2d; from 16 it stays the
    plain module (the bundled network's int8 graph was made from it)."""
    assert isinstance(BasicBlock(8, 16, 2).shortcut[0], PointwiseConv2d)  # type: ignore[index]
    wide = BasicBlock(32, 64, 2).shortcut[0]  # type: ignore[index]
    assert type(wide) is nn.Conv2d


def d4_symmetric(seed: int = 0) -> np.ndarray:
    """A patch equal to each of its 8 flips/rotations (exact integer average of the views)."""
    base = random_patches(1, seed=seed)[0].astype(np.uint16)
    views = [base, base[::-1], base[:, ::-1], base[::-1, ::-1]]
    views += [v.transpose(1, 0, 2) for v in views]
    return (sum(views) // 8).astype(np.uint8)


def test_tta_shapes_and_zero_spread_on_symmetric_patch(tiny: Classifier) -> None:
    sym = d4_symmetric()
    for k in range(8):
        t = torch.from_numpy(sym).permute(2, 0, 1)[None]
        assert torch.equal(dihedral_view(t, k), t)
    pred = tiny.predict(np.stack([sym, random_patches(1)[0]]), tta=True)
    assert pred.p.shape == (2,) and pred.spread is not None and pred.spread.shape == (2,)
    assert pred.spread[0] < 1e-6
    assert pred.spread[1] > 0
    np.testing.assert_allclose(pred.p[0], tiny.predict(sym).p[0], atol=1e-6)


def test_tta_is_invariant_to_flips_and_rotations(tiny: Classifier) -> None:
    patch = random_patches(1, seed=3)[0]
    variants = [patch, np.rot90(patch), patch[::-1], patch.transpose(1, 0, 2)]
    preds = [tiny.predict(np.ascontiguousarray(v), tta=True) for v in variants]
    for pred in preds[1:]:
        np.testing.assert_allclose(pred.p, preds[0].p, atol=1e-5)
        np.testing.assert_allclose(pred.spread, preds[0].spread, atol=1e-5)  # type: ignore[arg-type]


def test_tta_keeps_each_views_probability(tiny: Classifier) -> None:
    patches = random_patches(3, seed=5)
    plain = tiny.predict(patches)
    assert plain.views is None and plain.spread is None
    pred = tiny.predict(patches, tta=True, batch_size=2)
    assert pred.views is not None and pred.spread is not None
    assert pred.views.shape == (3, 8) and pred.views.dtype == np.float32
    np.testing.assert_allclose(pred.views.mean(axis=1), pred.p, atol=1e-6)
    np.testing.assert_allclose(pred.views.std(axis=1), pred.spread, atol=1e-6)
    for k in range(8):  # column k is the plain prediction of view k (bit 4 transpose, ...)
        view = patches.transpose(0, 2, 1, 3) if k & 4 else patches
        view = view[:, ::-1] if k & 2 else view
        view = view[:, :, ::-1] if k & 1 else view
        np.testing.assert_allclose(
            pred.views[:, k], tiny.predict(np.ascontiguousarray(view)).p, atol=1e-5
        )


def test_odd_sizes_centre_crop_and_resize(tiny: Classifier, tmp_path: Path) -> None:
    big = random_patches(1, size=100, seed=4)
    crop = np.ascontiguousarray(big[:, 2:98, 2:98])
    np.testing.assert_allclose(tiny.predict(big).p, tiny.predict(crop).p, atol=1e-6)
    small = random_patches(2, size=64, seed=5)
    assert tiny.predict(small).p.shape == (2,)
    assert tiny.preprocess(small).shape == (2, 3, 96, 96)
    mixed = [big[0], small[0], random_patches(1)[0], random_patches(1, size=80)[0][:, :50]]
    assert tiny.predict(mixed, tta=True).p.shape == (4,)
    resizing = load_model(make_tiny_model(tmp_path / "r", resize_policy="resize"), device="cpu")
    assert resizing.resize_policy == "resize"
    assert abs(float(resizing.predict(big).p[0]) - float(resizing.predict(crop).p[0])) > 0


@pytest.mark.slow
def test_model_package_is_pure() -> None:
    code = (
        "import sys, pathview.model, pathview.model.runtime\n"
        "bad = [m for m in sys.modules if m.startswith(('pathview.io', 'pathview.store', "
        "'PySide6', 'pathview.ui', 'pathview.workers'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tune_malloc_is_idempotent() -> None:
    first = tune_malloc()
    assert tune_malloc() == first
    if sys.platform.startswith("linux"):
        assert first


# ------------------------------------------------------------------------------ metrics


def _pairwise_auc(s: np.ndarray, y: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (pos.size * neg.size))


def test_roc_auc_matches_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) + 0.3 * y, 1)  # coarse: many ties
    assert roc_auc(s, y) == pytest.approx(_pairwise_auc(s, y), abs=1e-12)
    assert roc_auc([0.1, 0.9], [0, 1]) == 1.0
    assert roc_auc([0.9, 0.1], [0, 1]) == 0.0
    assert roc_auc([0.5] * 4, [0, 1, 0, 1]) == 0.5
    assert np.isnan(roc_auc([0.2, 0.3], [1, 1]))
    with pytest.raises(ValueError):
        roc_auc([0.2, 0.3], [0, 2])


def test_accuracy_ece_and_temperature_fit() -> None:
    assert accuracy([0.2, 0.7, 0.5], [0, 1, 0]) == pytest.approx(2 / 3)
    assert expected_calibration_error([0.0, 1.0], [0, 1]) == 0.0
    assert expected_calibration_error([0.9, 0.9], [0, 0]) == pytest.approx(0.9)
    rng = np.random.default_rng(1)
    z = rng.normal(0, 3, 20000)
    y = (rng.random(z.size) < sigmoid(z)).astype(int)
    assert fit_temperature(z * 2.5, y) == pytest.approx(2.5, rel=0.08)
