"""The embedding map without Qt: which rows it shows and where (a 2-D projection of their
embeddings), what colour each point is, the picture of the points at a given view, and which
points a click, a box or a lasso picks.

The picture is drawn here (numpy) rather than as one item per point: on the 2-core machine a
pyqtgraph ScatterPlotItem of 220,025 points took 60-80 ms to paint (each pan a stall), while
rasterising them into an RGBA array takes a few ms and panning that image costs one blit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from pathview.quality import FLAGS
from pathview.stats.embedding import pca_2d
from pathview.triage.insight import implied_labels
from pathview.triage.table import PatchTable, ReviewCode


class ColourBy(str, enum.Enum):
    """What a point's colour shows."""

    P_TUMOUR = "P(tumour)"
    TRUTH = "ground truth"
    REVIEW = "review state"
    QUALITY = "quality flag"
    DUPLICATES = "duplicates"


#: RGBA colours (uint8) of the categories and the P(tumour) ramp.
UNKNOWN_RGBA = (110, 110, 120, 150)
TRUTH_RGBA = {0: (60, 160, 255, 220), 1: (255, 80, 80, 220)}
REVIEW_RGBA = {
    int(ReviewCode.UNREVIEWED): (110, 110, 120, 120),
    int(ReviewCode.AGREE): (60, 200, 90, 230),
    int(ReviewCode.DISAGREE): (240, 70, 70, 230),
    int(ReviewCode.UNSURE): (240, 190, 40, 230),
}
FLAGGED_RGBA = (255, 170, 0, 240)
CLEAN_RGBA = (90, 140, 200, 110)
#: Normal (P 0) to tumour (P 1): blue, grey, red.
RAMP = np.array([(40, 110, 230), (200, 200, 200), (230, 50, 40)], np.float32)


@dataclass(frozen=True)
class Projection:
    """Map positions of the rows that have an embedding: ``rows`` int64 (M,) table rows,
    ``xy`` float32 (M, 2); ``version`` the :class:`InsightColumns` version it was made of."""

    rows: np.ndarray
    xy: np.ndarray
    version: int = 0
    method: str = "PCA"

    def __len__(self) -> int:
        return len(self.rows)

    @staticmethod
    def empty() -> Projection:
        return Projection(np.zeros(0, np.int64), np.zeros((0, 2), np.float32))


def project(features: np.ndarray, has: np.ndarray, version: int = 0) -> Projection:
    """PCA map of the rows with an embedding (``has``) of ``features`` (N x C)."""
    rows = np.flatnonzero(has)
    if len(rows) == 0:
        return Projection.empty()
    return Projection(rows.astype(np.int64), pca_2d(features[rows]), version)


def _ramp_lut() -> np.ndarray:
    t = np.linspace(0.0, 2.0, 256, dtype=np.float32)[:, None]
    rgb = np.where(
        t <= 1,
        RAMP[0] + (RAMP[1] - RAMP[0]) * np.minimum(t, 1),
        RAMP[1] + (RAMP[2] - RAMP[1]) * (t - 1),
    )
    lut = np.empty((256, 4), np.uint8)
    lut[:, :3] = np.round(rgb).astype(np.uint8)
    lut[:, 3] = 200
    return lut


#: The P(tumour) ramp in 256 steps (a lookup per point is the cheapest colouring).
RAMP_LUT = _ramp_lut()


def probability_rgba(p: np.ndarray) -> np.ndarray:
    """The P(tumour) ramp (blue - grey - red) as uint8 RGBA (M, 4); NaN is grey."""
    p = np.asarray(p, np.float32)
    known = ~np.isnan(p)
    index = (np.clip(np.where(known, p, 0.0), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    out = RAMP_LUT[index]
    out[~known] = UNKNOWN_RGBA
    return out


def _categorical(codes: np.ndarray, palette: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    out = np.empty((len(codes), 4), np.uint8)
    out[:] = UNKNOWN_RGBA
    for code, rgba in palette.items():
        out[codes == code] = rgba
    return out


def point_colours(
    table: PatchTable, rows: np.ndarray, colour_by: ColourBy, flag: str = "", threshold: float = 0.5
) -> np.ndarray:
    """uint8 RGBA (M, 4) of the points of table ``rows`` coloured by ``colour_by`` (for
    ``QUALITY``: ``flag``, one of :data:`pathview.quality.FLAGS`, or any flag when "")."""
    p, _, truth, review = table.arrays()
    n = len(table)
    if colour_by is ColourBy.P_TUMOUR:
        return probability_rgba(p[rows])
    if colour_by is ColourBy.TRUTH:
        return _categorical(truth[rows], TRUTH_RGBA)
    if colour_by is ColourBy.REVIEW:
        return _categorical(review[rows], REVIEW_RGBA)
    if colour_by is ColourBy.QUALITY:
        flags = table.insight.flags(n)
        mask = flags[flag] if flag in FLAGS else np.logical_or.reduce(list(flags.values()))
    else:
        table.insight.known(n)
        mask = table.insight.groups.any()[:n]
    out = np.empty((len(rows), 4), np.uint8)
    out[:] = CLEAN_RGBA
    out[mask[rows]] = FLAGGED_RGBA
    return out


def legend(colour_by: ColourBy) -> list[tuple[str, tuple[int, int, int, int]]]:
    """(label, RGBA) pairs explaining the colours."""
    if colour_by is ColourBy.P_TUMOUR:
        return [
            ("P 0", (*RAMP[0].astype(int).tolist(), 255)),
            ("P 0.5", (*RAMP[1].astype(int).tolist(), 255)),
            ("P 1", (*RAMP[2].astype(int).tolist(), 255)),
        ]
    if colour_by is ColourBy.TRUTH:
        return [("truth 0", TRUTH_RGBA[0]), ("truth 1", TRUTH_RGBA[1]), ("unknown", UNKNOWN_RGBA)]
    if colour_by is ColourBy.REVIEW:
        names = {0: "unreviewed", 1: "agreed", 2: "disagreed", 3: "unsure"}
        return [(names[k], v) for k, v in REVIEW_RGBA.items()]
    if colour_by is ColourBy.QUALITY:
        return [("flagged", FLAGGED_RGBA), ("no flag", CLEAN_RGBA)]
    return [("in a duplicate group", FLAGGED_RGBA), ("unique", CLEAN_RGBA)]


@dataclass(frozen=True)
class ViewRect:
    """The data rectangle an image covers: x from ``left`` to ``right``, y from ``bottom`` to
    ``top`` (``top`` > ``bottom``), drawn as ``width`` x ``height`` pixels."""

    left: float
    bottom: float
    right: float
    top: float
    width: int
    height: int


def rasterise(
    xy: np.ndarray,
    colours: np.ndarray,
    view: ViewRect,
    dot: int = 2,
    highlight: np.ndarray | None = None,
    bottom_up: bool = False,
) -> np.ndarray:
    """The points ``xy`` (M, 2) in their ``colours`` (M, 4 uint8) drawn into an RGBA image
    (height x width x 4; row 0 at the top, or at the bottom with ``bottom_up``) of ``view``,
    each a ``dot`` x ``dot`` square; later points paint over earlier ones. With ``highlight``
    (boolean (M,)) the other points are faded and the highlighted drawn last.

    Each pixel is written as one uint32 through a flat index (a padded image, so squares at
    the edge need no clipping): 220,025 points draw in a few ms."""
    w, h = view.width, view.height
    img = np.zeros((h + dot, w + dot), np.uint32)
    if len(xy) == 0 or w <= 0 or h <= 0:
        return img[:h, :w].view(np.uint8).reshape(max(h, 0), max(w, 0), 4)
    sx = w / max(view.right - view.left, 1e-12)
    sy = h / max(view.top - view.bottom, 1e-12)
    fx = (xy[:, 0] - np.float32(view.left)) * np.float32(sx)
    if bottom_up:
        fy = (xy[:, 1] - np.float32(view.bottom)) * np.float32(sy)
    else:
        fy = (np.float32(view.top) - xy[:, 1]) * np.float32(sy)
    inside = (fx >= 0) & (fx < w) & (fy >= 0) & (fy < h)
    rgba = np.ascontiguousarray(colours, np.uint8)
    if highlight is not None:
        rgba = rgba.copy()
        rgba[~highlight, 3] = rgba[~highlight, 3] // 4
    packed = rgba.view(np.uint32).reshape(-1)
    order = np.flatnonzero(inside)
    if highlight is not None:  # highlighted on top
        order = np.concatenate([order[~highlight[order]], order[highlight[order]]])
    col = fx[order].astype(np.int64)
    row = fy[order].astype(np.int64)
    at = row * (w + dot) + col
    values = packed[order]
    flat = img.reshape(-1)
    for dy in range(dot):
        for dx in range(dot):
            flat[at + (dy * (w + dot) + dx)] = values
    return img[:h, :w].view(np.uint8).reshape(h, w, 4)


def nearest_point(
    xy: np.ndarray, x: float, y: float, scale: tuple[float, float]
) -> tuple[int, float]:
    """The index of the point nearest (x, y) and its distance in pixels, with ``scale``
    pixels per data unit along x and y; (-1, inf) without points."""
    if len(xy) == 0:
        return -1, float("inf")
    d2 = ((xy[:, 0] - x) * scale[0]) ** 2 + ((xy[:, 1] - y) * scale[1]) ** 2
    i = int(np.argmin(d2))
    return i, float(np.sqrt(d2[i]))


def points_in_rect(xy: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Boolean (M,): the points inside the rectangle with corners (x0, y0) and (x1, y1)."""
    lo_x, hi_x = min(x0, x1), max(x0, x1)
    lo_y, hi_y = min(y0, y1), max(y0, y1)
    return (xy[:, 0] >= lo_x) & (xy[:, 0] <= hi_x) & (xy[:, 1] >= lo_y) & (xy[:, 1] <= hi_y)


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Boolean (M,): the points inside ``polygon`` (K x 2 vertices, closed implicitly) by the
    even-odd rule (a ray cast per edge, vectorised over the points)."""
    poly = np.asarray(polygon, np.float64)
    inside = np.zeros(len(xy), bool)
    if len(poly) < 3 or len(xy) == 0:
        return inside
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    # Only points within the polygon's bounding box can be inside.
    box = points_in_rect(xy, poly[:, 0].min(), poly[:, 1].min(), poly[:, 0].max(), poly[:, 1].max())
    idx = np.flatnonzero(box)
    x, y = x[idx], y[idx]
    hit = np.zeros(len(idx), bool)
    x0, y0 = poly[-1]
    for x1, y1 in poly:
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        hit ^= crosses & (x < at)
        x0, y0 = x1, y1
    inside[idx] = hit
    return inside


def agreement_of(p: np.ndarray, review: np.ndarray, threshold: float = 0.5) -> float:
    """Share of reviewed-with-a-label rows whose review agreed with the model (NaN: none)."""
    labels = implied_labels(p, review, threshold)
    reviewed = labels >= 0
    if not reviewed.any():
        return float("nan")
    return float((np.asarray(review)[reviewed] == int(ReviewCode.AGREE)).mean())
