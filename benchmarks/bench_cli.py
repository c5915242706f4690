"""``pathview score`` as a user runs it: a whole process, start-up included, on a large folder.

    python benchmarks/bench_cli.py [--n 20000] [--repeats 3] [--model DIR [DIR ...]]
        [--details]

Builds a temporary folder of N Kaggle ``.tif`` files (hard links to the real fixture and demo
patches, under new names, so the page cache holds them all), then runs
``python -m pathview score FOLDER --out CSV [--model DIR]`` --repeats times per model, the
models alternated run by run so that a change in the machine's load hits each alike. Every
run starts with no score cache (the folder's ``.pathview/`` is removed), as a folder opened
the first time. Per model it prints (median, lowest and highest of the runs):
- the wall time of the whole command and patches/s over it (start-up, listing, decoding,
  inference, writing the CSV and the cache);
- the scoring rate the command reports itself (scoring alone, start-up apart);
- the process's peak resident set (``ru_maxrss``);
- the bare network forward rate of the same model measured in this run (batch 256, in the
  precision the command scores in), and the end-to-end rate as a share of it.
Not a test: numbers depend on the machine and on whatever else is running.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_gui_responsiveness import CLI_SCORED, build_folder  # noqa: E402

from pathview.model import Classifier, load_model  # noqa: E402

SOURCES = (ROOT / "tests" / "data" / "kaggle", ROOT / "pathview" / "resources" / "demo")


def make_folder(dest: Path, n: int) -> None:
    """N files in ``dest``: hard links to the fixture and demo patches."""
    files = sorted({p.name: p for s in SOURCES for p in s.glob("*.tif")}.values())
    build_folder(dest, n, files)


def forward_rate(clf: Classifier, repeats: int = 5, n: int = 4096, bs: int = 256) -> float:
    """Median patches/s of the classifier's bare network forward (what ``predict`` runs)."""
    x = clf.preprocess(torch.zeros((bs, 96, 96, 3), dtype=torch.uint8).numpy() + 128)
    fast = clf._fast
    rates = []
    with torch.inference_mode():
        fast(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(0, n, bs):
                fast(x)
            rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def run_once(folder: Path, model: Path | None, out: Path, details: bool) -> dict[str, float]:
    """One ``pathview score`` process on ``folder``: wall seconds, its own reported rate and
    its peak RSS in MB."""
    shutil.rmtree(folder / ".pathview", ignore_errors=True)
    command = [sys.executable, "-m", "pathview", "score", str(folder), "--out", str(out)]
    if model is not None:
        command += ["--model", str(model)]
    if details:
        command += ["--details", str(out.with_suffix(".details.csv"))]
    # Output to files, not pipes: nothing read while waiting, so nothing can fill and block.
    with tempfile.TemporaryFile("w+") as stdout_f, tempfile.TemporaryFile("w+") as stderr_f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, stdout=stdout_f, stderr=stderr_f, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        stdout_f.seek(0)
        stderr_f.seek(0)
        stdout, stderr = stdout_f.read(), stderr_f.read()
    code = os.waitstatus_to_exitcode(status)
    found = CLI_SCORED.search(stdout)
    if code not in (0, 3) or found is None:
        raise SystemExit(f"pathview score failed ({code}): {stderr[-800:]}")
    return {
        "scored": int(found.group(1)),
        "wall_s": wall,
        "reported_per_s": float(found.group(3).replace(",", "")),
        "rss_mb": usage.ru_maxrss / 1024,
    }


def spread(values: list[float], digits: int = 0) -> str:
    """Median (lowest-highest)."""
    f = f",.{digits}f"
    return f"{statistics.median(values):{f}} ({min(values):{f}}-{max(values):{f}})"


def main() -> int:
    """Run the benchmark and print its table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=20_000, help="files in the temporary folder")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--model", type=Path, nargs="+", default=[None], help="model directories (alternated)"
    )
    p.add_argument("--details", action="store_true", help="also write --details (quality)")
    args = p.parse_args()
    models: list[Path | None] = list(args.model)
    print(
        f"pathview score on {args.n:,} files, {args.repeats} runs per model alternated; "
        f"{os.cpu_count()} CPUs; torch {torch.__version__}"
    )
    runs: dict[int, list[dict[str, float]]] = {i: [] for i in range(len(models))}
    with tempfile.TemporaryDirectory(prefix="pathview-bench-cli-") as tmp:
        folder = Path(tmp) / "patches"
        folder.mkdir()
        make_folder(folder, args.n)
        out = Path(tmp) / "scores.csv"
        run_once(folder, models[0], out, args.details)  # warm the page cache and imports
        for _ in range(args.repeats):
            for i, model in enumerate(models):
                r = run_once(folder, model, out, args.details)
                if r["scored"] != args.n:
                    raise SystemExit(f"scored {r['scored']} of {args.n}")
                runs[i].append(r)
    for i, model in enumerate(models):
        clf = load_model(model, device="cpu")
        forward = forward_rate(clf)
        rs = runs[i]
        total = [args.n / r["wall_s"] for r in rs]
        reported = [r["reported_per_s"] for r in rs]
        print(f"\nmodel {clf.model_id[:12]} ({model or 'bundled'}), {clf.precision}")
        print(f"  wall, whole command (s)             {spread([r['wall_s'] for r in rs], 2)}")
        print(f"  patches/s including start-up        {spread(total)}")
        print(f"  patches/s scoring (as it reports)   {spread(reported)}")
        print(f"  peak RSS (MB)                       {spread([r['rss_mb'] for r in rs])}")
        print(f"  network forward alone, patches/s    {forward:,.0f}")
        print(
            f"  share of the forward: with start-up {statistics.median(total) / forward:.2f}, "
            f"scoring {statistics.median(reported) / forward:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
