"""What writing scored batches into the score cache costs, as a folder's cache grows.

    python benchmarks/bench_cache_writes.py [--patches 220025] [--batch 256]
        [--checkpoint-pages N]

Writes batches as :func:`pathview.scoring.reuse.record_batch` does (one transaction each: the
files, the scores, 128 float16 features and the quality rows of 256 patches, keyed by
distinct pixel SHA-1s) into a new cache until it holds ``--patches`` rows, and prints the
cost per patch overall, over the first and the last 16 batches, the time to close the cache
(the last checkpoint of the write-ahead log), the log's largest size and the file's size.
``--checkpoint-pages`` overrides the cache's ``wal_autocheckpoint`` to compare settings.
The quality rows are real (measured on fixture patches) and the features random: the cost
is the database's. Not a test: numbers depend on the machine and on what else runs.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pathview.io import read_patch  # noqa: E402
from pathview.quality import PatchQuality  # noqa: E402
from pathview.scoring import ScoreCache  # noqa: E402
from pathview.scoring.cache import FileKey  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--patches", type=int, default=220_025)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--checkpoint-pages", type=int, default=None)
    args = p.parse_args()
    files = sorted((ROOT / "tests" / "data" / "kaggle").glob("*.tif"))
    decoded = [read_patch(f).pixels for f in files]
    arrays = [a for a in decoded if a is not None and a.shape == (96, 96, 3)]
    pixels = np.stack([arrays[i % len(arrays)] for i in range(args.batch)])
    rng = np.random.default_rng(0)
    features = rng.random((args.batch, 128), dtype=np.float32)
    p_tumour = rng.random(args.batch)
    model = "0123456789abcdef0123456789abcdef-int8-jpeg75"
    with tempfile.TemporaryDirectory(prefix="pathview-bench-cache-") as tmp:
        path = Path(tmp) / "scores.sqlite"
        cache = ScoreCache.open(path)
        assert cache is not None
        if args.checkpoint_pages is not None:
            cache._conn.execute(f"PRAGMA wal_autocheckpoint={args.checkpoint_pages}")
        pages = cache._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        seconds: list[float] = []
        wal_peak = 0
        wal = Path(f"{path}-wal")
        for b in range((args.patches + args.batch - 1) // args.batch):
            sha1 = [hashlib.sha1(f"{b}-{i}".encode()).hexdigest() for i in range(args.batch)]
            quality = PatchQuality.of_arrays(pixels, sha1)
            t0 = time.perf_counter()
            with cache.writing():
                cache.put_files(
                    (f"{b:06d}_{i:03d}.tif", FileKey(27_814, 1_700_000_000_000_000_000, s))
                    for i, s in enumerate(sha1)
                )
                cache.put_scores(model, sha1, p_tumour, tta=False)
                cache.put_embeddings(model, sha1, features)
                cache.put_quality(quality)
            seconds.append(time.perf_counter() - t0)
            if wal.exists():
                wal_peak = max(wal_peak, wal.stat().st_size)
        t0 = time.perf_counter()
        cache.close()
        close_s = time.perf_counter() - t0
        per_patch = np.asarray(seconds) / args.batch * 1e6
        rows = len(seconds) * args.batch
        print(
            f"{rows:,} patches in batches of {args.batch}, wal_autocheckpoint {pages} pages: "
            f"{per_patch.mean():.1f} us a patch (first 16 batches {per_patch[:16].mean():.1f}, "
            f"last 16 {per_patch[-16:].mean():.1f}); {sum(seconds):.1f} s writing, "
            f"{close_s:.2f} s closing; log at most {wal_peak / 1e6:.0f} MB, cache "
            f"{path.stat().st_size / 1e6:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
