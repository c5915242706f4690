"""Reviewed slide tiles written as a Kaggle-layout patch folder.

``FOLDER/<id>.tif`` for each tile (its pixels as the reviewer saw them: ``size`` x ``size``
RGB, uncompressed, written by tifffile), ``FOLDER/labels.csv`` (``id,label``, the Kaggle
layout that ``pathview`` and ``python -m pathview.training.retrain --images FOLDER`` read) and
``FOLDER/provenance.csv`` with the columns :data:`PROVENANCE_COLUMNS`: the id, the slide's
file name, the tile's level-0 top-left corner and side, the pyramid level read, the slide's
and the tile's microns per pixel, and the SHA-1 of the pixels written.

A tile whose pixels, read again, no longer hash to the SHA-1 recorded with its review (the
slide file was replaced, or read by another library version that decodes differently) is not
written: it is returned as a mismatch, so no label ends up on pixels nobody reviewed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pathview.core.files import atomic_text_writer, csv_cell, spreadsheet_safe
from pathview.slide.reader import Slide, SlideError
from pathview.slide.tiles import TileGrid, TilePlace, TileSpec

#: Columns of provenance.csv, in order.
PROVENANCE_COLUMNS = (
    "id",
    "slide",
    "x",
    "y",
    "size",
    "level",
    "slide_mpp",
    "tile_mpp",
    "pixel_sha1",
)


@dataclass(frozen=True)
class ReviewedTile:
    """A tile's exported label, its place and the SHA-1 recorded with its review ("" when
    none was recorded)."""

    patch_id: str
    label: int
    place: TilePlace
    pixel_sha1: str = ""


@dataclass
class ExportResult:
    """What :func:`write_patch_folder` wrote and what it left out (id, why)."""

    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def pixels_sha1(pixels: np.ndarray) -> str:
    """SHA-1 of the raw row-major RGB bytes (the rule of :func:`pathview.io.pixel_sha1`)."""
    return hashlib.sha1(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()


def read_place(slide: Slide, place: TilePlace, size: int) -> tuple[np.ndarray, int]:
    """The pixels of the tile at ``place`` (``size`` x ``size``) and the level read, read as
    the tile grid reads them."""
    tile_mpp = place.side * place.slide_mpp / size
    grid = TileGrid(
        place.slide,
        place.slide_mpp,
        TileSpec(tile_mpp, size),
        place.side,
        np.array([place.x]),
        np.array([place.y]),
        np.ones(1),
    )
    return grid.read(slide, 0), grid.read_level(slide)[0]


def write_patch_folder(
    slide: Slide, tiles: Sequence[ReviewedTile], out: Path, size: int = 96
) -> ExportResult:
    """Write ``tiles`` of ``slide`` into ``out`` (see the module docstring)."""
    import tifffile

    out.mkdir(parents=True, exist_ok=True)
    result = ExportResult()
    provenance: list[str] = []
    labels: list[str] = []
    for tile in sorted(tiles, key=lambda t: t.patch_id):
        try:
            pixels, level = read_place(slide, tile.place, size)
        except SlideError as exc:
            result.skipped.append((tile.patch_id, str(exc)))
            continue
        sha = pixels_sha1(pixels)
        if tile.pixel_sha1 and sha != tile.pixel_sha1:
            result.skipped.append((tile.patch_id, "pixels differ from those reviewed"))
            continue
        tifffile.imwrite(out / f"{tile.patch_id}.tif", pixels, photometric="rgb")
        cell = csv_cell(spreadsheet_safe(tile.patch_id))
        labels.append(f"{cell},{tile.label}\n")
        p = tile.place
        provenance.append(
            f"{cell},{csv_cell(spreadsheet_safe(p.slide))},{p.x},{p.y},{p.side},{level},"
            f"{p.slide_mpp:g},{p.side * p.slide_mpp / size:.4g},{sha}\n"
        )
        result.written.append(tile.patch_id)
    with atomic_text_writer(out / "labels.csv") as handle:
        handle.write("id,label\n")
        handle.writelines(labels)
    with atomic_text_writer(out / "provenance.csv") as handle:
        handle.write(",".join(PROVENANCE_COLUMNS) + "\n")
        handle.writelines(provenance)
    return result
