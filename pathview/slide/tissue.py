"""Tissue detection on a low-resolution picture of the slide.

The rule (one, documented): convert the overview to HSV, blur the saturation channel (5 x 5
Gaussian) and threshold it with Otsu's method; the threshold is never below
:data:`MIN_SATURATION`, so a slide that is almost all glass does not have its background split
in two; and when even the less saturated of Otsu's two classes is above that floor on
average, there is no glass in the picture (tissue fills it) and the floor alone is the
threshold, rather than Otsu splitting the tissue itself in two. H&E-stained tissue is
saturated (pink and purple), glass and white background are not; pen marks are saturated too
and count as tissue (the quality flags catch ink on a tile).
A tile is kept when at least :data:`MIN_TISSUE_FRACTION` of its area is tissue.
"""

from __future__ import annotations

import numpy as np

#: Lowest saturation threshold (0-255): glass and dust sit well below it.
MIN_SATURATION = 20
#: A tile is listed when at least this fraction of its area is tissue.
MIN_TISSUE_FRACTION = 0.25


def tissue_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean H x W mask of tissue in an RGB uint8 overview (see the module docstring)."""
    import cv2

    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    saturation = cv2.GaussianBlur(hsv[..., 1], (5, 5), 0)
    otsu, _ = cv2.threshold(saturation, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    below = saturation[saturation <= otsu]
    if below.size and float(below.mean()) > MIN_SATURATION:
        return saturation > MIN_SATURATION  # no glass to separate from: tissue everywhere
    return saturation > max(float(otsu), MIN_SATURATION)


def cell_fractions(
    mask: np.ndarray, scale: float, xs: np.ndarray, ys: np.ndarray, side: int
) -> np.ndarray:
    """The tissue fraction of each square (level-0 top-left ``xs``, ``ys``, side ``side``) in a
    mask drawn at ``1 / scale`` of level 0 (``scale``: level-0 pixels per mask pixel), from
    an integral image: one pass, however many squares."""
    h, w = mask.shape
    integral = np.zeros((h + 1, w + 1), np.int64)
    integral[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    x0 = np.clip(np.floor(xs / scale), 0, w).astype(np.int64)
    y0 = np.clip(np.floor(ys / scale), 0, h).astype(np.int64)
    x1 = np.clip(np.ceil((xs + side) / scale), 0, w).astype(np.int64)
    y1 = np.clip(np.ceil((ys + side) / scale), 0, h).astype(np.int64)
    x1, y1 = np.maximum(x1, x0 + 1).clip(max=w), np.maximum(y1, y0 + 1).clip(max=h)
    area = np.maximum((x1 - x0) * (y1 - y0), 1)
    inside = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return inside / area
