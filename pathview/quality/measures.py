"""Quality measures of decoded patches (N x H x W x 3 uint8 RGB), numpy and OpenCV only.

Each measure is one number per patch and each flag compares it with a documented threshold
(:data:`THRESHOLDS`). The thresholds were chosen on the 304 real Kaggle patches of
``tests/data/kaggle`` and ``pathview/resources/demo``: each lies beyond the ordinary patches
and flags only clear outliers.

The colour measures (tissue, saturation, ink) are taken on the patch averaged over 2 x 2
blocks (48 x 48 for a 96 x 96 patch, :func:`colour_sample`): a quarter of the pixels, and the
same flags on every fixture patch as per pixel. Brightness and sharpness use every pixel.

- ``tissue_fraction``: the share of pixels that are tissue, not background. A background
  pixel is bright and unsaturated, as glass and blank slide are: HSV value >= 200 (of 255)
  and saturation < 25 (of 255). Flag ``blank`` when below 0.10.
- ``brightness``: the mean grey level (OpenCV's ITU-R 601 luma, 0-255). Flag ``dark`` when
  below 60.
- ``saturation``: the mean HSV saturation (0-255) of the tissue pixels (0 without tissue).
  Flag ``saturated`` when above 190.
- ``ink_fraction``: the share of pixels that are pen ink, not H&E: saturated (S >= 60) with
  a hue in the green-cyan-blue range (OpenCV hue 35-120 of 180, i.e. 70-240 degrees; eosin
  and haematoxylin are pink to purple, 240-360 and 0-20 degrees), or black (V < 25). Flag
  ``ink`` when above 0.02 (about 180 pixels of a 96 x 96 patch: a pen stroke). A very dark
  patch has many near-black pixels and is usually flagged ``ink`` as well as ``dark``.
- ``sharpness``: the variance of the 4-neighbour Laplacian of the grey image (interior
  pixels). Flag ``blurred`` when below 400: an in-focus patch with tissue has thousands, the
  same patch under a Gaussian blur of sigma 1.5 pixels at most a few hundred. A blank patch
  has nothing to focus on and is usually flagged too.

All functions are vectorised over the batch: the colour masks and the Laplacian are computed
on the whole stack (as one tall image), masks stay uint8, per-patch sums are OpenCV row
reductions, and the grey image is computed once for the measures and the perceptual hash.
The HSV thresholds are applied without an HSV conversion (:func:`colour_masks`: the same masks
bit for bit, at under half the conversion's cost). A batch of 256 patches of 96 x 96 costs
6-11 ms on one core (22-44 us a patch, depending on the machine's load, against 39-54 with the
conversion, timed side by side; 60 before the colour measures were taken on block means);
``python benchmarks/bench_quality_parts.py`` times each step.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: Background pixel: HSV value at least this (0-255) ...
BACKGROUND_VALUE = 200
#: ... and HSV saturation below this (0-255).
BACKGROUND_SATURATION = 25
#: Ink pixel: saturation at least this, hue in [INK_HUE_LOW, INK_HUE_HIGH] (OpenCV 0-180) ...
INK_SATURATION = 60
INK_HUE_LOW = 35
INK_HUE_HIGH = 120
#: ... or HSV value below this (black ink, folds).
INK_BLACK_VALUE = 25
#: Patches with both sides even and at least this many pixels are colour-measured on 2 x 2
#: block means (:func:`colour_sample`).
MIN_SAMPLED_SIDE = 16


@dataclass(frozen=True)
class Threshold:
    """One flag: it is raised when ``measure`` is below (``below``) or above the value."""

    flag: str
    measure: str
    value: float
    below: bool
    meaning: str

    def raised(self, measured: np.ndarray) -> np.ndarray:
        """Boolean flag per patch for the measured values."""
        m = np.asarray(measured, dtype=np.float64)
        return m < self.value if self.below else m > self.value

    def describe(self) -> str:
        """'blank: tissue_fraction < 0.1 (background or blank slide)'."""
        sign = "<" if self.below else ">"
        return f"{self.flag}: {self.measure} {sign} {self.value:g} ({self.meaning})"


#: The flags in their fixed order (the details CSV and the docs list them so).
THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("blank", "tissue_fraction", 0.10, True, "background or blank slide"),
    Threshold("dark", "brightness", 60.0, True, "too dark"),
    Threshold("saturated", "saturation", 190.0, False, "over-saturated colour"),
    Threshold("ink", "ink_fraction", 0.02, False, "pen ink or black marks"),
    Threshold("blurred", "sharpness", 400.0, True, "out of focus"),
)
#: The measures in the order of :data:`THRESHOLDS`.
MEASURES: tuple[str, ...] = tuple(t.measure for t in THRESHOLDS)
FLAGS: tuple[str, ...] = tuple(t.flag for t in THRESHOLDS)


@dataclass(frozen=True)
class QualityMeasures:
    """The measures of N patches, float32 (N,) each, rows in the input order."""

    tissue_fraction: np.ndarray
    brightness: np.ndarray
    saturation: np.ndarray
    ink_fraction: np.ndarray
    sharpness: np.ndarray

    def __len__(self) -> int:
        return int(self.tissue_fraction.shape[0])

    def measure(self, name: str) -> np.ndarray:
        """The values of the measure called ``name`` (one of :data:`MEASURES`)."""
        if name not in MEASURES:
            raise KeyError(name)
        return np.asarray(getattr(self, name))

    def flags(self) -> dict[str, np.ndarray]:
        """Flag name -> boolean (N,), in the order of :data:`THRESHOLDS`."""
        return {t.flag: t.raised(self.measure(t.measure)) for t in THRESHOLDS}

    def take(self, rows: np.ndarray) -> QualityMeasures:
        """The measures of ``rows`` (an index array)."""
        return QualityMeasures(*(self.measure(m)[rows] for m in MEASURES))

    @staticmethod
    def empty() -> QualityMeasures:
        """No rows."""
        return QualityMeasures(*(np.zeros(0, np.float32) for _ in MEASURES))

    @staticmethod
    def concat(parts: Sequence[QualityMeasures]) -> QualityMeasures:
        """The rows of ``parts`` in order."""
        if not parts:
            return QualityMeasures.empty()
        return QualityMeasures(*(np.concatenate([p.measure(m) for p in parts]) for m in MEASURES))


def _as_batch(pixels: np.ndarray) -> np.ndarray:
    arr = np.asarray(pixels)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected N x H x W x 3 uint8 pixels, got {arr.shape} {arr.dtype}")
    return arr


def grey(pixels: np.ndarray) -> np.ndarray:
    """Grey levels (OpenCV's ITU-R 601 luma, rounded; uint8 N x H x W) of N x H x W x 3
    uint8 RGB pixels (one H x W x 3 patch counts as N = 1)."""
    arr = np.ascontiguousarray(_as_batch(pixels))
    n, h, w, _ = arr.shape
    if n == 0:
        return np.zeros((0, h, w), np.uint8)
    # One conversion for the whole batch: the stack as one tall image.
    return cv2.cvtColor(arr.reshape(n * h, w, 3), cv2.COLOR_RGB2GRAY).reshape(n, h, w)


def laplacian_variance(grey_levels: np.ndarray) -> np.ndarray:
    """Variance of the 4-neighbour Laplacian over the interior pixels of each image
    (N x H x W grey levels, or one H x W image; images smaller than 3 x 3 give 0)."""
    g = np.asarray(grey_levels)
    if g.ndim == 2:
        g = g[None]
    n, h, w = g.shape
    if h < 3 or w < 3 or n == 0:
        return np.zeros(n, np.float32)
    # The stack as one tall image: a 3 x 3 kernel mixes neighbouring images only in their
    # border rows, which are dropped, and the border columns with them. 8-bit grey gives
    # 16-bit Laplacians (at most 4 * 255). Each image's interior is then one view of the
    # tall result, whose sum of squares (cv2.norm) and sum (cv2.sumElems) OpenCV takes in
    # float64: var = E[L^2] - E[L]^2. (Squaring and row-reducing the whole stack gave the
    # same values and cost about half as much again; a cv2.meanStdDev loop 40% more.)
    depth = cv2.CV_16S if g.dtype == np.uint8 else cv2.CV_32F
    tall = np.ascontiguousarray(g.reshape(n * h, w))
    if depth == cv2.CV_32F:
        tall = tall.astype(np.float32)
    lap = cv2.Laplacian(tall, depth, ksize=1)
    m = float((h - 2) * (w - 2))
    mean_sq = np.empty(n)
    mean = np.empty(n)
    for i in range(n):
        interior = lap[i * h + 1 : (i + 1) * h - 1, 1:-1]
        mean_sq[i] = cv2.norm(interior, cv2.NORM_L2SQR) / m
        mean[i] = cv2.sumElems(interior)[0] / m
    return np.maximum(mean_sq - mean * mean, 0.0).astype(np.float32)


def colour_sample(pixels: np.ndarray) -> np.ndarray:
    """The pixels the colour measures (tissue, saturation, ink) are taken on: N x H x W x 3
    uint8 patches averaged over 2 x 2 blocks (OpenCV's area resize, rounded), as one tall
    (N * H/2) x W/2 x 3 image; patches with an odd side or under 16 pixels stay as they are
    (N * H) x W x 3. A quarter of the pixels costs a quarter of the colour work. On the 304
    fixture patches the block means moved the tissue fraction by at most 0.036 and the ink
    fraction by at most 0.004 from the per-pixel values, and changed no flag."""
    arr = np.ascontiguousarray(_as_batch(pixels))
    n, h, w, _ = arr.shape
    tall = arr.reshape(n * h, w, 3)
    if h % 2 or w % 2 or min(h, w) < MIN_SAMPLED_SIDE or n == 0:
        return tall
    return cv2.resize(tall, (w // 2, n * h // 2), interpolation=cv2.INTER_AREA)


def _row_sums(values: np.ndarray, n: int) -> np.ndarray:
    """Per patch the sum of its uint8 values (one OpenCV reduction over the n rows), float64."""
    flat = np.ascontiguousarray(values).reshape(n, -1)
    return cv2.reduce(flat, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(n).astype(np.float64)


def _row_counts(mask: np.ndarray, n: int) -> np.ndarray:
    """Per patch the pixels set in a 0/255 mask."""
    return _row_sums(mask, n) / 255.0


@dataclass(frozen=True)
class _HsvTables:
    """OpenCV's RGB -> HSV, reduced to what the colour measures ask of it. With V the largest
    channel and D = V - (the smallest), OpenCV's saturation is a function of (V, D) and its hue,
    where the green or the blue channel is the largest, a function of (D, B - R) or (D, R - G).
    The tables are read off ``cv2.cvtColor`` itself (on 2 x 65,536 colours), so they are
    OpenCV's values whatever its version; tests/test_quality.py compares the masks with
    ``cvtColor`` and ``inRange`` over all 2^24 colours."""

    #: By V: a pixel is background exactly where D < this (0 where V < BACKGROUND_VALUE).
    background_diff_below: np.ndarray
    #: By V: saturation >= INK_SATURATION exactly where D >= this (255: never).
    ink_diff_from: np.ndarray
    #: By V * 256 + D: the saturation, 0 where (V, D) is background.
    tissue_saturation: np.ndarray
    #: By D, where G is the largest channel (and R is smaller): hue >= INK_HUE_LOW exactly
    #: where B - R >= this. (Hue is 30-90 there, so INK_HUE_HIGH always holds.)
    green_ink_from: np.ndarray
    #: By D, where B is the largest channel (R and G smaller): hue <= INK_HUE_HIGH exactly
    #: where R - G <= this. (Hue is 90-150 there; where R is the largest, 150-180 or 0-30.)
    blue_ink_to: np.ndarray


def _first_hit(hits: np.ndarray, none: int) -> int:
    """The first index where ``hits`` holds, checking that it holds from there on."""
    where = np.flatnonzero(hits)
    if where.size == 0:
        return none
    if not hits[where[0] :].all():
        raise RuntimeError("OpenCV's HSV conversion is not monotone where pathview relies on it")
    return int(where[0])


@functools.cache
def _hsv_tables() -> _HsvTables:
    """The tables of :class:`_HsvTables` (built once, about 50 ms)."""
    v, d = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    valid = d <= v
    # Saturation by (V, D): the colours (V, V - D, V - D).
    greys = np.zeros((256, 256, 3), np.uint8)
    greys[..., 0] = v
    greys[..., 1] = greys[..., 2] = np.where(valid, v - d, 0)
    sat = np.where(valid, cv2.cvtColor(greys, cv2.COLOR_RGB2HSV)[..., 1], 0)
    background = valid & (v >= BACKGROUND_VALUE) & (sat < BACKGROUND_SATURATION)
    below = np.zeros(256, np.uint8)
    vivid = np.zeros(256, np.uint8)
    for x in range(256):
        if x >= BACKGROUND_VALUE:
            below[x] = _first_hit(sat[x, : x + 1] >= BACKGROUND_SATURATION, x + 1)
        vivid[x] = _first_hit(sat[x, : x + 1] >= INK_SATURATION, 255)
    # Hue by (D, k): G = 255 with k = B - R, and B = 255 with k = R - G; the smallest channel
    # is 255 - D.
    k = np.arange(-255, 256)
    dd, kk = np.meshgrid(np.arange(256), k, indexing="ij")
    ok = np.abs(kk) <= dd
    low = 255 - dd
    upper = np.where(ok, np.where(kk >= 0, low + kk, low), 0)  # the one that grows with k
    lower = np.where(ok, np.where(kk >= 0, low, low - kk), 0)
    green = np.stack([lower, np.full_like(dd, 255), upper], axis=-1).astype(np.uint8)
    blue = np.stack([upper, lower, np.full_like(dd, 255)], axis=-1).astype(np.uint8)
    green_hue = cv2.cvtColor(green, cv2.COLOR_RGB2HSV)[..., 0]
    blue_hue = cv2.cvtColor(blue, cv2.COLOR_RGB2HSV)[..., 0]
    green_from = np.full(256, 256, np.int16)
    blue_to = np.full(256, -256, np.int16)
    for x in range(1, 256):
        # G largest needs R < G (k > -D); B largest needs R < B (k < D).
        ks = slice(255 - x + 1, 255 + x + 1)
        green_from[x] = k[ks][0] + _first_hit(green_hue[x, ks] >= INK_HUE_LOW, 511)
        ks = slice(255 - x, 255 + x)
        above = blue_hue[x, ks] > INK_HUE_HIGH
        blue_to[x] = k[ks][0] + _first_hit(above, 2 * x) - 1
    tissue = np.where(background, 0, sat).astype(np.uint8).ravel()
    return _HsvTables(below, vivid, tissue, green_from, blue_to)


@dataclass(frozen=True)
class ColourMasks:
    """Per pixel of a colour sample (uint8, its rows and columns): ``background`` and ``ink``
    are 0/255 masks, ``tissue_saturation`` the HSV saturation with 0 on the background."""

    background: np.ndarray
    ink: np.ndarray
    tissue_saturation: np.ndarray


def colour_masks(sample: np.ndarray) -> ColourMasks:
    """The background and ink masks and the tissue saturation of an H x W x 3 uint8 RGB image
    (the tall :func:`colour_sample`), exactly as ``cv2.cvtColor(..., COLOR_RGB2HSV)`` and the
    thresholds of the module docstring give them, without computing a hue for every pixel:
    the largest and smallest channel, a few comparisons with the tables of
    :class:`_HsvTables` and one table look-up for the saturation. Under half the cost of the
    conversion alone (9-10 against 20-37 us a 48 x 48 sample, one core)."""
    img = np.ascontiguousarray(sample)
    if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 image, got {img.shape} {img.dtype}")
    t = _hsv_tables()
    r, g, b = (cv2.extractChannel(img, c) for c in range(3))  # cv2.split costs 4x as much
    vmax = cv2.max(cv2.max(r, g), b)
    diff = cv2.subtract(vmax, cv2.min(cv2.min(r, g), b))
    background = cv2.compare(diff, cv2.LUT(vmax, t.background_diff_below), cv2.CMP_LT)
    # (D, V) as one little-endian uint16 per pixel: the index V * 256 + D.
    index = cv2.merge([diff, vmax]).view(np.uint16).reshape(diff.shape)
    saturation = np.take(t.tissue_saturation, index)
    green = cv2.bitwise_and(cv2.compare(g, r, cv2.CMP_GT), cv2.compare(g, b, cv2.CMP_GE))
    green_hue = cv2.compare(
        cv2.subtract(b, r, dtype=cv2.CV_16S), cv2.LUT(diff, t.green_ink_from), cv2.CMP_GE
    )
    blue = cv2.bitwise_and(cv2.compare(b, r, cv2.CMP_GT), cv2.compare(b, g, cv2.CMP_GT))
    blue_hue = cv2.compare(
        cv2.subtract(r, g, dtype=cv2.CV_16S), cv2.LUT(diff, t.blue_ink_to), cv2.CMP_LE
    )
    hue = cv2.bitwise_or(cv2.bitwise_and(green, green_hue), cv2.bitwise_and(blue, blue_hue))
    vivid = cv2.compare(diff, cv2.LUT(vmax, t.ink_diff_from), cv2.CMP_GE)
    black = cv2.threshold(vmax, INK_BLACK_VALUE - 1, 255, cv2.THRESH_BINARY_INV)[1]  # V < 25
    ink = cv2.bitwise_or(cv2.bitwise_and(vivid, hue), black)
    return ColourMasks(background, ink, saturation)


def measure_batch(pixels: np.ndarray, grey_levels: np.ndarray | None = None) -> QualityMeasures:
    """The quality measures of N patches of one size (N x H x W x 3 uint8 RGB, or one
    H x W x 3 patch). See the module docstring for each measure. ``grey_levels``: their
    :func:`grey` levels when the caller has them already (the perceptual hash uses them too)."""
    arr = _as_batch(pixels)
    n, h, w, _ = arr.shape
    if n == 0:
        return QualityMeasures.empty()
    # The (block-averaged) stack as one tall image.
    masks = colour_masks(colour_sample(arr))
    per_patch = masks.background.size // n
    n_tissue = per_patch - _row_counts(masks.background, n)
    sat_sum = _row_sums(masks.tissue_saturation, n)
    saturation = np.divide(sat_sum, n_tissue, out=np.zeros(n), where=n_tissue > 0)
    g = grey(arr) if grey_levels is None else grey_levels
    return QualityMeasures(
        tissue_fraction=(n_tissue / float(per_patch)).astype(np.float32),
        brightness=(_row_sums(g, n) / float(h * w)).astype(np.float32),
        saturation=saturation.astype(np.float32),
        ink_fraction=(_row_counts(masks.ink, n) / float(per_patch)).astype(np.float32),
        sharpness=laplacian_variance(g),
    )


def measure_arrays(arrays: Sequence[np.ndarray] | np.ndarray) -> QualityMeasures:
    """:func:`measure_batch` over patches of any sizes (one call per size), rows in the
    order of ``arrays``."""
    if isinstance(arrays, np.ndarray):
        return measure_batch(arrays)
    n = len(arrays)
    if n == 0:
        return QualityMeasures.empty()
    by_size: dict[tuple[int, ...], list[int]] = {}
    for i, a in enumerate(arrays):
        by_size.setdefault(a.shape, []).append(i)
    if len(by_size) == 1:
        return measure_batch(np.stack(arrays))
    out = {m: np.empty(n, np.float32) for m in MEASURES}
    for rows in by_size.values():
        part = measure_batch(np.stack([arrays[i] for i in rows]))
        for m in MEASURES:
            out[m][rows] = part.measure(m)
    return QualityMeasures(**out)
