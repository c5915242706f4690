"""How long the embedding map's 2-D projection takes: PCA (what the map uses) against UMAP.

    python benchmarks/bench_projection.py [--n 220025] [--repeats 3] [--umap-n 220025]

Projects N seeded synthetic embeddings (128 features in 12 Gaussian blobs, the same as
``bench_gui_responsiveness.py --map``) with :func:`pathview.stats.embedding.pca_2d` (axes
fitted on a seeded sample of 20,000 rows, every row projected) and, when ``umap-learn`` is
importable (it is not a dependency of pathview), with ``umap.UMAP(n_components=2)`` on
``--umap-n`` rows (its defaults: 15 neighbours, 200 epochs for a large set; numba compiles
its kernels on first use, timed separately on a small warm-up). Prints one line per method
with the seconds; not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from pathview.stats.embedding import pca_2d


def synthetic(n: int, dim: int = 128, clusters: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (clusters, dim)).astype(np.float32)
    which = rng.integers(0, clusters, n)
    return centres[which] + rng.normal(0, 1, (n, dim)).astype(np.float32)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=220_025)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--umap-n", type=int, default=220_025)
    args = p.parse_args()
    x = synthetic(args.n)
    print(f"{args.n:,} x {x.shape[1]} float32 features; {os.cpu_count()} CPUs")
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        pca_2d(x)
        times.append(time.perf_counter() - t0)
    print(f"PCA (pca_2d): best {min(times):.2f} s, median {statistics.median(times):.2f} s")
    try:
        import umap  # type: ignore[import-not-found]
    except ImportError:
        print("UMAP: umap-learn is not installed (pip install umap-learn to measure it)")
        return 0
    t0 = time.perf_counter()
    umap.UMAP(n_components=2, random_state=0).fit_transform(x[:2000])
    print(f"UMAP warm-up (numba compilation, 2,000 rows): {time.perf_counter() - t0:.1f} s")
    rows = x[: args.umap_n]
    t0 = time.perf_counter()
    umap.UMAP(n_components=2, n_jobs=os.cpu_count() or 1).fit_transform(rows)
    print(
        f"UMAP {len(rows):,} rows (umap-learn {umap.__version__}): {time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
