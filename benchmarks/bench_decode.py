"""Decoding throughput of Kaggle ``.tif`` patches: the direct reader against tifffile.

    python benchmarks/bench_decode.py [--n 8192] [--repeats 3] [--workers 1 2 4]

Copies real fixture patches (tests/data/kaggle) into a temporary folder until it holds N files
(the page cache is warm after the first pass, as when a folder is scored a second time), then
prints files per second (best and median of --repeats) for ``read_patch`` with the direct
reader and with tifffile alone, on 1..W threads and on 1..W processes (each process decodes a
contiguous share of the list and returns the pixels, as a scoring loop needs them).
Not a test: numbers depend on the machine and on whatever else is running.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pathview.io import decode  # noqa: E402


def _decode_all(paths: Sequence[str], fast: bool) -> np.ndarray:
    if not fast:
        decode.decode_rgb8 = lambda data, max_pixels: None  # type: ignore[assignment]
    out = np.empty((len(paths), 96, 96, 3), dtype=np.uint8)
    for i, p in enumerate(paths):
        d = decode.read_patch(p)
        if d.pixels is not None:
            out[i] = d.pixels
    return out


def _threads(paths: list[str], workers: int, fast: bool) -> None:
    chunks = [paths[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(lambda c: _decode_all(c, fast), chunks))


def _processes(pool: ProcessPoolExecutor, paths: list[str], workers: int, fast: bool) -> None:
    size = -(-len(paths) // workers)
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    list(pool.map(_decode_all, chunks, [fast] * len(chunks)))


def timed(fn: Callable[[], object], items: int, repeats: int) -> tuple[float, float]:
    fn()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        rates.append(items / (time.perf_counter() - t0))
    return max(rates), statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    files = sorted((ROOT / "tests" / "data" / "kaggle").glob("*.tif"))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.n):
            target = Path(tmp) / f"{i:06d}_{files[i % len(files)].name}"
            shutil.copyfile(files[i % len(files)], target)
            paths.append(str(target))
        print(f"{args.n} Kaggle .tif files, {os.cpu_count()} CPUs; files/s, best / median")
        for fast in (True, False):
            name = "direct reader" if fast else "tifffile only"
            for w in args.workers:
                best, med = timed(
                    lambda w=w, fast=fast: _threads(paths, w, fast), len(paths), args.repeats
                )
                print(f"  {name:14s} {w:2d} thread(s)   {best:8.0f} / {med:8.0f}")
            for w in args.workers:
                with ProcessPoolExecutor(w) as pool:
                    best, med = timed(
                        lambda w=w, fast=fast, pool=pool: _processes(pool, paths, w, fast),
                        len(paths),
                        args.repeats,
                    )
                print(f"  {name:14s} {w:2d} process(es) {best:8.0f} / {med:8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
