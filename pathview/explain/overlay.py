"""Heat-map overlay maths: colour look-up tables, RGBA overlays and alpha blending.

Everything returns plain uint8 arrays; the GUI only displays them. The perceptual maps
(inferno, viridis, turbo) are rebuilt from 33 evenly spaced anchors of matplotlib's tables
(linear interpolation stays within 3/255 of the originals), so matplotlib is never imported
at run time; jet is computed from its piecewise-linear definition.
"""

from __future__ import annotations

from functools import cache

import numpy as np

#: Colormaps :func:`overlay_rgba` accepts.
COLORMAPS = ("inferno", "viridis", "turbo", "jet")
DEFAULT_COLORMAP = "inferno"

# LUT indices 0, 8, 16, ..., 255 (np.round(np.linspace(0, 255, 33))) of matplotlib 3.x.
_ANCHORS = {
    "inferno": (
        "000004 040312 0b0724 150b37 210c4a 2f0a5b 3d0965 4a0c6b 57106e 64156e 71196e "
        "7d1e6d 8a226a 972766 a32c61 b0315b bc3754 c63d4d d04545 da4e3c e35933 eb6429 "
        "f1711f f67e14 f98c0a fb9b06 fcaa0f fbba1f f9c932 f5d949 f2e865 f3f586 fcffa4"
    ),
    "viridis": (
        "440154 470d60 48186a 482374 472d7b 453781 424086 3e4989 3b528b 375b8d 33638d "
        "2f6b8e 2c728e 297a8e 26828e 23898e 21918c 1f978b 1f9f88 21a685 27ad81 31b57b "
        "3dbc74 4cc26c 5cc863 6ece58 81d34d 95d840 aadc32 c0df25 d5e21a eae51a fde725"
    ),
    "turbo": (
        "30123b 392a73 4040a2 4456c7 466be3 4680f6 4294ff 37a8fa 28bceb 1ccdd8 18ddc2 "
        "1fe9af 32f298 4ef97d 6dfe62 8bff4b a4fc3c b7f735 cbed34 dde037 ecd13a f7c13a "
        "fdae35 fe992c fb8122 f56918 ec530f e14109 d23105 c12302 ac1701 950d01 7a0403"
    ),
}


@cache
def colormap_lut(name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """256 x 3 uint8 RGB look-up table of a colormap in :data:`COLORMAPS` (read-only)."""
    x = np.arange(256, dtype=np.float64)
    lut: np.ndarray
    if name == "jet":
        t = x / 255.0
        # Classic jet: each channel is a clipped tent, red peaking late, blue early.
        rgb = np.stack(
            [np.clip(1.5 - np.abs(4.0 * t - c), 0.0, 1.0) for c in (3.0, 2.0, 1.0)], axis=1
        )
        lut = np.round(rgb * 255.0)
    elif name in _ANCHORS:
        anchors = np.array(
            [[int(h[i : i + 2], 16) for i in (0, 2, 4)] for h in _ANCHORS[name].split()],
            dtype=np.float64,
        )
        idx = np.round(np.linspace(0, 255, len(anchors)))
        lut = np.round(np.stack([np.interp(x, idx, anchors[:, c]) for c in range(3)], axis=1))
    else:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    out = lut.astype(np.uint8)
    out.setflags(write=False)
    return out


def overlay_rgba(
    heatmap: np.ndarray, opacity: float = 0.6, colormap: str = DEFAULT_COLORMAP
) -> np.ndarray:
    """Colour a [0, 1] map into an H x W x 4 uint8 RGBA overlay.

    Colour comes from the colormap's LUT; alpha is ``255 * opacity * value``, so regions
    without evidence (value 0) are fully transparent whatever the opacity, and the hottest
    region is drawn at the user's opacity. Values outside [0, 1] are clipped and NaN counts
    as 0. Only pass maps of status "ok" (:class:`pathview.explain.Explanation` with a map).
    """
    if heatmap.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {heatmap.shape}")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    values = np.nan_to_num(heatmap.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(values, 0.0, 1.0, out=values)
    out = np.empty((*values.shape, 4), dtype=np.uint8)
    out[..., :3] = colormap_lut(colormap)[np.round(values * 255.0).astype(np.intp)]
    out[..., 3] = np.round(values * (255.0 * opacity)).astype(np.uint8)
    return out


def blend(rgb: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """Alpha-blend an RGBA overlay onto an H x W x 3 uint8 RGB patch (same H x W)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected H x W x 3 RGB, got shape {rgb.shape}")
    if rgba.shape != (*rgb.shape[:2], 4):
        raise ValueError(f"overlay shape {rgba.shape} does not match patch {rgb.shape}")
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    mixed = rgb.astype(np.float32) * (1.0 - alpha) + rgba[..., :3].astype(np.float32) * alpha
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)
