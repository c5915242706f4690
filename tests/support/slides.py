"""Whole-slide fixtures: the committed Aperio SVS and pyramidal TIFFs written with tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

#: The committed Aperio slide (tests/data/slides/README.md): 2220 x 2967 px at 0.499 um/px.
SMALL_SVS = Path(__file__).resolve().parents[1] / "data" / "slides" / "cmu_small_region.svs"


def tissue_picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """White glass with a pink-purple ellipse of textured "tissue" in the middle."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    inside = ((yy - height / 2) / (height * 0.35)) ** 2 + ((xx - width / 2) / (width * 0.3)) ** 2
    image = np.full((height, width, 3), 242, np.uint8)
    noise = rng.integers(-25, 25, (height, width, 1))
    stain = np.clip(np.array([200, 110, 170]) + noise, 0, 255).astype(np.uint8)
    image[inside < 1] = stain[inside < 1]
    return image


def write_pyramid(
    path: Path,
    image: np.ndarray,
    mpp: float | None = 0.5,
    ome: bool = False,
    tile: int = 128,
    min_side: int = 256,
) -> Path:
    """A tiled pyramidal TIFF of ``image`` (levels halving down to ``min_side``), with
    resolution tags for ``mpp`` (none when None); an OME-TIFF keeps its levels in SubIFDs."""
    levels = [image]
    while min(levels[-1].shape[:2]) // 2 >= min_side:
        levels.append(np.ascontiguousarray(levels[-1][::2, ::2]))
    size = {} if mpp is None else {"resolution": (1e4 / mpp, 1e4 / mpp), "resolutionunit": 3}
    options = {"tile": (tile, tile), "photometric": "rgb", "compression": "zlib", **size}
    with tifffile.TiffWriter(path, ome=ome) as tif:
        if ome:
            meta = {"axes": "YXS"} if mpp is None else {"axes": "YXS", "PhysicalSizeX": mpp}
            tif.write(levels[0], subifds=len(levels) - 1, metadata=meta, **options)
            for level in levels[1:]:
                tif.write(level, subfiletype=1, **options)
        else:
            for i, level in enumerate(levels):
                tif.write(level, subfiletype=0 if i == 0 else 1, metadata=None, **options)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut ``path`` to ``keep`` of its bytes, in place (a copy that stopped half-way)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
