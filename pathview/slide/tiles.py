"""A slide cut into tiles at the model's scale: a lazy grid of virtual patches.

A tile covers the field of view of one of the model's training patches: ``size`` pixels at
``mpp`` microns per pixel (PatchCamelyon: 96 px at 0.972 um/px, about 93 um). On a slide of
``slide_mpp`` that is a square of ``round(size * mpp / slide_mpp)`` level-0 pixels. Tiles sit
edge to edge from the level-0 origin; only whole tiles inside the slide are listed, and only
those that are at least :data:`pathview.slide.tissue.MIN_TISSUE_FRACTION` tissue
(:mod:`pathview.slide.tissue`, decided on a low-resolution overview).

Listing reads the overview and nothing else: the grid is two coordinate arrays, and a tile's
id and pixels are made when asked for. A tile is read at the coarsest pyramid level that still
has at least the resolution needed (:meth:`Slide.best_level`) and resized to ``size`` x
``size`` with area averaging (OpenCV ``INTER_AREA``).

Each tile is a virtual patch: its id is ``<slide stem>_x<X>_y<Y>`` (level-0 pixel coordinates
of its top-left corner), and the relative path recorded with a review is
``<slide file name>#x=<X>,y=<Y>,size=<level-0 side>,mpp=<slide um/px>`` (see
:func:`tile_relpath`), so a review of a tile names its slide, its place and its scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pathview.slide.reader import Slide, SlideError
from pathview.slide.tissue import MIN_TISSUE_FRACTION, cell_fractions, tissue_mask

#: PatchCamelyon's scale: its 96 x 96 patches were cut from CAMELYON16 slides at 0.972 um/px
#: (10x). The default for a model whose metadata does not record its own.
PCAM_MICRONS_PER_PIXEL = 0.972
#: Longer side of the overview tissue is detected on.
OVERVIEW_SIDE = 2048

_RELPATH = re.compile(
    r"^(?P<slide>[^#]+)#x=(?P<x>\d+),y=(?P<y>\d+),size=(?P<size>\d+),mpp=(?P<mpp>[0-9.eE+-]+)$"
)


@dataclass(frozen=True)
class TileSpec:
    """What the model sees: ``size`` x ``size`` pixels at ``mpp`` microns per pixel."""

    mpp: float = PCAM_MICRONS_PER_PIXEL
    size: int = 96


@dataclass(frozen=True)
class TilePlace:
    """Where a tile came from, as its recorded relative path says."""

    slide: str
    x: int
    y: int
    side: int
    slide_mpp: float


def tile_id(stem: str, x: int, y: int) -> str:
    """A tile's patch id: ``<slide stem>_x<X>_y<Y>``."""
    return f"{stem}_x{x}_y{y}"


def tile_relpath(slide_name: str, x: int, y: int, side: int, slide_mpp: float) -> str:
    """The relative path recorded for a tile (see the module docstring)."""
    return f"{slide_name}#x={x},y={y},size={side},mpp={slide_mpp:g}"


def parse_tile_relpath(relpath: str) -> TilePlace | None:
    """The place a tile relpath names, or None when ``relpath`` is not one."""
    match = _RELPATH.match(relpath)
    if match is None:
        return None
    try:
        mpp = float(match["mpp"])
    except ValueError:
        return None
    return TilePlace(match["slide"], int(match["x"]), int(match["y"]), int(match["size"]), mpp)


class TileGrid:
    """The tissue tiles of one slide (see the module docstring); rows in reading order (top
    to bottom, left to right)."""

    def __init__(
        self,
        slide_name: str,
        slide_mpp: float,
        spec: TileSpec,
        side: int,
        xs: np.ndarray,
        ys: np.ndarray,
        tissue: np.ndarray,
    ) -> None:
        self.slide_name = slide_name
        self.stem = Path(slide_name).stem
        self.slide_mpp = slide_mpp
        self.spec = spec
        self.side = side
        self.xs = np.asarray(xs, np.int64)
        self.ys = np.asarray(ys, np.int64)
        self.tissue = np.asarray(tissue, np.float32)
        self._index: dict[tuple[int, int], int] | None = None

    def __len__(self) -> int:
        return int(self.xs.size)

    def id(self, i: int) -> str:
        """Tile ``i``'s patch id."""
        return tile_id(self.stem, int(self.xs[i]), int(self.ys[i]))

    def relpath(self, i: int) -> str:
        """Tile ``i``'s recorded relative path."""
        return tile_relpath(
            self.slide_name, int(self.xs[i]), int(self.ys[i]), self.side, self.slide_mpp
        )

    def ids(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The ids of tiles ``start:stop``."""
        xs, ys = self.xs[start:stop].tolist(), self.ys[start:stop].tolist()
        return [f"{self.stem}_x{x}_y{y}" for x, y in zip(xs, ys, strict=True)]

    def relpaths(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The recorded relative paths of tiles ``start:stop``."""
        xs, ys = self.xs[start:stop].tolist(), self.ys[start:stop].tolist()
        tail = f",size={self.side},mpp={self.slide_mpp:g}"
        return [f"{self.slide_name}#x={x},y={y}{tail}" for x, y in zip(xs, ys, strict=True)]

    def find(self, x: int, y: int) -> int | None:
        """The row of the tile whose top-left corner is (``x``, ``y``), if listed."""
        if self._index is None:
            pairs = zip(self.xs.tolist(), self.ys.tolist(), strict=True)
            self._index = {pair: i for i, pair in enumerate(pairs)}
        return self._index.get((x, y))

    def at(self, x: float, y: float) -> int | None:
        """The row of the listed tile that covers level-0 point (``x``, ``y``), if any."""
        if x < 0 or y < 0:
            return None
        return self.find(int(x // self.side) * self.side, int(y // self.side) * self.side)

    def read_level(self, slide: Slide) -> tuple[int, int]:
        """The pyramid level tiles are read from and a tile's side on that level."""
        level = slide.best_level(self.side / self.spec.size)
        return level, max(1, round(self.side / slide.levels[level].downsample))

    def read(self, slide: Slide, i: int) -> np.ndarray:
        """Tile ``i``'s pixels: ``spec.size`` x ``spec.size`` x 3 uint8 (see the module
        docstring); raises :class:`SlideError` when the slide cannot be read there."""
        import cv2

        level, side = self.read_level(slide)
        region = slide.read_region(int(self.xs[i]), int(self.ys[i]), level, side, side)
        size = self.spec.size
        if region.shape[:2] == (size, size):
            return region
        return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA)


def tile_side(slide_mpp: float, spec: TileSpec) -> int:
    """Level-0 pixels on a side of a tile of ``spec`` on a slide of ``slide_mpp``."""
    return max(1, round(spec.size * spec.mpp / slide_mpp))


def grid_positions(width: int, height: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Level-0 top-left corners of every whole tile of ``side`` in a ``width`` x ``height``
    slide, in reading order."""
    cols, rows = width // side, height // side
    ys, xs = np.divmod(np.arange(cols * rows, dtype=np.int64), max(cols, 1))
    return xs * side, ys * side


def tile_slide(
    slide: Slide,
    spec: TileSpec | None = None,
    min_tissue: float = MIN_TISSUE_FRACTION,
    overview: tuple[np.ndarray, float] | None = None,
) -> TileGrid:
    """The tissue tiles of ``slide`` at ``spec``'s scale (see the module docstring).

    ``overview`` (an RGB picture of the slide and its downsample, from
    :meth:`Slide.overview`) is read when not given. ``min_tissue`` 0 lists every tile.
    """
    spec = spec or TileSpec()
    side = tile_side(slide.mpp, spec)
    width, height = slide.dimensions
    if side > min(width, height):
        raise SlideError(
            f"{slide.name}: {width} x {height} pixels at {slide.mpp:g} um/px is smaller than "
            f"one tile ({spec.size} px at {spec.mpp:g} um/px = {side} level-0 pixels)"
        )
    picture, scale = overview if overview is not None else slide.overview(OVERVIEW_SIDE)
    xs, ys = grid_positions(width, height, side)
    fractions = cell_fractions(tissue_mask(picture), scale, xs, ys, side)
    keep = fractions >= min_tissue
    return TileGrid(slide.name, slide.mpp, spec, side, xs[keep], ys[keep], fractions[keep])
