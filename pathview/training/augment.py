"""Batched, device-side augmentation for H&E patches (runs on the GPU when training has one).

Input and output: float N x 3 x H x W tensors in [0, 1] (RGB). Each patch gets, independently:
- one of the 8 flips/rotations of the square (the dihedral group D4: tissue has no up);
- optionally a small random translation (whole pixels, mirrored at the edges), so the network
  does not tie its evidence to exact positions; kept small because the label is defined by
  the central 32x32 region, which moves with the tissue;
- mild H&E stain jitter in optical-density space (Tellez et al. 2018: each of the haematoxylin,
  eosin and residual channels scaled by 1 +- sigma and shifted by +- sigma);
- mild brightness, contrast, saturation and hue jitter (hue as a rotation in YIQ space);
- optionally a JPEG re-encode at a random quality (the training set is JPEG, users open lossless
  TIFFs: varying the compression level keeps the network from relying on its artefacts).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pathview.model import dihedral_view

log = logging.getLogger(__name__)

# RGB -> HED stain matrix (Ruifrok & Johnston), as in skimage.color.
_RGB_FROM_HED = torch.tensor(
    [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], dtype=torch.float32
)
_RGB_FROM_HED = _RGB_FROM_HED / _RGB_FROM_HED.norm(dim=1, keepdim=True)
_RGB_FROM_HED[2] = torch.linalg.cross(_RGB_FROM_HED[0], _RGB_FROM_HED[1])
_RGB_FROM_HED[2] = _RGB_FROM_HED[2] / _RGB_FROM_HED[2].norm()
_HED_FROM_RGB = torch.linalg.inv(_RGB_FROM_HED)

_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float32
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of the augmentations (0 turns one off)."""

    dihedral: bool = True
    shift: int = 0  # largest translation in pixels, per axis
    stain_sigma: float = 0.04
    brightness: float = 0.1
    contrast: float = 0.1
    saturation: float = 0.1
    hue: float = 0.03  # fraction of a full turn
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (60, 95)


def random_dihedral(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Each patch in a random one of the 8 dihedral views (square patches only)."""
    n = x.shape[0]
    views = torch.randint(0, 8, (n,), device=x.device, generator=gen)
    out = torch.empty_like(x)
    for k in range(8):
        idx = torch.nonzero(views == k).squeeze(1)
        if idx.numel():
            out[idx] = dihedral_view(x[idx], k)
    return out


def random_shift(
    x: torch.Tensor, max_shift: int, gen: torch.Generator | None = None
) -> torch.Tensor:
    """Translate each patch by whole pixels, dx and dy ~ U{-max_shift..max_shift} independently.

    Pixels shifted in at an edge mirror the patch (reflect padding, edge pixel not repeated),
    so no blank border appears. Exact: every output pixel is an input pixel.
    """
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    if max_shift >= min(h, w):
        raise ValueError(f"shift {max_shift} must be smaller than the patch ({h}x{w})")
    padded = F.pad(x, (max_shift, max_shift, max_shift, max_shift), mode="reflect")
    dy = torch.randint(0, 2 * max_shift + 1, (n,), device=x.device, generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), device=x.device, generator=gen)
    rows = dy.view(n, 1) + torch.arange(h, device=x.device).view(1, h)  # n x h
    cols = dx.view(n, 1) + torch.arange(w, device=x.device).view(1, w)  # n x w
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    # Advanced indexing on (batch, row, col) with channels last, then back to N x C x H x W.
    out = padded.permute(0, 2, 3, 1)[batch, rows.view(n, h, 1), cols.view(n, 1, w)]
    return out.permute(0, 3, 1, 2).contiguous()


def _uniform(
    n: int, spread: float, like: torch.Tensor, gen: torch.Generator | None
) -> torch.Tensor:
    return (torch.rand(n, device=like.device, generator=gen) * 2 - 1) * spread


def _apply_affine(x: torch.Tensor, mat: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Per-patch colour transform: x[n] <- mat[n] @ x[n] + offset[n] over the channel axis."""
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w)
    return torch.baddbmm(offset.view(n, c, 1), mat, flat).view(n, c, h, w)


def stain_jitter(x: torch.Tensor, sigma: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Scale and shift each HED optical-density channel per patch by ~ U(-sigma, sigma).

    In optical density (OD = -log RGB) the stain mixing is linear, so the whole jitter is one
    3 x 3 matrix and offset per patch: OD' = R^T diag(alpha) H^T OD + R^T beta.
    """
    n = x.shape[0]
    alpha = 1 + _uniform(n * 3, sigma, x, gen).view(n, 3)
    beta = _uniform(n * 3, sigma, x, gen).view(n, 3)
    hed_from_rgb = _HED_FROM_RGB.to(x.device)  # od_row @ hed_from_rgb = hed_row
    rgb_from_hed = _RGB_FROM_HED.to(x.device)
    # Column-vector form: hed = H^T od, od = R^T hed.
    mat = rgb_from_hed.T.unsqueeze(0) @ (alpha.unsqueeze(2) * hed_from_rgb.T.unsqueeze(0))
    offset = beta @ rgb_from_hed
    od = -torch.log(x.clamp(min=1.0 / 255.0))
    return torch.exp(-_apply_affine(od, mat, offset)).clamp_(0, 1)


def colour_jitter(
    x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator | None = None
) -> torch.Tensor:
    """Brightness, contrast, saturation and hue jitter, one draw per patch.

    All four are linear in RGB, so they are composed into one 3 x 3 matrix and offset per
    patch: brightness b scales, contrast k pulls towards the patch mean, saturation s scales
    the chroma (I, Q) of YIQ and the hue turns it by theta.
    """
    n = x.shape[0]
    dev = x.device
    b = 1 + _uniform(n, cfg.brightness, x, gen)
    k = 1 + _uniform(n, cfg.contrast, x, gen)
    sat = 1 + _uniform(n, cfg.saturation, x, gen)
    theta = _uniform(n, cfg.hue * 2 * math.pi, x, gen)
    cos, sin = torch.cos(theta) * sat, torch.sin(theta) * sat
    chroma = torch.zeros(n, 3, 3, device=dev)
    chroma[:, 0, 0] = 1
    chroma[:, 1, 1], chroma[:, 1, 2] = cos, -sin
    chroma[:, 2, 1], chroma[:, 2, 2] = sin, cos
    yiq_mat = _YIQ_TO_RGB.to(dev) @ chroma @ _RGB_TO_YIQ.to(dev)  # n x 3 x 3
    mean = x.mean(dim=(1, 2, 3))  # grey level the contrast pivots on
    mat = yiq_mat * (k * b).view(n, 1, 1)
    # (1 - k) * b * mean on every channel, then through the chroma transform (grey stays grey).
    offset = ((1 - k) * b * mean).view(n, 1) * yiq_mat.sum(dim=2)
    return _apply_affine(x, mat, offset).clamp_(0, 1)


class JpegJitter:
    """Re-encode a random subset of a batch as JPEG at a random quality (torchvision.io).

    Uses the GPU encoder/decoder for CUDA tensors. If the codec fails it logs once and
    turns itself off, so training never stops over an optional augmentation.
    """

    def __init__(self, prob: float, quality: tuple[int, int]) -> None:
        self.prob = prob
        self.quality = quality
        self.enabled = prob > 0

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        if not self.enabled:
            return x
        n = x.shape[0]
        pick = torch.nonzero(torch.rand(n, device=x.device, generator=gen) < self.prob).squeeze(1)
        if pick.numel() == 0:
            return x
        lo, hi = self.quality
        quality = int(torch.randint(lo, hi + 1, (1,), generator=gen, device=x.device).item())
        try:
            from torchvision.io import decode_jpeg, encode_jpeg

            u8 = (x[pick] * 255 + 0.5).clamp(0, 255).to(torch.uint8)
            encoded = encode_jpeg(list(u8), quality=quality)
            decoded = decode_jpeg(encoded, device=x.device)
            out = x.clone()
            out[pick] = torch.stack([d.float() for d in decoded]) / 255.0
            return out
        except Exception as exc:  # optional augmentation: never fatal
            log.warning("JPEG jitter disabled (%s: %s)", type(exc).__name__, exc)
            self.enabled = False
            return x


class Augmenter:
    """All augmentations of :class:`AugmentConfig` applied to a float batch in [0, 1]."""

    def __init__(self, cfg: AugmentConfig) -> None:
        self.cfg = cfg
        self.jpeg = JpegJitter(cfg.jpeg_prob, cfg.jpeg_quality)

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        x = self.jpeg(x, gen)
        if self.cfg.dihedral:
            x = random_dihedral(x, gen)
        if self.cfg.shift:
            x = random_shift(x, self.cfg.shift, gen)
        if self.cfg.stain_sigma:
            x = stain_jitter(x, self.cfg.stain_sigma, gen)
        return colour_jitter(x, self.cfg, gen)
