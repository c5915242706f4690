"""Whole-slide images (pathview/slide): opening, microns per pixel, tissue, the tile grid."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import tifffile
from support.slides import SMALL_SVS, tissue_picture, truncate, write_pyramid

from pathview.io import pixel_sha1
from pathview.slide import (
    MissingMppError,
    SlideError,
    TileSpec,
    answers_path,
    is_slide_path,
    open_slide,
    parse_tile_relpath,
    record_mpp,
    tiff_resolution_mpp,
    tile_relpath,
    tile_side,
    tile_slide,
    tissue_mask,
)
from pathview.slide.export import pixels_sha1


def test_the_committed_aperio_slide_opens_with_openslide_and_its_mpp() -> None:
    with open_slide(SMALL_SVS) as slide:
        assert slide.backend_name == "openslide"
        assert slide.dimensions == (2220, 2967)
        assert slide.mpp == pytest.approx(0.499)
        assert slide.mpp_source == "openslide properties"
        region = slide.read_region(1000, 1000, 0, 40, 30)
    assert region.shape == (30, 40, 3) and region.dtype == np.uint8


def test_a_generated_pyramid_gives_its_levels_and_resolution_tags(tmp_path: Path) -> None:
    path = write_pyramid(tmp_path / "s.tif", tissue_picture(1024, 1536), mpp=0.25)
    assert tiff_resolution_mpp(path) == pytest.approx(0.25)
    with open_slide(path) as slide:
        assert [(lv.width, lv.height) for lv in slide.levels] == [
            (1536, 1024),
            (768, 512),
            (384, 256),
        ]
        assert [lv.downsample for lv in slide.levels] == [1.0, 2.0, 4.0]
        assert slide.best_level(3.9) == 1 and slide.best_level(4.0) == 2
        assert slide.best_level(1.5) == 0 and slide.best_level(100) == 2


def test_a_slide_without_mpp_asks_and_a_recorded_answer_is_used(tmp_path: Path) -> None:
    path = write_pyramid(tmp_path / "bare.tif", tissue_picture(512, 768), mpp=None)
    assert tiff_resolution_mpp(path) is None
    with pytest.raises(MissingMppError, match="microns per pixel"):
        open_slide(path)
    with open_slide(path, mpp=0.5) as slide:  # given for this opening only
        assert (slide.mpp, slide.mpp_source) == (0.5, "given")
    with pytest.raises(MissingMppError):
        open_slide(path)
    written = record_mpp(path, 0.46)
    assert written == answers_path(path) == tmp_path / ".pathview" / "slides.json"
    with open_slide(path) as slide:
        assert (slide.mpp, slide.mpp_source) == (0.46, "recorded answer")
    # Another file saved under the same name is asked about again.
    write_pyramid(path, tissue_picture(600, 768), mpp=None)
    with pytest.raises(MissingMppError):
        open_slide(path)
    with pytest.raises(ValueError, match="between 0 and 100"):
        record_mpp(path, 0)


def test_objective_power_alone_is_never_taken_for_mpp(tmp_path: Path) -> None:
    path = tmp_path / "twenty.tif"
    picture = tissue_picture(512, 512)
    tifffile.imwrite(
        path, picture, tile=(128, 128), photometric="rgb", description="Aperio Image|AppMag = 20"
    )
    with pytest.raises(MissingMppError):
        open_slide(path)


def test_sixteen_bit_slides_are_scaled_to_eight_bits_by_the_documented_rule(
    tmp_path: Path,
) -> None:
    picture = tissue_picture(512, 768)
    deep = (picture.astype(np.uint16) * 257 + 3).astype(np.uint16)
    path = write_pyramid(tmp_path / "deep.tif", deep)
    with open_slide(path) as slide:
        region = slide.read_region(300, 200, 0, 64, 64)
    assert np.array_equal(region, (deep[200:264, 300:364] >> 8).astype(np.uint8))


def test_an_ome_tiff_opens_with_its_whole_pyramid(tmp_path: Path) -> None:
    path = write_pyramid(tmp_path / "s.ome.tif", tissue_picture(1024, 1536), ome=True)
    with open_slide(path) as slide:
        assert slide.backend_name == "tiffslide"  # OpenSlide would see level 0 alone
        assert len(slide.levels) == 3
        assert slide.mpp == pytest.approx(0.5)
        region = slide.read_region(512, 256, 1, 32, 32)
    assert region.shape == (32, 32, 3)


def test_truncated_missing_and_foreign_files_raise_clear_errors(tmp_path: Path) -> None:
    path = truncate(write_pyramid(tmp_path / "cut.tif", tissue_picture(1024, 1536)))
    with pytest.raises(SlideError, match="truncated"):
        open_slide(path)
    with pytest.raises(SlideError, match="no such slide"):
        open_slide(tmp_path / "absent.svs")
    text = tmp_path / "notes.svs"
    text.write_text("not a slide\n")
    with pytest.raises(SlideError, match=r"notes\.svs"):
        open_slide(text)


def test_greyscale_slides_are_refused_rather_than_shown_in_made_up_colours(
    tmp_path: Path,
) -> None:
    path = tmp_path / "grey.ome.tif"
    tifffile.imwrite(path, np.full((512, 512), 128, np.uint8), tile=(128, 128), ome=True)
    with pytest.raises(SlideError, match=r"single-channel|samples per pixel"):
        open_slide(path, mpp=0.5)


def test_tissue_is_found_by_saturation_and_glass_is_not() -> None:
    picture = tissue_picture(400, 600)
    mask = tissue_mask(picture)
    yy, xx = np.mgrid[0:400, 0:600]
    inside = ((yy - 200) / 140) ** 2 + ((xx - 300) / 180) ** 2 < 1
    assert (mask == inside).mean() > 0.98
    assert not tissue_mask(np.full((300, 300, 3), 240, np.uint8)).any()  # glass alone


@pytest.mark.slow
def test_the_grid_lists_tissue_tiles_at_the_models_scale(tmp_path: Path) -> None:
    path = write_pyramid(tmp_path / "s.tif", tissue_picture(1200, 1600), mpp=0.25)
    with open_slide(path) as slide:
        grid = tile_slide(slide, TileSpec(0.972, 96))
        everything = tile_slide(slide, TileSpec(0.972, 96), min_tissue=0)
        assert grid.side == tile_side(0.25, TileSpec()) == 373
        assert len(everything) == (1600 // 373) * (1200 // 373)
        assert 0 < len(grid) < len(everything)
        centre = grid.at(800, 600)
        assert centre is not None and grid.tissue[centre] == pytest.approx(1.0)
        assert everything.at(5, 5) is not None and grid.at(5, 5) is None  # a glass corner
        x, y = int(grid.xs[centre]), int(grid.ys[centre])
        assert grid.id(centre) == f"s_x{x}_y{y}" == grid.ids()[centre]
        assert grid.find(x, y) == centre
        assert (
            grid.relpaths()[centre]
            == grid.relpath(centre)
            == tile_relpath("s.tif", x, y, 373, 0.25)
        )
        place = parse_tile_relpath(grid.relpath(centre))
        assert place is not None and (place.slide, place.x, place.y, place.side) == (
            "s.tif",
            x,
            y,
            373,
        )
        assert place.slide_mpp == 0.25
        # 373 level-0 pixels for 96: level 1 (downsample 2) is the coarsest fine enough.
        assert grid.read_level(slide) == (1, 186)
        tile = grid.read(slide, centre)
        by_hand = cv2.resize(
            slide.read_region(x, y, 1, 186, 186), (96, 96), interpolation=cv2.INTER_AREA
        )
    assert tile.shape == (96, 96, 3) and np.array_equal(tile, by_hand)
    assert pixels_sha1(tile) == pixel_sha1(tile)


def test_parse_tile_relpath_refuses_what_is_not_a_tile() -> None:
    assert parse_tile_relpath("patches/abc.tif") is None
    assert parse_tile_relpath("s.svs#x=1,y=2") is None
    assert parse_tile_relpath("s.svs#x=1,y=2,size=3,mpp=oops") is None


class _HugeSlide:
    """A slide that is only its size: reading any pixel fails the test."""

    name = "huge.svs"
    mpp = 0.25
    dimensions = (140_000, 100_000)

    def read_region(self, *_args: Any) -> np.ndarray:
        raise AssertionError("listing read tile pixels")

    def overview(self, max_side: int) -> Any:
        raise AssertionError("the overview was given")


def test_a_hundred_thousand_tile_slide_lists_without_reading_a_tile() -> None:
    slide: Any = _HugeSlide()
    picture = np.full((1429, 2000, 3), [200, 110, 170], np.uint8)  # tissue everywhere
    grid = tile_slide(slide, TileSpec(0.972, 96), overview=(picture, 70.0))
    assert len(grid) == (140_000 // 373) * (100_000 // 373) > 100_000
    assert grid.id(len(grid) - 1) == f"huge_x{374 * 373}_y{267 * 373}"


def test_is_slide_path_takes_slide_files_only(tmp_path: Path) -> None:
    shutil.copy(SMALL_SVS, tmp_path / "a.svs")
    assert is_slide_path(tmp_path / "a.svs")
    assert not is_slide_path(tmp_path)
    assert not is_slide_path(tmp_path / "b.svs")


def test_a_picture_full_of_tissue_is_all_tissue_rather_than_split_by_otsu() -> None:
    rng = np.random.default_rng(1)
    full = np.clip(np.array([200, 110, 170]) + rng.integers(-20, 20, (200, 200, 1)), 0, 255)
    assert tissue_mask(full.astype(np.uint8)).mean() > 0.99
