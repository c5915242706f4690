"""Penultimate-layer features (embeddings) from the same forward pass as P(tumour): the model
layer's ``predict(..., features=True)`` for float32 and int8, and the scoring loop's option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from support.models import make_tiny_model
from support.patches import kaggle_pixels

from pathview.model import Classifier, dihedral_view, load_model
from pathview.model.quantised import int8_unavailable
from pathview.scoring import score_folder, score_pixels
from pathview.training.quantise import add_int8


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return kaggle_pixels(Path(__file__).parent / "data", 20)


def hooked_features(network: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The input of ``head.fc`` in a plain forward pass, taken by a separate hook."""
    got: list[torch.Tensor] = []
    layer = dict(network.named_modules())["head.fc"]
    handle = layer.register_forward_pre_hook(lambda m, inputs: got.append(inputs[0]))
    try:
        with torch.inference_mode():
            network(x)
    finally:
        handle.remove()
    (feats,) = got
    return feats.dequantize() if feats.is_quantized else feats


@pytest.mark.parametrize("tta", [False, True])
def test_features_leave_p_bitwise_unchanged(tiny_dir: Path, pixels: np.ndarray, tta: bool) -> None:
    clf = load_model(tiny_dir, device="cpu", precision="float32")
    plain = clf.predict(pixels, tta=tta, batch_size=7)
    with_feats = clf.predict(pixels, tta=tta, batch_size=7, features=True)
    assert plain.features is None
    assert np.array_equal(plain.p, with_feats.p)
    if tta:
        assert plain.views is not None and with_feats.views is not None
        assert np.array_equal(plain.views, with_feats.views)
    assert with_feats.features is not None
    assert with_feats.features.shape == (len(pixels), 16)  # the tiny net's last stage
    assert with_feats.features.dtype == np.float32
    # Recording is switched off again: the next plain call gives none.
    assert clf.predict(pixels[:2]).features is None


def test_features_equal_a_forward_hook_on_the_float_network(
    tiny_dir: Path, pixels: np.ndarray
) -> None:
    clf = load_model(tiny_dir, device="cpu", precision="float32")
    got = clf.predict(pixels, features=True).features
    x = clf.preprocess(pixels)
    # The original network (batch norms not folded): equal to float rounding.
    expected = hooked_features(clf.network, x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # ... and it is what the final layer reads: the logit follows from the features.
    fc = clf.network.head.fc
    logits = torch.from_numpy(got) @ fc.weight.detach().T + fc.bias.detach()
    np.testing.assert_allclose(
        torch.sigmoid(logits.squeeze(1) / clf.temperature).numpy(),
        clf.predict(pixels).p,
        atol=1e-5,
    )


def test_tta_features_are_the_mean_over_the_8_views(tiny_dir: Path, pixels: np.ndarray) -> None:
    clf = load_model(tiny_dir, device="cpu", precision="float32")
    got = clf.predict(pixels, tta=True, batch_size=8, features=True).features
    x = clf.preprocess(pixels)
    views = [
        hooked_features(clf.network, dihedral_view(x, k).contiguous()).numpy() for k in range(8)
    ]
    np.testing.assert_allclose(got, np.mean(views, axis=0), rtol=1e-4, atol=1e-5)
    assert not np.allclose(views[0], views[1])  # the views do differ: the mean is no copy


@pytest.mark.skipif(int8_unavailable() is not None, reason="no x86 int8 kernels here")
def test_int8_features_equal_a_forward_hook_on_the_int8_network(
    tmp_path: Path, pixels: np.ndarray, data_dir: Path
) -> None:
    model = make_tiny_model(tmp_path / "tiny8")
    add_int8(model, data_dir / "kaggle", data_dir / "kaggle" / "labels.csv", n=32, workers=1)
    clf = load_model(model, device="cpu")
    assert clf.precision == "int8"
    plain = clf.predict(pixels, tta=True)
    got = clf.predict(pixels, tta=True, features=True)
    assert np.array_equal(plain.p, got.p)
    assert got.features is not None and got.features.shape == (len(pixels), 16)
    single = clf.predict(pixels, features=True).features
    x = clf.preprocess(pixels)
    expected = hooked_features(clf._fast, x).numpy()
    np.testing.assert_array_equal(single, expected)
    # Close to the float32 network's features (int8 rounding).
    fp32 = load_model(model, device="cpu", precision="float32").predict(pixels, features=True)
    assert fp32.features is not None
    assert np.corrcoef(single.ravel(), fp32.features.ravel())[0, 1] > 0.95


def test_the_scoring_loop_returns_embeddings_only_when_asked(
    tiny_dir: Path, pixels: np.ndarray, kaggle_folder: Path
) -> None:
    clf: Classifier = load_model(tiny_dir, device="cpu", precision="float32")
    assert score_pixels(clf, pixels).features is None
    scores = score_pixels(clf, pixels, batch_size=6, features=True)
    assert scores.features is not None and scores.features.shape == (len(pixels), 16)
    np.testing.assert_array_equal(scores.p, score_pixels(clf, pixels, batch_size=6).p)
    np.testing.assert_array_equal(scores.features, clf.predict(pixels, features=True).features)
    result = score_folder(kaggle_folder, clf, tta=True, batch_size=5, features=True)
    plain = score_folder(kaggle_folder, clf, tta=True, batch_size=5)
    assert plain.features is None
    assert result.features is not None and result.features.shape == (result.scored, 16)
    assert np.array_equal(result.p, plain.p) and result.ids == plain.ids
