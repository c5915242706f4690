"""Pure numpy maths on class-activation maps: validity, upsampling, normalisation, centre focus.

A raw map here is the method's weighted activation sum at the layer's resolution, *before*
any ReLU or rescaling, so that an empty, flat or non-finite map can be recognised as such.
pytorch-grad-cam min-max scales every map to [0, 1] (dividing by ``max + 1e-7``), which
turns an all-zero map into zeros and a constant or near-constant one into amplified noise
or a solid colour; neither may reach the screen as if it were evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from pathview.core import CENTRE_BOX, NATIVE_SIZE

#: A positive part whose contrast ``(max - min) / max`` is below this is "flat": normalised
#: by its maximum it would paint the whole patch in one colour, which says nothing about
#: *where* the evidence is.
FLAT_CONTRAST = 0.05

#: A positive peak below this fraction of the map's largest magnitude is rounding noise.
NEGLIGIBLE_PEAK = 1e-6

#: A map whose largest magnitude is below this fraction of its reference scale (a bound on
#: the map built from the layer's activation and gradient magnitudes) is float noise left
#: after cancellation, e.g. the principal component of spatially constant activations.
EMPTY_RELATIVE = 1e-5


@dataclass(frozen=True, slots=True)
class MapCheck:
    """Outcome of :func:`check_raw_map`: ``reason`` is empty when the map is usable."""

    reason: str

    @property
    def ok(self) -> bool:
        return not self.reason


def check_raw_map(raw: np.ndarray, reference: float | None = None) -> MapCheck:
    """Decide whether a raw (pre-ReLU, unscaled) 2-D map holds localised positive evidence.

    ``reference``: the magnitude the map could have given the layer's activations (and
    gradients); without it only exact zeros count as empty.
    Reasons, in the order checked: ``"non-finite map"`` (NaN/inf anywhere, e.g. from a
    diverged model), ``"empty map"`` (all zeros, or negligible against ``reference``: zero
    gradients, dead or spatially constant activations),
    ``"no positive evidence at this layer"`` (nothing survives the ReLU) and
    ``"flat map"`` (the positive part has less than :data:`FLAT_CONTRAST` contrast).
    """
    if raw.ndim != 2 or raw.size == 0:
        raise ValueError(f"expected a non-empty 2-D map, got shape {raw.shape}")
    if not np.all(np.isfinite(raw)):
        return MapCheck("non-finite map")
    scale = float(np.max(np.abs(raw)))
    if scale == 0.0 or (reference is not None and scale <= EMPTY_RELATIVE * reference):
        return MapCheck("empty map")
    positive = np.maximum(raw, 0.0)
    peak = float(positive.max())
    if peak <= NEGLIGIBLE_PEAK * scale:
        return MapCheck("no positive evidence at this layer")
    if (peak - float(positive.min())) < FLAT_CONTRAST * peak:
        return MapCheck("flat map")
    return MapCheck("")


@cache
def _interp_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) bilinear weights with half-pixel centres, edges clamped.

    The same sampling as ``cv2.resize(INTER_LINEAR)`` and ``F.interpolate(bilinear,
    align_corners=False)``: output pixel centre ``i + 0.5`` maps to input ``(i + 0.5) *
    n_in / n_out - 0.5``.
    """
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    m = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    m[rows, lo] += 1.0 - frac
    m[rows, hi] += frac
    m.setflags(write=False)  # cached and shared
    return m


def upsample(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize a 2-D map to ``size`` = (height, width); returns float32."""
    my = _interp_matrix(raw.shape[0], size[0])
    mx = _interp_matrix(raw.shape[1], size[1])
    out: np.ndarray = (my @ raw.astype(np.float64) @ mx.T).astype(np.float32)
    return out


def normalise_map(
    raw: np.ndarray, size: tuple[int, int] = (NATIVE_SIZE, NATIVE_SIZE)
) -> np.ndarray:
    """ReLU, upsample to ``size`` and divide by the peak: float32 in [0, 1], 0 = no evidence.

    Divides by the maximum rather than min-max scaling (as pytorch-grad-cam does) so that
    zero keeps meaning "no evidence for the target class" wherever the map is not positive;
    call :func:`check_raw_map` first — this function assumes a usable map.
    """
    up = upsample(np.maximum(raw, 0.0), size)
    np.maximum(up, 0.0, out=up)
    peak = float(up.max())
    if not np.isfinite(peak) or peak <= 0.0:
        raise ValueError("map has no positive values; check it with check_raw_map first")
    up /= peak
    np.clip(up, 0.0, 1.0, out=up)
    return up


def centre_focus(heatmap: np.ndarray | None) -> float | None:
    """Fraction of a map's mass inside the label-defining central box.

    1.0 when all the mass lies in the box, 0.0 when none does, None for no map (or no mass).
    :data:`pathview.core.CENTRE_BOX` is defined on a 96-pixel patch; on a map of another
    size the box is scaled proportionally.
    """
    if heatmap is None:
        return None
    if heatmap.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {heatmap.shape}")
    h, w = heatmap.shape
    x0, y0, x1, y1 = CENTRE_BOX
    sy, sx = h / NATIVE_SIZE, w / NATIVE_SIZE
    mass = np.maximum(heatmap.astype(np.float64), 0.0)
    total = float(mass.sum())
    if not np.isfinite(total) or total <= 0.0:
        return None
    inside = float(mass[round(y0 * sy) : round(y1 * sy), round(x0 * sx) : round(x1 * sx)].sum())
    return min(max(inside / total, 0.0), 1.0)
