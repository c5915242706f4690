"""Where the quality work's time goes: each step of the quality measures, the perceptual hash
and the pixel SHA-1, timed alone on one core over one batch of real patches.

    python benchmarks/bench_quality_parts.py [--batch 256] [--repeats 5] [--source DIR]

Reads up to --batch fixture patches (tests/data/kaggle) of one size, sets OpenCV to one thread
(as scoring does), and prints for each step the best of --repeats timings in microseconds a
patch. The steps are those of ``measure_batch`` and ``perceptual_hashes``, called as they call
them (and, for comparison, the HSV conversion the colour masks replace); the last rows time the
two functions whole. Not a test: numbers depend on the machine
and on whatever else is running.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from pathview.io import pixel_sha1, read_patch
from pathview.quality import duplicates, measures

ROOT = Path(__file__).resolve().parents[1]


def per_patch_us(fn: Callable[[], object], n: int, repeats: int, calls: int = 50) -> float:
    """Best of ``repeats`` timings of ``calls`` calls, microseconds per patch."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best / n * 1e6


def main() -> int:
    """Time each step and print one line per step."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=256, help="patches in the batch")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--source", type=Path, default=ROOT / "tests" / "data" / "kaggle")
    args = p.parse_args()

    cv2.setNumThreads(1)
    pixels = [d.pixels for d in map(read_patch, sorted(args.source.rglob("*.tif")))]
    usable = [a for a in pixels if a is not None and a.shape == (96, 96, 3)][: args.batch]
    if not usable:
        raise SystemExit(f"no readable 96 x 96 .tif patches in {args.source}")
    arr = np.stack(usable)
    n, h, w, _ = arr.shape
    grey = measures.grey(arr)
    sample = measures.colour_sample(arr)
    masks = measures.colour_masks(sample)
    tables = measures._hsv_tables()

    def extremes() -> tuple[np.ndarray, np.ndarray]:
        r, g, b = (cv2.extractChannel(sample, c) for c in range(3))
        vmax = cv2.max(cv2.max(r, g), b)
        return vmax, cv2.subtract(vmax, cv2.min(cv2.min(r, g), b))

    vmax, diff = extremes()

    def tissue_saturation() -> object:
        index = cv2.merge([diff, vmax]).view(np.uint16).reshape(diff.shape)
        return np.take(tables.tissue_saturation, index)

    def row_sums() -> object:
        return (
            measures._row_counts(masks.background, n),
            measures._row_sums(masks.tissue_saturation, n),
            measures._row_counts(masks.ink, n),
        )

    steps: list[tuple[str, Callable[[], object]]] = [
        ("grey levels (RGB -> grey, every pixel)", lambda: measures.grey(arr)),
        ("colour sample (2 x 2 block means)", lambda: measures.colour_sample(arr)),
        ("colour masks whole (as measure_batch calls it)", lambda: measures.colour_masks(sample)),
        ("  of which: channels, max, max - min", extremes),
        ("  of which: tissue saturation (table look-up)", tissue_saturation),
        (
            "HSV conversion (what the masks replace)",
            lambda: cv2.cvtColor(sample, cv2.COLOR_RGB2HSV),
        ),
        ("row sums of the three colour masks", row_sums),
        ("row sums (brightness)", lambda: measures._row_sums(grey, n)),
        ("sharpness (Laplacian variance)", lambda: measures.laplacian_variance(grey)),
        ("hash: 32 x 32 block means of grey", lambda: duplicates._resized_grey(arr, grey)),
        ("pixel SHA-1 (needed by the cache either way)", lambda: [pixel_sha1(a) for a in arr]),
        ("measure_batch whole (grey given)", lambda: measures.measure_batch(arr, grey)),
        ("perceptual_hashes whole (grey given)", lambda: duplicates.perceptual_hashes(arr, grey)),
    ]
    print(f"{n} patches of {h} x {w}, OpenCV {cv2.__version__}, numpy {np.__version__}, one thread")
    for name, fn in steps:
        print(f"  {name:46s} {per_patch_us(fn, n, args.repeats):7.2f} us a patch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
