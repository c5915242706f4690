"""Quality flags and duplicate groups (pathview.quality) on synthetic and real patches."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pathview.io import read_patch
from pathview.quality import (
    FLAGS,
    MEASURES,
    NEAR_DISTANCE,
    THRESHOLDS,
    PatchQuality,
    QualityMeasures,
    exact_groups,
    hamming,
    measure_arrays,
    measure_batch,
    near_groups,
    near_pairs,
    perceptual_hashes,
    perceptual_hashes_of,
)
from pathview.quality.measures import (
    BACKGROUND_SATURATION,
    BACKGROUND_VALUE,
    INK_BLACK_VALUE,
    INK_HUE_HIGH,
    INK_HUE_LOW,
    INK_SATURATION,
    colour_masks,
    colour_sample,
    laplacian_variance,
)

#: The fixture patches the thresholds flag (see pathview/quality/measures.py): six mostly
#: background (two of them so empty that nothing is in focus), looked at in montages.
FLAGGED_KAGGLE = {
    "blank": {
        "a0a95c0e7083232ae904a3a94d168b5a1961bfba",
        "b2379f2cb5406475469f583af72f1a8a53f7d145",
        "c328f985eb1ff3a002ded18cf57ea36b7a2e9c27",
        "cf77613253a6fafc1f82ad4cfb15e53c6824894c",
        "d0f9dfe07dd59b9e32f61cadaad1606fe3c9fb2a",
        "fb4e28ec13529634a6d856bcb147355b3fa3c323",
    },
    "dark": set(),
    "saturated": set(),
    "ink": set(),
    "blurred": {
        "c328f985eb1ff3a002ded18cf57ea36b7a2e9c27",
        "cf77613253a6fafc1f82ad4cfb15e53c6824894c",
    },
}


def _load(folder: Path) -> tuple[list[str], np.ndarray]:
    files = sorted(folder.glob("*.tif"))
    pixels = [read_patch(f).pixels for f in files]
    assert all(p is not None for p in pixels)
    return [f.stem for f in files], np.stack(pixels)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def kaggle() -> tuple[list[str], np.ndarray]:
    return _load(Path(__file__).parent / "data" / "kaggle")


@pytest.fixture(scope="module")
def tissue_patch(kaggle: tuple[list[str], np.ndarray]) -> np.ndarray:
    """A real, in-focus patch full of tissue."""
    ids, px = kaggle
    return px[ids.index("001d87233af8bac62b3fbf95da8a92ebff1511be")]


def _flags_of(pixels: np.ndarray) -> dict[str, bool]:
    return {k: bool(v[0]) for k, v in measure_batch(pixels).flags().items()}


# ------------------------------------------------------------------- measures: known values


def test_known_values_on_synthetic_patches() -> None:
    half = np.full((96, 96, 3), 240, np.uint8)  # glass: bright, unsaturated
    half[:, :48] = (200, 80, 160)  # eosin-pink tissue
    q = measure_batch(half)
    assert q.tissue_fraction[0] == pytest.approx(0.5)
    flat = np.full((96, 96, 3), 100, np.uint8)
    q = measure_batch(flat)
    assert q.brightness[0] == pytest.approx(100.0)
    assert q.sharpness[0] == 0.0 and q.saturation[0] == 0.0 and q.ink_fraction[0] == 0.0
    # A one-pixel checkerboard: every interior Laplacian is +-4 * 255.
    board = ((np.indices((96, 96)).sum(axis=0) % 2) * 255).astype(np.uint8)
    q = measure_batch(np.repeat(board[:, :, None], 3, axis=2))
    assert q.sharpness[0] == pytest.approx(1020.0**2, rel=1e-5)
    # A pure blue quarter is ink, the rest white background.
    inked = np.full((96, 96, 3), 255, np.uint8)
    inked[:48, :48] = (20, 40, 200)
    q = measure_batch(inked)
    assert q.ink_fraction[0] == pytest.approx(0.25)
    assert q.tissue_fraction[0] == pytest.approx(0.25)


def test_synthetic_blank_dark_saturated_inked_blurred(tissue_patch: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    assert not any(_flags_of(tissue_patch).values())
    slide = np.clip(rng.normal((232, 228, 236), 3, (96, 96, 3)), 0, 255).astype(np.uint8)
    assert _flags_of(slide) == {**dict.fromkeys(FLAGS, False), "blank": True, "blurred": True}
    dark = (tissue_patch * 0.35).astype(np.uint8)
    assert _flags_of(dark)["dark"] and not _flags_of(dark)["blank"]
    hsv = cv2.cvtColor(tissue_patch, cv2.COLOR_RGB2HSV)
    hsv[..., 1] = 245
    vivid = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    assert _flags_of(vivid)["saturated"] and not _flags_of(vivid)["ink"]
    for colour in ((30, 60, 170), (20, 140, 60), (10, 10, 10)):  # blue, green, black pen
        pen = tissue_patch.copy()
        cv2.line(pen, (0, 10), (95, 80), colour, 4)
        flags = _flags_of(pen)
        assert flags["ink"], colour
        assert not flags["blank"] and not flags["blurred"]
    blurred = cv2.GaussianBlur(tissue_patch, (0, 0), 1.5)
    assert _flags_of(blurred) == {**dict.fromkeys(FLAGS, False), "blurred": True}


def test_batched_measures_equal_one_patch_at_a_time(kaggle: tuple[list[str], np.ndarray]) -> None:
    _, px = kaggle
    batch = measure_batch(px[:40])
    for i in (0, 7, 39):
        one = measure_batch(px[i])
        for m in MEASURES:
            assert one.measure(m)[0] == pytest.approx(batch.measure(m)[i], rel=1e-5), m
    # The tall-image Laplacian drops the rows where neighbouring patches touch: the same as
    # OpenCV on each patch alone.
    g = cv2.cvtColor(px[7], cv2.COLOR_RGB2GRAY).astype(np.float32)
    alone = cv2.Laplacian(g, cv2.CV_32F, ksize=1)[1:-1, 1:-1].var()
    assert batch.sharpness[7] == pytest.approx(alone, rel=1e-4)
    # Every patch's sharpness is the variance of its own 4-neighbour Laplacian (integers,
    # in float64 here) over its interior.
    grey_px = cv2.cvtColor(px[:40].reshape(-1, 96, 3), cv2.COLOR_RGB2GRAY).reshape(40, 96, 96)
    gi = grey_px.astype(np.int64)
    lap = gi[:, :-2, 1:-1] + gi[:, 2:, 1:-1] + gi[:, 1:-1, :-2] + gi[:, 1:-1, 2:]
    lap = lap - 4 * gi[:, 1:-1, 1:-1]
    np.testing.assert_allclose(batch.sharpness, lap.reshape(40, -1).var(axis=1), rtol=1e-6)
    # The colour measures are taken on 2 x 2 block means (48 x 48 here).
    small = cv2.resize(px[7], (48, 48), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(int)
    background = (hsv[:, 2] >= 200) & (hsv[:, 1] < 25)
    assert batch.tissue_fraction[7] == pytest.approx(1 - background.mean())


def _hsv_masks(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background mask, ink mask and tissue saturation by OpenCV's HSV conversion."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    background = cv2.inRange(hsv, (0, 0, BACKGROUND_VALUE), (255, BACKGROUND_SATURATION - 1, 255))
    ink = cv2.bitwise_or(
        cv2.inRange(hsv, (INK_HUE_LOW, INK_SATURATION, 0), (INK_HUE_HIGH, 255, 255)),
        cv2.inRange(hsv, (0, 0, 0), (255, 255, INK_BLACK_VALUE - 1)),
    )
    saturation = cv2.bitwise_and(cv2.extractChannel(hsv, 1), cv2.bitwise_not(background))
    return background, ink, saturation


def test_colour_masks_equal_opencvs_hsv_for_every_colour() -> None:
    """The masks built without a hue per pixel are those of cvtColor + inRange, bit for bit,
    for all 2^24 RGB colours (four images of 2^22 colours, red fixed within a quarter)."""
    codes = np.arange(1 << 22, dtype=np.uint32)
    for quarter in range(4):
        red = (quarter << 6) + (codes >> 16)
        image = np.stack([red, (codes >> 8) & 255, codes & 255], axis=-1)
        image = image.astype(np.uint8).reshape(2048, 2048, 3)
        masks = colour_masks(image)
        background, ink, saturation = _hsv_masks(image)
        np.testing.assert_array_equal(masks.background, background)
        np.testing.assert_array_equal(masks.ink, ink)
        np.testing.assert_array_equal(masks.tissue_saturation, saturation)


def test_colour_masks_on_fixture_samples_and_bad_input(
    kaggle: tuple[list[str], np.ndarray],
) -> None:
    """The same on the tall colour sample of real patches, and a clear error otherwise."""
    _, px = kaggle
    sample = colour_sample(px)
    masks = colour_masks(sample)
    background, ink, saturation = _hsv_masks(sample)
    assert 0 < np.count_nonzero(background) < background.size
    np.testing.assert_array_equal(masks.background, background)
    np.testing.assert_array_equal(masks.ink, ink)
    np.testing.assert_array_equal(masks.tissue_saturation, saturation)
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        colour_masks(sample.astype(np.float32))
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        colour_masks(sample[..., :2])


def test_block_means_stay_close_to_every_pixel(kaggle: tuple[list[str], np.ndarray]) -> None:
    """The colour measures on 2 x 2 block means against the same measures on every pixel."""
    _, px = kaggle
    q = measure_batch(px)
    hsv = cv2.cvtColor(px.reshape(-1, 96, 3), cv2.COLOR_RGB2HSV).reshape(len(px), -1, 3)
    hsv = hsv.astype(int)
    tissue = ~((hsv[..., 2] >= 200) & (hsv[..., 1] < 25))
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    ink = ((hue >= 35) & (hue <= 120) & (sat >= 60)) | (val < 25)
    assert np.abs(q.tissue_fraction - tissue.mean(axis=1)).max() < 0.04
    assert np.abs(q.ink_fraction - ink.mean(axis=1)).max() < 0.005
    # An odd-sized patch is measured on every pixel.
    odd = np.ascontiguousarray(px[7][:95, :95])
    hsv_odd = cv2.cvtColor(odd, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(int)
    bg_odd = (hsv_odd[:, 2] >= 200) & (hsv_odd[:, 1] < 25)
    assert measure_batch(odd).tissue_fraction[0] == pytest.approx(1 - bg_odd.mean())


def test_mixed_sizes_keep_order(kaggle: tuple[list[str], np.ndarray]) -> None:
    _, px = kaggle
    arrays = [px[0], px[1][:80, :60], px[2], np.ascontiguousarray(px[3][:50])]
    mixed = measure_arrays(arrays)
    for i, a in enumerate(arrays):
        for m in MEASURES:
            assert mixed.measure(m)[i] == pytest.approx(measure_batch(a).measure(m)[0], rel=1e-5)
    assert len(measure_arrays([])) == 0
    assert laplacian_variance(np.zeros((2, 2, 2), np.uint8)).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="uint8"):
        measure_batch(px[:2].astype(np.float32))


def test_thresholds_flag_the_listed_fixture_patches(kaggle: tuple[list[str], np.ndarray]) -> None:
    ids, px = kaggle
    flags = measure_batch(px).flags()
    got = {name: {ids[i] for i in np.flatnonzero(f)} for name, f in flags.items()}
    assert got == FLAGGED_KAGGLE
    assert [t.flag for t in THRESHOLDS] == list(FLAGS) == list(flags)
    assert THRESHOLDS[0].describe() == "blank: tissue_fraction < 0.1 (background or blank slide)"


def test_quality_measures_concat_and_take(kaggle: tuple[list[str], np.ndarray]) -> None:
    _, px = kaggle
    a, b = measure_batch(px[:3]), measure_batch(px[3:5])
    both = QualityMeasures.concat([a, b])
    assert len(both) == 5 and len(QualityMeasures.concat([])) == 0
    np.testing.assert_array_equal(both.take(np.array([3, 4])).sharpness, b.sharpness)
    with pytest.raises(KeyError):
        both.measure("colour")


# ------------------------------------------------------------------------------ hashes


def _view(p: np.ndarray, v: int) -> np.ndarray:
    if v & 1:
        p = p[:, ::-1]
    if v & 2:
        p = p[::-1]
    if v & 4:
        p = p.transpose(1, 0, 2)
    return np.ascontiguousarray(p)


def _jpeg(p: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", p[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1]


def test_view_hashes_are_the_hashes_of_the_flipped_patches(
    kaggle: tuple[list[str], np.ndarray],
) -> None:
    _, px = kaggle
    h = perceptual_hashes(px[:30])
    assert h.shape == (30, 8) and h.dtype == np.uint64
    for v in range(8):
        flipped = perceptual_hashes(np.stack([_view(p, v) for p in px[:30]]))[:, 0]
        np.testing.assert_array_equal(flipped, h[:, v])
    # Rotations are among the views: np.rot90 by 1, 2, 3 quarter turns.
    for k in (1, 2, 3):
        rotated = perceptual_hashes(np.stack([np.rot90(p, k) for p in px[:30]]))[:, 0]
        assert all(r in row for r, row in zip(rotated, h, strict=True))
    odd = [px[0][:90, :70], px[1]]
    np.testing.assert_array_equal(perceptual_hashes_of(odd)[1], h[1])


def test_jpeg_re_encoding_stays_near_and_real_patches_stay_apart(
    kaggle: tuple[list[str], np.ndarray],
) -> None:
    _, px = kaggle
    h = perceptual_hashes(px)
    for quality in (90, 75):
        moved = hamming(perceptual_hashes(np.stack([_jpeg(p, quality) for p in px]))[:, 0], h[:, 0])
        assert np.mean(moved <= NEAR_DISTANCE) >= 0.99, quality
    # Different real patches: more than twice the threshold apart under every view.
    d = hamming(h[:, None, :], h[None, :, :1]).min(axis=2)
    np.fill_diagonal(d, 64)
    assert d.min() > 2 * NEAR_DISTANCE
    assert (near_groups(h) == 0).all()  # false-group rate on the 240 real patches: 0


@pytest.mark.slow
def test_near_pairs_equal_brute_force_on_planted_hashes() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    base = rng.integers(0, 2**63, size=(n, 8), dtype=np.int64).astype(np.uint64) << np.uint64(1)
    planted = []
    for src in range(0, 200, 2):  # row src+1 becomes src with 0-3 of its bits flipped
        bits = rng.choice(64, size=int(rng.integers(0, NEAR_DISTANCE + 1)), replace=False)
        mask = np.uint64(sum(1 << int(b) for b in bits))
        view = int(rng.integers(0, 8))
        base[src + 1, 0] = base[src, view] ^ mask
        planted.append((src, src + 1))
    pairs = near_pairs(base)
    d = hamming(base[:, None, :], base[None, :, :1]).min(axis=2)
    close = (d <= NEAR_DISTANCE) | (d.T <= NEAR_DISTANCE)
    np.fill_diagonal(close, False)
    brute = {(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(close)), strict=True)}
    assert {tuple(p) for p in pairs.tolist()} == brute
    assert set(planted) <= brute
    groups = near_groups(base)
    assert all(groups[i] == groups[j] > 0 for i, j in planted)
    assert groups.max() == len(planted)


def test_group_numbers() -> None:
    assert exact_groups(["b", "a", "b", "c", "a"]).tolist() == [1, 2, 1, 0, 2]
    assert exact_groups([]).tolist() == []
    h = np.zeros((4, 8), np.uint64)
    h[:, 0] = [5, 7, 5, 2**63 - 1]
    h[:, 1:] = h[:, :1]  # every view as the patch itself
    # 5 and 7 are one bit apart; 5 twice is identical; 63 ones are far from all.
    assert near_groups(h).tolist() == [1, 1, 1, 0]
    assert near_groups(np.zeros((0, 8), np.uint64)).tolist() == []


def test_patch_quality_rows(kaggle: tuple[list[str], np.ndarray]) -> None:
    from pathview.io import pixel_sha1

    ids, px = kaggle
    arrays = [px[0], px[1], px[0].copy(), _view(px[1], 5)]
    q = PatchQuality.of_arrays(arrays, [pixel_sha1(a) for a in arrays])
    assert q.sha1[0] == ids[0]  # untouched Kaggle pixels: SHA-1 is the id
    assert q.exact_groups().tolist() == [1, 0, 1, 0]
    assert q.near_groups().tolist() == [1, 2, 1, 2]
    both = PatchQuality.concat([q, PatchQuality.empty()])
    assert len(both) == 4 and len(PatchQuality.concat([])) == 0
    with pytest.raises(ValueError, match="SHA-1"):
        PatchQuality.of_arrays(arrays, [])


def test_blank_patches_stay_out_of_near_groups(kaggle: tuple[list[str], np.ndarray]) -> None:
    from pathview.io import pixel_sha1

    ids, px = kaggle
    blank = [ids.index(i) for i in sorted(FLAGGED_KAGGLE["blank"])]
    rng = np.random.default_rng(2)
    # Two nearly flat slides: their hashes are noise, and may land close.
    slides = [np.clip(rng.normal(235, 1, (96, 96, 3)), 0, 255).astype(np.uint8) for _ in (0, 1)]
    arrays = [px[i] for i in blank] + slides + [px[blank[0]].copy()]
    q = PatchQuality.of_arrays(arrays, [pixel_sha1(a) for a in arrays])
    assert q.measures.flags()["blank"].all()
    assert (q.near_groups() == 0).all()
    assert q.exact_groups().tolist() == [1] + [0] * 7 + [1]  # exact copies still found
    include = np.array([True, False, True, True])
    h = np.zeros((4, 8), np.uint64)
    h[:, 0] = [5, 5, 7, 2**63 - 1]
    h[:, 1:] = h[:, :1]
    assert near_groups(h, include=include).tolist() == [1, 0, 1, 0]


def test_row_medians_equal_numpys(kaggle: tuple[list[str], np.ndarray]) -> None:
    from pathview.quality.duplicates import _median_of_rows

    rng = np.random.default_rng(3)
    for k in (64, 7):
        values = rng.normal(size=(4, 50, k)).astype(np.float32)
        values[0, 0, :] = 1.5  # ties
        np.testing.assert_array_equal(
            _median_of_rows(values), np.median(values, axis=2, keepdims=True)
        )


def test_block_means_equal_opencvs_area_resize(kaggle: tuple[list[str], np.ndarray]) -> None:
    """The hash's whole-factor resize is OpenCV's float32 area resize, bit for bit, on the real
    patches and on random images of other whole factors."""
    from pathview.quality.duplicates import HASH_SIZE, _block_means
    from pathview.quality.measures import grey

    def opencv(g: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                cv2.resize(
                    img.astype(np.float32), (HASH_SIZE, HASH_SIZE), interpolation=cv2.INTER_AREA
                )
                for img in g
            ]
        )

    g = grey(kaggle[1])
    np.testing.assert_array_equal(_block_means(g, 3, 3), opencv(g))
    rng = np.random.default_rng(4)
    for h, w in ((32, 32), (64, 96), (128, 128), (96, 64)):
        imgs = rng.integers(0, 256, (5, h, w), dtype=np.uint8)
        imgs[0] = 255
        np.testing.assert_array_equal(
            _block_means(imgs, h // HASH_SIZE, w // HASH_SIZE), opencv(imgs)
        )
