"""Tests for pathview.explain: maps that are *right*, not only maps that exist.

Most tests use ``SquareNet``, a fixed-weight single-logit CNN whose evidence is known: an
8 x 8-pixel-cell brightness map (12 x 12 cells on a 96 px patch) feeds a "bright" channel
that pushes the logit towards tumour and a "dark" channel that pushes it towards normal.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import torch
from torch import nn

from pathview.core import CancelToken
from pathview.core.progress import Cancelled
from pathview.explain import (
    COLORMAPS,
    METHODS,
    ExplainStatus,
    blend,
    cam_layer_choices,
    centre_focus,
    check_raw_map,
    colormap_lut,
    default_cam_layer,
    explain_batch,
    explain_patch,
    explain_tensor,
    normalise_map,
    overlay_rgba,
)
from pathview.explain.maps import upsample

# The bright square of the tests: rows 10..20, columns 70..80 (half-open), far from the centre.
SQ_ROWS, SQ_COLS = slice(10, 20), slice(70, 80)
CLASS_SPECIFIC = [m for m in METHODS if m != "eigencam"]


class SquareNet(nn.Module):
    """Fixed weights: logit = 1000 * mean(relu(cell - 0.1)) - 10 * mean(relu(0.1 - cell)).

    ``cell`` is the mean brightness (0..1) of each 8 x 8 cell. A bright square on black gives
    a positive logit from the square's cells only; a uniform dark patch gives a negative one
    from everywhere. Outputs (N,) logits, like pathview.model's PatchNet.
    """

    def __init__(self, head_weights: tuple[float, ...] = (1000.0, -10.0)) -> None:
        super().__init__()
        cells = nn.Conv2d(3, 1, kernel_size=8, stride=8, bias=False)
        detect = nn.Conv2d(1, 2, kernel_size=1)
        self.features = nn.Sequential(cells, detect, nn.ReLU())
        self.head = nn.Linear(2, len(head_weights) // 2)
        with torch.no_grad():
            cells.weight.fill_(1.0 / (3 * 8 * 8))
            detect.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            detect.bias = nn.Parameter(torch.tensor([-0.1, 0.1]))
            self.head.weight.copy_(torch.tensor(head_weights).view(self.head.out_features, 2))
            self.head.bias.zero_()
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.features(x).mean(dim=(2, 3)))
        return logits.squeeze(1) if logits.shape[1] == 1 else logits


class ConstantNet(SquareNet):
    """Same layers, but the logit ignores them: zero gradients everywhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(1, 2, 3)) * 0.0 + 2.0


@dataclass
class FakeClassifier:
    """The attributes of pathview.model.Classifier that explain uses."""

    network: nn.Module
    cam_layers: dict[str, Any] | None = field(
        default_factory=lambda: {"default": "features", "candidates": {"features": 12}}
    )
    temperature: float = 1.0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def preprocess(self, pixels: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        batch = np.asarray(pixels)
        batch = batch[None] if batch.ndim == 3 else batch
        return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255.0)


def square_patch() -> np.ndarray:
    pixels = np.zeros((96, 96, 3), np.uint8)
    pixels[SQ_ROWS, SQ_COLS] = 255
    return pixels


def dark_square_patch() -> np.ndarray:
    """Dim grey (0.05) with a black square at rows 60..70, columns 20..30: a normal call."""
    pixels = np.full((96, 96, 3), 13, np.uint8)
    pixels[60:70, 20:30] = 0
    return pixels


def peak(heatmap: np.ndarray) -> tuple[int, int]:
    r, c = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    return int(r), int(c)


def assert_no_hooks(network: nn.Module) -> None:
    for name, m in network.named_modules():
        assert not m._forward_hooks, name
        assert not m._forward_pre_hooks, name
        assert not m._backward_hooks, name
        assert not getattr(m, "_backward_pre_hooks", {}), name
    assert all(p.grad is None for p in network.parameters())


# --------------------------------------------------------------------------- correctness


@pytest.mark.parametrize("method", CLASS_SPECIFIC)
@pytest.mark.slow
def test_tumour_call_peaks_on_the_square(method: str) -> None:
    e = explain_patch(FakeClassifier(SquareNet()), square_patch(), method=method)
    assert e.ok and e.status is ExplainStatus.OK and e.reason == ""
    assert e.target == "tumour" and e.p_tumour > 0.5 and e.class_specific
    assert e.map is not None and e.map.shape == (96, 96) and e.map.dtype == np.float32
    assert e.map.min() >= 0.0 and e.map.max() == pytest.approx(1.0)
    r, c = peak(e.map)
    assert SQ_ROWS.start <= r < SQ_ROWS.stop and SQ_COLS.start <= c < SQ_COLS.stop
    # The square's cells hold the evidence; the far side of the patch holds none.
    assert e.map[60:, :40].max() == 0.0
    assert e.centre_focus is not None and e.centre_focus < 0.01
    assert e.map_side == (12, 12) and e.layer == "features" and e.method == method


def reference_gradcam(net: nn.Module, x: torch.Tensor, layer: nn.Module, sign: float) -> np.ndarray:
    """Grad-CAM written out with plain autograd: relu(sum_c mean(dY/dA_c) * A_c), bilinear
    to the input size, divided by its peak."""
    acts: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda m, a, out: acts.append(out))
    try:
        logit = net(x).reshape(())
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(sign * logit, acts[0])
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * acts[0]).sum(dim=1, keepdim=True))
    up = nn.functional.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)
    return (up / up.max())[0, 0].detach().numpy()


class RandomNet(nn.Module):
    """A seeded, untrained conv net with batch norm and a residual-free 12 x 12 stage."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1234)
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(16, 1)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).mean(dim=(2, 3))).squeeze(1)


@pytest.mark.parametrize("target", ["tumour", "normal"])
def test_gradcam_matches_a_plain_autograd_reference(target: Literal["tumour", "normal"]) -> None:
    net = RandomNet()
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(7))
    for layer in ("body.4", "body.6"):
        (e,) = explain_tensor(net, x, layer, target=target)
        sign = 1.0 if target == "tumour" else -1.0
        expected = reference_gradcam(net, x.clone(), dict(net.named_modules())[layer], sign)
        assert e.ok and e.map is not None
        np.testing.assert_allclose(e.map, expected, atol=1e-5)
    assert_no_hooks(net)


def test_eigencam_is_class_agnostic_and_sign_corrected() -> None:
    clf = FakeClassifier(SquareNet())
    tumour = explain_patch(clf, square_patch(), method="eigencam", target="tumour")
    normal = explain_patch(clf, square_patch(), method="eigencam", target="normal")
    assert tumour.ok and not tumour.class_specific
    assert tumour.map is not None and normal.map is not None
    np.testing.assert_array_equal(tumour.map, normal.map)
    r, c = peak(tumour.map)
    assert SQ_ROWS.start <= r < SQ_ROWS.stop and SQ_COLS.start <= c < SQ_COLS.stop


@pytest.mark.parametrize("method", CLASS_SPECIFIC)
def test_normal_target_shows_the_opposite_evidence(method: str) -> None:
    clf = FakeClassifier(SquareNet())
    tumour = explain_patch(clf, square_patch(), method=method)
    normal = explain_patch(clf, square_patch(), method=method, target="normal")
    assert normal.target == "normal" and normal.ok
    assert tumour.map is not None and normal.map is not None
    # Evidence for normal is the dark background, none of it where tumour evidence peaks ...
    r, c = peak(tumour.map)
    assert normal.map[r, c] == 0.0
    assert normal.map[SQ_ROWS, SQ_COLS].mean() < 0.2 < 0.5 < tumour.map[SQ_ROWS, SQ_COLS].mean()
    assert normal.map[60:, :40].min() == pytest.approx(1.0)
    # ... so the two maps are (nearly) complementary, never the same picture.
    assert np.corrcoef(tumour.map.ravel(), normal.map.ravel())[0, 1] < -0.5
    # The probability does not depend on which side is explained.
    assert normal.p_tumour == tumour.p_tumour


@pytest.mark.parametrize("method", CLASS_SPECIFIC)
def test_normal_call_explains_normal_by_default(method: str) -> None:
    clf = FakeClassifier(SquareNet())
    e = explain_patch(clf, dark_square_patch(), method=method)
    assert e.target == "normal" and e.p_tumour < 0.5 and e.ok
    assert e.map is not None
    r, c = peak(e.map)
    assert 60 <= r < 70 and 20 <= c < 30
    # Explaining "tumour" instead finds nothing in favour of it: no map, not a map of noise.
    forced = explain_patch(clf, dark_square_patch(), method=method, target="tumour")
    assert forced.status is ExplainStatus.NO_EVIDENCE and forced.map is None
    # Grad-CAM sees negative evidence only; the methods that ReLU the gradients see none.
    assert forced.reason in {"no positive evidence at this layer", "empty map"}
    assert forced.centre_focus is None


def test_probability_uses_the_temperature() -> None:
    clf = FakeClassifier(SquareNet(), temperature=4.0)
    e = explain_patch(clf, square_patch())
    assert e.p_tumour == pytest.approx(1.0 / (1.0 + np.exp(-e.logit / 4.0)))
    # Extreme logits saturate without overflow warnings (warnings are errors here).
    huge = FakeClassifier(SquareNet(head_weights=(1e6, -1e4)))
    assert explain_patch(huge, np.zeros((96, 96, 3), np.uint8)).p_tumour == 0.0
    assert explain_patch(huge, square_patch()).p_tumour == 1.0


# --------------------------------------------------------------------------- no evidence


@pytest.mark.parametrize("method", list(METHODS))
def test_zero_gradients_give_no_localised_evidence(method: str) -> None:
    e = explain_patch(FakeClassifier(ConstantNet()), square_patch(), method=method)
    if method == "eigencam":
        # EigenCAM ignores gradients: the activations still localise the square.
        assert e.ok
        return
    assert e.status is ExplainStatus.NO_EVIDENCE and e.reason == "empty map"
    assert e.map is None and e.centre_focus is None
    assert e.p_tumour == pytest.approx(1.0 / (1.0 + np.exp(-2.0)))


@pytest.mark.parametrize("method", list(METHODS))
def test_uniform_patch_is_flat_not_a_solid_colour(method: str) -> None:
    e = explain_patch(FakeClassifier(SquareNet()), np.zeros((96, 96, 3), np.uint8), method=method)
    assert e.target == "normal"
    assert e.status is ExplainStatus.NO_EVIDENCE and e.map is None
    assert e.reason in {"flat map", "empty map"}


def test_non_finite_output_is_reported() -> None:
    net = SquareNet()
    with torch.no_grad():
        net.head.weight.fill_(float("nan"))
    e = explain_patch(FakeClassifier(net), square_patch())
    assert e.status is ExplainStatus.NO_EVIDENCE and e.map is None
    assert e.reason == "non-finite model output" and np.isnan(e.p_tumour)


def test_check_raw_map_reasons() -> None:
    assert check_raw_map(np.full((4, 4), np.nan)).reason == "non-finite map"
    assert check_raw_map(np.zeros((4, 4))).reason == "empty map"
    noise = np.random.default_rng(0).normal(0.0, 1e-9, (4, 4))
    assert check_raw_map(noise, reference=1.0).reason == "empty map"
    assert check_raw_map(noise).ok  # without a scale, noise cannot be told from evidence
    assert check_raw_map(-np.ones((4, 4))).reason == "no positive evidence at this layer"
    assert check_raw_map(np.full((4, 4), 3.0)).reason == "flat map"
    assert check_raw_map(3.0 + 1e-3 * np.eye(4)).reason == "flat map"
    ok = np.zeros((4, 4))
    ok[1, 2] = 1.0
    assert check_raw_map(ok).ok


# --------------------------------------------------------------------------- model state


def test_no_hooks_or_gradients_left_behind() -> None:
    net = SquareNet()
    clf = FakeClassifier(net)
    for method in METHODS:
        for _ in range(3):
            explain_patch(clf, square_patch(), method=method)
            assert_no_hooks(net)
    assert not net.training


def test_hooks_released_when_explaining_fails() -> None:
    net = SquareNet(head_weights=(1.0, 0.0, 0.0, 1.0))  # two logits: not our kind of model
    with pytest.raises(ValueError, match="single-logit"):
        explain_patch(FakeClassifier(net), square_patch())
    assert_no_hooks(net)


def test_unknown_layer_and_method_are_rejected() -> None:
    clf = FakeClassifier(SquareNet())
    with pytest.raises(ValueError, match="no layer"):
        explain_patch(clf, square_patch(), layer="nope")
    with pytest.raises(ValueError, match="unknown method"):
        explain_patch(clf, square_patch(), method="scorecam")
    assert_no_hooks(clf.network)


@pytest.mark.parametrize("context", ["no_grad", "inference_mode"])
def test_works_inside_no_grad_and_inference_mode(context: str) -> None:
    clf = FakeClassifier(SquareNet())
    expected = explain_patch(clf, square_patch())
    outer = torch.no_grad() if context == "no_grad" else torch.inference_mode()
    with outer:
        got = explain_patch(clf, square_patch())
        # An inference tensor as input (e.g. made by a preprocess under inference_mode).
        tensor_result = explain_tensor(clf.network, clf.preprocess(square_patch()), "features")
    assert got.map is not None and expected.map is not None
    np.testing.assert_array_equal(got.map, expected.map)
    assert tensor_result[0].map is not None
    np.testing.assert_array_equal(tensor_result[0].map, expected.map)
    assert_no_hooks(clf.network)


def test_frozen_weights_still_explain() -> None:
    net = SquareNet().requires_grad_(False)
    e = explain_patch(FakeClassifier(net), square_patch())
    assert e.ok and e.map is not None
    r, c = peak(e.map)
    assert SQ_ROWS.start <= r < SQ_ROWS.stop and SQ_COLS.start <= c < SQ_COLS.stop


def test_threads_on_one_model_get_identical_results() -> None:
    clf = FakeClassifier(SquareNet())
    patches = [square_patch(), dark_square_patch()]
    expected = [explain_patch(clf, p, method=m) for p in patches for m in METHODS]
    failures: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(5):
                got = [explain_patch(clf, p, method=m) for p in patches for m in METHODS]
                for g, e in zip(got, expected, strict=True):
                    assert g.status == e.status and g.p_tumour == e.p_tumour
                    if e.map is None:
                        assert g.map is None
                    else:
                        assert g.map is not None
                        np.testing.assert_array_equal(g.map, e.map)
        except BaseException as exc:  # reported on the main thread below
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not failures, failures
    assert_no_hooks(clf.network)


# --------------------------------------------------------------------------- batches, layers


def test_batch_matches_single_patches_and_reports_progress() -> None:
    clf = FakeClassifier(SquareNet())
    patches = np.stack([square_patch(), dark_square_patch(), np.zeros((96, 96, 3), np.uint8)])
    seen: list[tuple[int, int | None]] = []
    batch = explain_batch(clf, patches, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(2, 3), (3, 3)]
    for pixels, b in zip(patches, batch, strict=True):
        single = explain_patch(clf, pixels)
        assert (b.status, b.target, b.reason) == (single.status, single.target, single.reason)
        if single.map is None:
            assert b.map is None
        else:
            assert b.map is not None
            np.testing.assert_allclose(b.map, single.map, atol=1e-5)


def test_batch_cancel() -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        explain_batch(FakeClassifier(SquareNet()), [square_patch()], cancel=token)


def test_layer_defaults_from_metadata_then_probe() -> None:
    assert default_cam_layer(FakeClassifier(SquareNet())) == "features"
    probed = FakeClassifier(SquareNet(), cam_layers=None)
    assert default_cam_layer(probed) == "features"  # last layer with a 12 x 12 map
    assert next(iter(cam_layer_choices(probed).values())) == 12
    e = explain_patch(probed, square_patch(), layer="features.0")
    assert e.layer == "features.0" and e.map_side == (12, 12)


# --------------------------------------------------------------------------- maps, overlay


def test_centre_focus_bounds() -> None:
    inside = np.zeros((96, 96), np.float32)
    inside[32:64, 32:64] = 1.0
    assert centre_focus(inside) == 1.0
    outside = np.ones((96, 96), np.float32)
    outside[32:64, 32:64] = 0.0
    assert centre_focus(outside) == 0.0
    assert centre_focus(np.ones((96, 96), np.float32)) == pytest.approx(1024 / 9216)
    assert centre_focus(None) is None
    assert centre_focus(np.zeros((96, 96), np.float32)) is None


def test_upsample_matches_torch_bilinear() -> None:
    raw = np.random.default_rng(0).random((12, 12)).astype(np.float32)
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(raw)[None, None], size=(96, 96), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(upsample(raw, (96, 96)), ref, atol=1e-5)
    heat = normalise_map(raw - 0.5)
    assert heat.shape == (96, 96) and heat.min() == 0.0 and heat.max() == pytest.approx(1.0)


def test_overlay_alpha_follows_the_map() -> None:
    heat = np.zeros((96, 96), np.float32)
    heat[10:20, 70:80] = 1.0
    heat[50, 50] = 0.5
    rgba = overlay_rgba(heat, opacity=0.8)
    assert rgba.shape == (96, 96, 4) and rgba.dtype == np.uint8
    assert rgba[..., 3][heat == 0].max() == 0
    assert rgba[15, 75, 3] == round(255 * 0.8)
    assert rgba[50, 50, 3] == round(255 * 0.8 * 0.5)
    np.testing.assert_array_equal(rgba[15, 75, :3], colormap_lut("inferno")[255])
    assert overlay_rgba(heat, opacity=0.0)[..., 3].max() == 0
    patch = np.full((96, 96, 3), 200, np.uint8)
    blended = blend(patch, rgba)
    np.testing.assert_array_equal(blended[heat == 0], patch[heat == 0])
    assert not np.array_equal(blended[15, 75], patch[15, 75])
    with pytest.raises(ValueError):
        overlay_rgba(heat, opacity=1.5)


@pytest.mark.parametrize("name", COLORMAPS)
def test_luts_are_monotone_enough_and_close_to_matplotlib(name: str) -> None:
    lut = colormap_lut(name)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    if name == "jet":
        np.testing.assert_array_equal(lut[0], [0, 0, 128])
        np.testing.assert_array_equal(lut[255], [128, 0, 0])
        return
    mpl = pytest.importorskip("matplotlib")
    ref = mpl.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0
    assert np.abs(lut.astype(float) - ref).max() <= 3.0


@pytest.mark.slow
def test_importing_explain_does_not_load_grad_cam() -> None:
    """pytorch-grad-cam (OpenCV, scikit-learn, matplotlib.pyplot) loads on first use only."""
    code = (
        "import sys, pathview.explain; "
        "loaded = sorted({'pytorch_grad_cam', 'matplotlib', 'cv2'} & set(sys.modules)); "
        "sys.exit(f'loaded at import: {loaded}' if loaded else 0)"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- real data


def _bundled_classifier() -> Any:
    try:
        from pathview.model import default_model_dir, load_model
    except ImportError as exc:
        pytest.skip(f"pathview.model.load_model is not available yet ({exc})")
    model_dir = default_model_dir()
    if not (model_dir / "model.json").is_file():
        pytest.skip(f"bundled model not found at {model_dir} (not built yet)")
    return load_model(model_dir, device="cpu")


def test_real_patches_give_finite_localised_maps(data_dir: Path) -> None:
    from pathview.io.decode import read_patch

    clf = _bundled_classifier()
    files = sorted((data_dir / "kaggle").glob("*.tif"))[:16]
    if not files:
        pytest.skip("no Kaggle fixture patches in tests/data/kaggle")
    decoded = [read_patch(f).pixels for f in files]
    pixels = np.stack([p for p in decoded if p is not None])
    layer = default_cam_layer(clf)
    assert cam_layer_choices(clf)[layer] >= 12
    results = explain_batch(clf, pixels)
    ok = [e for e in results if e.ok]
    assert len(ok) >= 0.9 * len(results), [e.reason for e in results]
    for e in ok:
        assert e.map is not None and np.isfinite(e.map).all()
        assert e.map.std() > 0.05 and e.map.max() == pytest.approx(1.0)
        assert e.centre_focus is not None and 0.0 <= e.centre_focus <= 1.0
        assert e.target == ("tumour" if e.p_tumour >= 0.5 else "normal")
    # Probabilities agree with the classifier's own float32 (BN-folded) prediction path, and
    # closely with the int8 one a CPU scores with (Grad-CAM needs the float32 network).
    from pathview.model import load_model

    explained = [e.p_tumour for e in results]
    fp32 = load_model(clf.model_dir, device="cpu", precision="float32")
    np.testing.assert_allclose(explained, fp32.predict(pixels).p, rtol=0, atol=1e-4)
    np.testing.assert_allclose(explained, clf.predict(pixels).p, rtol=0, atol=0.03)
    # A patch of another size is brought to the input size by the classifier.
    odd = read_patch(data_dir / "formats" / "normal_odd_100x80.tif").pixels
    assert odd is not None and odd.shape[:2] != (96, 96)
    mixed = explain_batch(clf, [pixels[0], odd])
    assert [m.map.shape for m in mixed if m.map is not None] == [(96, 96)] * sum(
        m.ok for m in mixed
    )
    assert_no_hooks(clf.network)
