"""Test doubles for the workers and GUI tests: a tiny real CNN classifier, loaders, explainers.

The classifier runs a small randomly initialised PatchNet (so Grad-CAM has a real network to
hook), but its P(tumour) is a deterministic function of the pixels (share of dark, nuclei-like
pixels) so sort orders can be asserted. ``ViewsFakeClassifier`` looks at the top half of each
flip/rotation only, so its 8 TTA views disagree on some patches (an unstable call).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pathview.explain import ExplainStatus, Explanation
from pathview.model.metadata import ModelMetadata
from pathview.model.network import PatchNet
from support.models import TINY


def fake_p(pixels: np.ndarray) -> float:
    """Deterministic stand-in for P(tumour): share of dark pixels, squashed into (0, 1)."""
    grey = pixels.astype(np.float32).mean(axis=2)
    share = float((grey < 150).mean())
    return float(np.clip(0.02 + 0.96 * share, 0.0, 1.0))


@dataclass
class Prediction:
    p: np.ndarray
    spread: np.ndarray | None
    views: np.ndarray | None = None


@dataclass
class FakeClassifier:
    """Has every attribute of pathview.model.Classifier the app uses."""

    model_id: str = "tiny-test-model"
    network: torch.nn.Module = field(default_factory=lambda: PatchNet(TINY).eval())
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    metadata: ModelMetadata = field(default_factory=ModelMetadata)
    temperature: float = 1.0
    cam_layers: dict[str, Any] = field(
        default_factory=lambda: {"default": "stages.0", "candidates": {"stages.0": 48, "stem": 48}}
    )
    calls: int = 0

    def preprocess(self, pixels: np.ndarray) -> torch.Tensor:
        batch = pixels[None] if pixels.ndim == 3 else pixels
        return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float() / 255.0

    def predict(self, pixels: np.ndarray, tta: bool = False, batch_size: int = 256) -> Prediction:
        self.calls += 1
        with torch.no_grad():
            self.network(self.preprocess(pixels))  # exercise the real network
        p = np.array([fake_p(px) for px in pixels])
        spread = np.abs(p - 0.5) * 0.1 + 0.01 if tta else None
        return Prediction(p, spread)


def fake_loader(_model_dir: Path | None, _device: str) -> FakeClassifier:
    return FakeClassifier()


def top_half_p(pixels: np.ndarray) -> np.ndarray:
    """Share of dark pixels in the top half of each patch (N x H x W x 3), squashed into (0, 1):
    unlike ``fake_p`` it changes when the patch is flipped or rotated."""
    grey = pixels.astype(np.float32).mean(axis=-1)
    half = grey.shape[1] // 2
    return (0.02 + 0.96 * (grey[:, :half] < 150).mean(axis=(1, 2))).astype(np.float32)


@dataclass
class ViewsFakeClassifier(FakeClassifier):
    """With TTA, returns each of the 8 flips/rotations' P(tumour) as ``views`` (as
    pathview.model.Classifier does); on the Kaggle fixtures some patches' views straddle 0.5."""

    model_id: str = "views-test-model"

    def predict(self, pixels: np.ndarray, tta: bool = False, batch_size: int = 256) -> Prediction:
        from pathview.model import dihedral_view

        self.calls += 1
        if not tta:
            return Prediction(top_half_p(pixels), None)
        nchw = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2)
        flipped = [dihedral_view(nchw, k).permute(0, 2, 3, 1).numpy() for k in range(8)]
        views = np.stack([top_half_p(px) for px in flipped], axis=1)
        return Prediction(views.mean(axis=1), views.std(axis=1), views)


def views_loader(_model_dir: Path | None, _device: str) -> ViewsFakeClassifier:
    return ViewsFakeClassifier()


def failing_loader(_model_dir: Path | None, _device: str) -> FakeClassifier:
    raise RuntimeError("weights file is missing (test)")


def hot_corner_explainer(
    _classifier: Any, pixels: np.ndarray, method: str, layer: str
) -> Explanation:
    """A known map: 1.0 in the top-left 24x24 square, 0 elsewhere."""
    heat = np.zeros(pixels.shape[:2], np.float32)
    heat[:24, :24] = 1.0
    return Explanation(
        map=heat,
        status=ExplainStatus.OK,
        reason="",
        centre_focus=0.0,
        p_tumour=fake_p(pixels),
        logit=0.0,
        target="tumour",
        method=method or "gradcam",
        layer=layer or "stages.0",
        map_side=(12, 12),
        class_specific=True,
    )


def colour_features(pixels: np.ndarray) -> np.ndarray:
    """A stand-in embedding: each patch's mean and spread of R, G, B and of its grey levels'
    4 x 4 block means (float32 N x 22), so similar-looking patches lie close together."""
    px = pixels.astype(np.float32) / 255.0
    n, h, w, _ = px.shape
    blocks = px.mean(axis=-1).reshape(n, 4, h // 4, 4, w // 4).mean(axis=(2, 4)).reshape(n, 16)
    return np.concatenate([px.mean(axis=(1, 2)), px.std(axis=(1, 2)), blocks], axis=1)


@dataclass
class FeaturesPrediction(Prediction):
    features: np.ndarray | None = None


@dataclass
class FeaturesFakeClassifier(FakeClassifier):
    """Gives embeddings (``features=True``) as pathview.model.Classifier does:
    :func:`colour_features`."""

    model_id: str = "features-test-model"

    def predict(  # type: ignore[override]
        self, pixels: np.ndarray, tta: bool = False, batch_size: int = 256, features: bool = False
    ) -> FeaturesPrediction:
        base = FakeClassifier.predict(self, pixels, tta, batch_size)
        return FeaturesPrediction(
            base.p, base.spread, features=colour_features(pixels) if features else None
        )


def features_loader(_model_dir: Path | None, _device: str) -> FeaturesFakeClassifier:
    return FeaturesFakeClassifier()
