"""Whole-slide images without Qt: opening a slide (OpenSlide, else tiffslide), its microns per
pixel, tissue detection and the lazy grid of tiles at the model's scale (virtual patches).

Placed beside :mod:`pathview.io` (the patch files' layer) and independent of it, of the store
and of the model: the scale a model wants comes in as a :class:`TileSpec`.
"""

from pathview.slide.mpp import answers_path, record_mpp, recorded_mpp, tiff_resolution_mpp
from pathview.slide.reader import (
    SLIDE_SUFFIXES,
    MissingMppError,
    Slide,
    SlideError,
    SlideLevel,
    is_slide_path,
    open_slide,
)
from pathview.slide.tiles import (
    PCAM_MICRONS_PER_PIXEL,
    TileGrid,
    TilePlace,
    TileSpec,
    parse_tile_relpath,
    tile_id,
    tile_relpath,
    tile_side,
    tile_slide,
)
from pathview.slide.tissue import MIN_TISSUE_FRACTION, tissue_mask

__all__ = [
    "MIN_TISSUE_FRACTION",
    "PCAM_MICRONS_PER_PIXEL",
    "SLIDE_SUFFIXES",
    "MissingMppError",
    "Slide",
    "SlideError",
    "SlideLevel",
    "TileGrid",
    "TilePlace",
    "TileSpec",
    "answers_path",
    "is_slide_path",
    "open_slide",
    "parse_tile_relpath",
    "record_mpp",
    "recorded_mpp",
    "tiff_resolution_mpp",
    "tile_id",
    "tile_relpath",
    "tile_side",
    "tile_slide",
    "tissue_mask",
]
