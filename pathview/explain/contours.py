"""Iso-contours of a heat map: the outline mode of the patch view draws these lines instead of
(or over) the colour blend, so the tissue under the evidence stays visible (no Qt).

A map in [0, 1] (relative to the patch's peak, see :func:`pathview.explain.normalise_map`) is
upsampled bilinearly and traced with OpenCV at each level; the lines come back as closed
polygons in image pixel coordinates, ready to be drawn at any zoom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pathview.explain.maps import upsample

#: The levels the outline mode draws: a quarter, half and three quarters of the peak.
CONTOUR_LEVELS = (0.25, 0.5, 0.75)
#: Tracing resolution: sub-pixel lines on a 96 px patch.
CONTOUR_UPSAMPLE = 4
#: Islands smaller than this many image pixels are left out (specks, not regions).
MIN_CONTOUR_AREA = 4.0


@dataclass(frozen=True)
class IsoContour:
    """One closed line at ``level``: ``points`` K x 2 float (x, y) in image pixels."""

    level: float
    points: np.ndarray

    def runs(
        self, width: int, height: int, upsample_by: int = CONTOUR_UPSAMPLE
    ) -> list[np.ndarray]:
        """The line without its stretches along the edge of a ``width`` x ``height`` map: a
        region that touches the edge is closed along it, and drawing that would frame the
        patch. Open polylines (each at least 2 points); the whole closed line (first point
        repeated at the end) when it never runs along the edge."""
        edge = 1.0 / upsample_by  # the outermost fine cells' centres lie within this
        x, y = self.points[:, 0], self.points[:, 1]
        on_edge = (x < edge) | (y < edge) | (x > width - edge) | (y > height - edge)
        n = len(self.points)
        # A step from point i to i+1 is drawn unless both ends are on the edge.
        drawn = ~(on_edge & np.roll(on_edge, -1))
        if drawn.all():
            return [np.vstack([self.points, self.points[:1]])]
        runs: list[np.ndarray] = []
        start = int(np.flatnonzero(~drawn)[0]) + 1  # begin just after a skipped step
        current: list[int] = []
        for k in range(n):
            i = (start + k) % n
            if drawn[i]:
                if not current:
                    current.append(i)
                current.append((i + 1) % n)
            elif current:
                runs.append(self.points[current])
                current = []
        if current:
            runs.append(self.points[current])
        return [r for r in runs if len(r) >= 2]


def iso_contours(
    heatmap: np.ndarray,
    levels: Sequence[float] = CONTOUR_LEVELS,
    upsample_by: int = CONTOUR_UPSAMPLE,
    min_area: float = MIN_CONTOUR_AREA,
) -> list[IsoContour]:
    """The closed lines where ``heatmap`` (H x W, values in [0, 1]) crosses each of
    ``levels``, lowest level first; lines enclosing less than ``min_area`` image pixels are
    dropped. Coordinates: (0, 0) is the top-left corner of the top-left pixel."""
    import cv2

    if heatmap.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {heatmap.shape}")
    for level in levels:
        if not 0.0 < level < 1.0:
            raise ValueError(f"contour levels must lie strictly between 0 and 1, got {level}")
    values = np.nan_to_num(heatmap.astype(np.float32), nan=0.0)
    h, w = values.shape
    fine = upsample(values, (h * upsample_by, w * upsample_by))
    out: list[IsoContour] = []
    for level in sorted(levels):
        mask = (fine >= level).astype(np.uint8)
        found, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        for contour in found:
            area = cv2.contourArea(contour) / (upsample_by * upsample_by)
            if area < min_area:
                continue
            # cv2 gives the centres of boundary cells of the fine grid.
            points = (contour.reshape(-1, 2).astype(np.float64) + 0.5) / upsample_by
            out.append(IsoContour(float(level), points))
    return out
