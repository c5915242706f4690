"""Throughput of the bundled classifier: model only, end-to-end scoring and a naive loop.

    python benchmarks/bench_score.py [--n 4096] [--repeats 5] [--model DIR] [--device cpu]
        [--precision auto|float32|int8]

Copies real fixture patches (tests/data/kaggle) into a temporary folder until it holds N files,
then prints, each as best and median of --repeats runs (patches per second):
- model only: ``Classifier.predict`` on already-decoded uint8 pixels, batch 256 (includes the
  uint8 -> normalised tensor step and, for a model with an input codec, the JPEG round trip,
  also timed alone), and the bare network forward on a ready tensor (in the
  precision the app scores in: int8 on a CPU when the model has int8 weights; bf16 autocast
  is shown for a float32 network only);
- end to end: ``score_folder`` on the folder (listing, decoding in threads, inference), the
  same with the quality measures and hashes of ``--details`` (``quality=True``; they run in
  the decoding threads), and with quality and embeddings together (``features=True``, what
  the app asks for), interleaved run by run so that load on the machine hits all three
  alike; the same plain and with quality and embeddings, each run writing a new score cache
  (as ``pathview score`` and the app score a folder the first time: the cache needs each
  file's pixel SHA-1, which the quality rows use too); the quality work alone on decoded
  pixels;
- their ratio (end to end / model only);
- what quality and embeddings add: within each repeat the runs with and without them ran back
  to back, so the extra wall time per patch is taken repeat by repeat (median, lowest and
  highest), beside the process CPU time per patch (all threads), which a change in the
  machine's speed between repeats moves less than wall time;
- naive: one file at a time, ``read_patch`` then ``predict`` of that single patch.
Not a test: numbers depend on the machine and on whatever else is running.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pathview.io import read_patch  # noqa: E402
from pathview.model import PRECISION_CHOICES, load_model  # noqa: E402
from pathview.scoring import ScoreCache, assess_arrays, score_folder  # noqa: E402


def timed(fn: Callable[[], object], items: int, repeats: int) -> tuple[float, float]:
    """(best, median) items per second over ``repeats`` runs after one warm-up run."""
    fn()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        rates.append(items / (time.perf_counter() - t0))
    return max(rates), statistics.median(rates)


@dataclass
class SideBySide:
    """Runs of several functions interleaved repeat by repeat: per function the wall seconds
    and the process CPU seconds (all threads) of each repeat."""

    wall: list[list[float]]
    cpu: list[list[float]]

    def rates(self, items: int) -> list[tuple[float, float]]:
        """(best, median) items per second for each function."""
        return [(items / min(w), items / statistics.median(w)) for w in self.wall]

    def paired_cost(self, base: int, other: int) -> tuple[float, float, float]:
        """The extra wall time of function ``other`` over ``base`` within each repeat (the two
        ran back to back, so a change in load between repeats cancels): (median, low, high)."""
        costs = sorted(o / b - 1 for b, o in zip(self.wall[base], self.wall[other], strict=True))
        return statistics.median(costs), costs[0], costs[-1]

    def cpu_per_item(self, i: int, items: int) -> float:
        """Median process CPU seconds per item of function ``i``."""
        return statistics.median(self.cpu[i]) / items


def timed_side_by_side(fns: list[Callable[[], object]], repeats: int) -> SideBySide:
    """:func:`timed` for several functions run in turn within each repeat (one warm-up each),
    so a change in the machine's load between repeats affects them alike."""
    for fn in fns:
        fn()
    out = SideBySide([[] for _ in fns], [[] for _ in fns])
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            out.wall[i].append(time.perf_counter() - t0)
            out.cpu[i].append(time.process_time() - c0)
    return out


def make_folder(dest: Path, source: Path, n: int) -> list[Path]:
    files = sorted(source.glob("*.tif"))
    if not files:
        raise SystemExit(f"no .tif patches in {source}")
    out = []
    for i in range(n):
        src = files[i % len(files)]
        target = dest / f"{i:06d}_{src.name}"
        shutil.copyfile(src, target)
        out.append(target)
    return out


def main() -> int:
    """Run the benchmark and print a small table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=4096, help="patches in the temporary folder")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--naive-n", type=int, default=512, help="files for the naive loop")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="auto", choices=PRECISION_CHOICES)
    p.add_argument("--source", type=Path, default=ROOT / "tests" / "data" / "kaggle")
    args = p.parse_args()

    clf = load_model(args.model, device=args.device, precision=args.precision)
    print(
        f"model {clf.metadata.name} {clf.model_id[:12]} on {clf.device} in "
        f"{clf.precision}{f' ({clf.precision_note})' if clf.precision_note else ''}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, N={args.n}"
    )
    with tempfile.TemporaryDirectory(prefix="pathview-bench-") as tmp:
        folder = Path(tmp)
        files = make_folder(folder, args.source, args.n)
        pixels = np.stack([read_patch(f).pixels for f in files])  # type: ignore[misc]
        bs = args.batch_size

        def model_only() -> None:
            for i in range(0, len(pixels), bs):
                clf.predict(pixels[i : i + bs], batch_size=bs)

        x = clf.preprocess(pixels[:bs])
        fast = clf._fast  # the network predict() runs (BN-folded float32, or int8)

        def forward_only() -> None:
            with torch.inference_mode():
                for _ in range(0, len(pixels), bs):
                    fast(x)

        def forward_bf16() -> None:
            with torch.inference_mode(), torch.autocast(clf.device.type, dtype=torch.bfloat16):
                for _ in range(0, len(pixels), bs):
                    fast(x)

        def end_to_end() -> None:
            result = score_folder(folder, clf, batch_size=bs)
            assert result.scored == args.n, result.failed[:3]

        def end_to_end_quality() -> None:
            result = score_folder(folder, clf, batch_size=bs, quality=True)
            assert result.scored == args.n, result.failed[:3]

        def end_to_end_insight() -> None:
            result = score_folder(folder, clf, batch_size=bs, quality=True, features=True)
            assert result.scored == args.n, result.failed[:3]

        caches = Path(tempfile.mkdtemp(prefix="pathview-bench-cache-"))
        runs = {"n": 0}

        def fresh_cache() -> ScoreCache:
            runs["n"] += 1
            cache = ScoreCache.open(caches / f"scores-{runs['n']}.sqlite")
            assert cache is not None
            return cache

        def cached_plain() -> None:
            with fresh_cache() as cache:
                result = score_folder(folder, clf, batch_size=bs, cache=cache)
            assert result.scored == args.n and result.cached == 0, result.failed[:3]

        def cached_insight() -> None:
            with fresh_cache() as cache:
                result = score_folder(
                    folder, clf, batch_size=bs, quality=True, features=True, cache=cache
                )
            assert result.scored == args.n and result.cached == 0, result.failed[:3]

        def quality_only() -> None:
            for i in range(0, len(pixels), bs):
                assess_arrays(list(pixels[i : i + bs]))

        naive_files = files[: args.naive_n]

        def naive() -> None:
            for f in naive_files:
                clf.predict(read_patch(f).pixels)  # type: ignore[arg-type]

        model = timed(model_only, args.n, args.repeats)
        rows = [
            ("model only: predict(uint8), batch 256", model),
            (
                f"model only: network forward {clf.precision}",
                timed(forward_only, args.n, args.repeats),
            ),
        ]
        if clf.precision == "float32":
            rows.append(
                (
                    "model only: network forward bf16 autocast",
                    timed(forward_bf16, args.n, args.repeats),
                )
            )
        codec = clf.codec
        if codec is not None:

            def codec_only() -> None:
                for i in range(0, len(pixels), bs):
                    codec.apply(pixels[i : i + bs])

            rows.append(
                (f"input codec alone: {codec.describe()}", timed(codec_only, args.n, args.repeats))
            )
        side = timed_side_by_side(
            [end_to_end, end_to_end_quality, end_to_end_insight, cached_plain, cached_insight],
            args.repeats,
        )
        e2e, e2e_quality, e2e_insight, c_plain, c_insight = side.rates(args.n)
        shutil.rmtree(caches, ignore_errors=True)
        rows += [
            ("end to end: score_folder", e2e),
            ("end to end: score_folder with quality (--details)", e2e_quality),
            ("end to end: with quality and embeddings", e2e_insight),
            ("with a new score cache (pathview score, the app)", c_plain),
            ("with a new score cache, quality and embeddings", c_insight),
            ("quality alone: measures, SHA-1, pHash", timed(quality_only, args.n, args.repeats)),
            (
                "naive: read_patch + predict, one file at a time",
                timed(naive, len(naive_files), max(1, args.repeats // 2)),
            ),
        ]
    for name, (best, median) in rows:
        print(f"{name:<50} best {best:8,.0f}/s   median {median:8,.0f}/s")
    ratio_best = e2e[0] / model[0]
    ratio_med = e2e[1] / model[1]
    print(
        f"{'end to end / model only (predict)':<50} best {ratio_best:8.2f}    median "
        f"{ratio_med:8.2f}"
    )
    print("extra time per patch, each repeat's runs side by side: median (lowest, highest)")
    for label, base, other in (
        ("quality (--details)", 0, 1),
        ("quality + embeddings", 0, 2),
        ("quality + embeddings, with the score cache", 3, 4),
    ):
        med, low, high = side.paired_cost(base, other)
        cpu_base = side.cpu_per_item(base, args.n) * 1e6
        cpu_other = side.cpu_per_item(other, args.n) * 1e6
        print(
            f"  {label:<48} wall {med:+6.1%} ({low:+.1%}, {high:+.1%})   CPU "
            f"{cpu_base:5.0f} -> {cpu_other:5.0f} us/patch ({cpu_other / cpu_base - 1:+.1%})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
