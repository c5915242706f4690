"""Rebuild tests/data/ and pathview/resources/demo/ from a local copy of the PCam/Kaggle patches.

Maintainers only: the app and the tests never read the source folder; they use the committed
copies. Usage: python scripts/build_fixtures.py /path/to/pcam  (the folder holding kaggle-tif/,
pcam-jpeg/ and kaggle-test-unlabelled/). Selection is seeded, so the output is reproducible.
"""

from __future__ import annotations

import csv
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _labels(path: Path) -> list[tuple[str, int]]:
    with path.open(newline="") as f:
        return [(r["id"], int(r["label"])) for r in csv.DictReader(f)]


def _write_labels(path: Path, rows: list[tuple[str, int]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label"])
        w.writerows(sorted(rows))


def main(src: Path) -> None:
    rng = random.Random(20261123)
    rows = _labels(src / "kaggle-tif" / "labels.csv")
    neg = [r for r in rows if r[1] == 0]
    pos = [r for r in rows if r[1] == 1]
    rng.shuffle(neg)
    rng.shuffle(pos)
    tests_kaggle = neg[:120] + pos[:120]
    demo = neg[120:152] + pos[120:152]

    out = ROOT / "tests" / "data" / "kaggle"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for pid, _ in tests_kaggle:
        shutil.copy2(src / "kaggle-tif" / "images" / f"{pid}.tif", out / f"{pid}.tif")
    _write_labels(out / "labels.csv", tests_kaggle)

    demo_dir = ROOT / "pathview" / "resources" / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    demo_dir.mkdir(parents=True)
    for pid, _ in demo:
        shutil.copy2(src / "kaggle-tif" / "images" / f"{pid}.tif", demo_dir / f"{pid}.tif")
    _write_labels(demo_dir / "labels.csv", demo)

    unl = ROOT / "tests" / "data" / "unlabelled"
    shutil.rmtree(unl, ignore_errors=True)
    unl.mkdir(parents=True)
    for p in sorted((src / "kaggle-test-unlabelled").glob("*.tif"))[:8]:
        shutil.copy2(p, unl / p.name)

    jpeg_rows = _labels(src / "pcam-jpeg" / "labels.csv")
    rng.shuffle(jpeg_rows)
    pj = ROOT / "tests" / "data" / "pcam-jpeg"
    shutil.rmtree(pj, ignore_errors=True)
    pj.mkdir(parents=True)
    chosen = [r for r in jpeg_rows if r[1] == 0][:12] + [r for r in jpeg_rows if r[1] == 1][:12]
    for pid, _ in chosen:
        shutil.copy2(src / "pcam-jpeg" / "images" / f"{pid}.jpg", pj / f"{pid}.jpg")
    _write_labels(pj / "labels.csv", chosen)

    # Format conversions of two real patches (one per class), for the decoder tests.
    fmt = ROOT / "tests" / "data" / "formats"
    shutil.rmtree(fmt, ignore_errors=True)
    fmt.mkdir(parents=True)
    for pid, label in (neg[0], pos[0]):
        rgb = tifffile.imread(src / "kaggle-tif" / "images" / f"{pid}.tif")
        stem = f"{'tumour' if label else 'normal'}"
        img = Image.fromarray(rgb)
        img.save(fmt / f"{stem}.png")
        img.save(fmt / f"{stem}.jpg", quality=90)
        img.save(fmt / f"{stem}.webp", lossless=True)
        img.convert("L").save(fmt / f"{stem}_grey.png")
        rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
        rgba[:8, :8, 3] = 0
        Image.fromarray(rgba, "RGBA").save(fmt / f"{stem}_rgba.png")
        odd = np.pad(rgb, ((0, 0), (0, 4), (0, 0)), mode="edge")[:80]  # 80 x 100 px
        tifffile.imwrite(fmt / f"{stem}_odd_100x80.tif", odd, photometric="rgb")
        # A copy saved under its Kaggle id but with one pixel changed: must fail integrity.
        altered = rgb.copy()
        altered[0, 0, 0] ^= 1
        tifffile.imwrite(fmt / f"{pid}.tif", altered, photometric="rgb")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
