"""The review loop, simulated: does an hour of expert reviews make the model better?

    python benchmarks/bench_review_loop.py --pool POOL_DIR --pool-labels POOL.csv \\
        [--extra-val DIR CSV] [--val-size 1000] [--ks 100 300 1000] \\
        [--strategies auto uncertainty tta diverse balanced random] [--work DIR] \\
        [--png learning_curve.png] [--json results.json] [--seed 0]
    python benchmarks/bench_review_loop.py --replot results.json [--png learning_curve.png]

A labelled pool (e.g. the original Kaggle files of shared/data/pcam/kaggle-pool) first loses
the ids the bundled model may have trained on (``pathview.training.pool_split``'s rule;
``--include-model-ids`` keeps them, for a model that did not), then is split by a
seeded hash of each id into a validation set of ``--val-size`` patches that nothing here
trains on and a review pool. For each strategy and each k, a fresh copy of the review pool
(hard links) gets k reviews:

1. ``pathview queue POOL --count k --strategy S --out ids.txt`` (the documented command)
   chooses which patches to review;
2. a simulated pathologist who is always right reviews them in that order: agree when the
   model's call (its P as the app shows it, single view, P >= 0.5 is tumour) matches the
   truth, disagree otherwise; each review is recorded through the review store as the app
   records it (pixel SHA-1, relative path, model id, P shown);
3. ``python -m pathview.training.retrain --images POOL --val-images VAL --val-labels VAL.csv
   --run-dir RUN`` runs with its defaults (the pool folder has no labels CSV: the reviews and
   the unreviewed patches are all it has), and is timed;
4. the parent and the new model are scored (float32, single view and 8-view TTA) on the
   validation set and on each ``--extra-val`` set; AUC, accuracy and ECE are printed with
   paired-bootstrap 95% intervals of new minus parent, with the command's own verdict,
   the corrections found per 100 reviews and the retraining minutes.

The learning curve (TTA AUC change against k, one line per strategy, with its intervals) is
written as a PNG, k increasing along the x axis (``--replot`` redraws it from a saved
``--json`` file without running anything). Not a test: it trains 3 x 6 models and takes
about an hour on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pathview.core import Verdict  # noqa: E402
from pathview.io import pixel_sha1, read_labels, read_patch  # noqa: E402
from pathview.model import default_model_dir, load_model, read_metadata  # noqa: E402
from pathview.stats import calibrated_ece_floor, paired_bootstrap, summarise  # noqa: E402
from pathview.store import ReviewInput, ReviewStore, store_path_for_folder  # noqa: E402
from pathview.training.data import PatchSet, load_folder  # noqa: E402
from pathview.training.pool_split import benchmark_ids  # noqa: E402
from pathview.training.retrain_report import ModelScores, score_model  # noqa: E402

STRATEGIES = ("auto", "uncertainty", "tta", "diverse", "balanced", "random")
REVIEWER = "simulated-expert"


def hash_split(ids: list[str], n_val: int, seed: int) -> tuple[list[str], list[str]]:
    """(validation, pool): the n_val ids with the smallest salted SHA-1, and the rest."""
    order = sorted(ids, key=lambda i: hashlib.sha1(f"bench-val:{seed}:{i}".encode()).digest())
    return sorted(order[:n_val]), sorted(order[n_val:])


def link_folder(src: Path, ids: list[str], dest: Path, labels: dict[str, int] | None) -> None:
    """``dest`` holding ``ids``' files of ``src`` (hard links where possible), and a labels
    CSV when ``labels`` is given."""
    dest.mkdir(parents=True)
    for pid in ids:
        try:
            os.link(src / f"{pid}.tif", dest / f"{pid}.tif")
        except OSError:
            shutil.copy2(src / f"{pid}.tif", dest / f"{pid}.tif")
    if labels is not None:
        with open(dest / "labels.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "label"])
            writer.writerows((pid, labels[pid]) for pid in ids)


def shown_p(model_dir: Path, folder: Path, ids: list[str]) -> dict[str, float]:
    """The model's P(tumour) as the app shows it by default (single view, its precision)."""
    clf = load_model(model_dir)
    pixels = np.stack([read_patch(folder / f"{pid}.tif").pixels for pid in ids])
    p = clf.predict(pixels).p
    return {pid: float(v) for pid, v in zip(ids, p, strict=True)}


def run(cmd: list[str], log_path: Path) -> float:
    """Run a command with its output in ``log_path``; its wall seconds (raises on failure)."""
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log_path.read_text()[-2000:]
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{tail}")
    return time.perf_counter() - t0


def review(folder: Path, ids: list[str], truth: dict[str, int], p: dict[str, float]) -> int:
    """Record a perfect reviewer's verdicts on ``ids``; how many corrected the model."""
    model_id = read_metadata(default_model_dir()).model_id
    corrections = 0
    with ReviewStore(store_path_for_folder(folder)) as store:
        for pid in ids:
            call = int(p[pid] >= 0.5)
            verdict = Verdict.AGREE if call == truth[pid] else Verdict.DISAGREE
            corrections += verdict is Verdict.DISAGREE
            pixels = read_patch(folder / f"{pid}.tif").pixels
            store.record(
                ReviewInput(
                    pid,
                    verdict,
                    REVIEWER,
                    pixel_sha1(pixels),
                    f"{pid}.tif",
                    seconds_spent=5.0,
                    model_id=model_id,
                    p_tumour=p[pid],
                )
            )
    return corrections


def compare(parent: ModelScores, new: ModelScores, labels: np.ndarray) -> dict[str, Any]:
    """Metrics of both models and paired intervals of new - parent (AUC, accuracy, ECE)."""
    out: dict[str, Any] = {}
    for view in ("plain", "tta"):
        a, b = getattr(parent, view), getattr(new, view)
        row: dict[str, Any] = {"parent": summarise(a, labels), "new": summarise(b, labels)}
        for metric in ("auc", "accuracy", "ece"):
            d = paired_bootstrap(a, b, labels, metric=metric, resamples=1000)
            row[metric] = {"delta": d.delta, "ci95": [d.low, d.high], "verdict": d.verdict}
        # The ECE a perfectly calibrated model with these P would show on this many patches.
        row["ece_floor"] = {"parent": calibrated_ece_floor(a), "new": calibrated_ece_floor(b)}
        out[view] = row
    return out


def learning_curve_png(results: list[dict[str, Any]], path: Path) -> None:
    """TTA AUC change (new - parent) against k per strategy, with 95% intervals, via cv2;
    k increases along the x axis whatever order the runs came in."""
    import cv2

    ks = sorted({int(r["k"]) for r in results})
    results = sorted(results, key=lambda r: int(r["k"]))

    w, h, m = 900, 560, 70
    img = np.full((h, w, 3), 255, np.uint8)
    deltas = [r["sets"]["validation"]["tta"]["auc"] for r in results]
    lo = min([d["ci95"][0] for d in deltas] + [-0.002])
    hi = max([d["ci95"][1] for d in deltas] + [0.004])
    xs = {k: m + i * (w - 2 * m) // max(1, len(ks) - 1) for i, k in enumerate(ks)}

    def y_of(v: float) -> int:
        return int(h - m - (v - lo) / (hi - lo) * (h - 2 * m))

    cv2.line(img, (m, y_of(0.0)), (w - m, y_of(0.0)), (120, 120, 120), 1)
    cv2.line(img, (m, y_of(0.002)), (w - m, y_of(0.002)), (180, 180, 255), 1, cv2.LINE_AA)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, "target +0.002", (w - m - 120, y_of(0.002) - 5), font, 0.4, (90, 90, 200))
    for v in np.linspace(lo, hi, 6):
        cv2.putText(img, f"{v:+.4f}", (5, y_of(v) + 4), font, 0.4, (0, 0, 0))
    for k, x in xs.items():
        cv2.putText(img, str(k), (x - 12, h - m + 20), font, 0.45, (0, 0, 0))
    cv2.putText(img, "reviews (k)", (w // 2 - 40, h - 15), font, 0.5, (0, 0, 0))
    cv2.putText(
        img, "TTA AUC, new - parent (paired 95% CI)", (m, 30), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA
    )
    colours = [(200, 80, 30), (30, 120, 220), (40, 160, 40), (160, 40, 160), (20, 20, 20)]
    colours += [(0, 170, 200)]
    strategies = list(dict.fromkeys(r["strategy"] for r in results))
    for si, strategy in enumerate(strategies):
        colour = colours[si % len(colours)]
        points = []
        for r in results:
            if r["strategy"] != strategy:
                continue
            d = r["sets"]["validation"]["tta"]["auc"]
            x = xs[r["k"]] + (si - len(strategies) / 2) * 4
            points.append((int(x), y_of(d["delta"])))
            cv2.line(img, (int(x), y_of(d["ci95"][0])), (int(x), y_of(d["ci95"][1])), colour, 1)
        for a, b in itertools.pairwise(points):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for pt in points:
            cv2.circle(img, pt, 4, colour, -1, cv2.LINE_AA)
        cv2.putText(img, strategy, (w - m - 100, 60 + 18 * si), font, 0.45, colour, 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)


def print_table(results: list[dict[str, Any]], set_name: str) -> None:
    print(f"\n== {set_name}: new - parent, paired bootstrap 95% intervals")
    print(
        f"{'strategy':<12}{'k':>5}  {'TTA AUC':>26}  {'single AUC':>26}  {'TTA acc':>9}"
        f"  {'TTA ECE':>7}  {'verdict':<21}{'corr/100':>9}{'min':>6}"
    )
    for r in results:
        s = r["sets"].get(set_name)
        if s is None:
            continue
        t, p = s["tta"], s["plain"]

        def iv(d: dict[str, Any]) -> str:
            return f"{d['delta']:+.4f} [{d['ci95'][0]:+.4f},{d['ci95'][1]:+.4f}]"

        print(
            f"{r['strategy']:<12}{r['k']:>5}  {iv(t['auc']):>26}  {iv(p['auc']):>26}  "
            f"{t['new']['accuracy']:>9.4f}  {t['new']['ece']:>7.4f}  "
            f"{r['verdict']:<21}{r['corrections_per_100']:>9.1f}{r['retrain_minutes']:>6.1f}"
        )
    base = results[0]["sets"].get(set_name) if results else None
    if base:
        print(
            f"parent: TTA AUC {base['tta']['parent']['auc']:.4f} acc "
            f"{base['tta']['parent']['accuracy']:.4f} ECE {base['tta']['parent']['ece']:.4f} "
            f"(a calibrated model's floor here {base['tta']['ece_floor']['parent']:.4f}); "
            f"single AUC {base['plain']['parent']['auc']:.4f}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pool", type=Path)
    ap.add_argument("--pool-labels", type=Path)
    ap.add_argument(
        "--replot",
        type=Path,
        metavar="JSON",
        help="only redraw --png from the results a run wrote with --json",
    )
    ap.add_argument("--extra-val", nargs=2, action="append", default=[], metavar=("DIR", "CSV"))
    ap.add_argument(
        "--include-model-ids",
        action="store_true",
        help="keep the pool ids the bundled model's training may use (pool_split's rule)",
    )
    ap.add_argument("--val-size", type=int, default=1000)
    ap.add_argument("--ks", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--work", type=Path, default=Path("runs/bench_review_loop"))
    ap.add_argument("--png", type=Path, default=Path("docs/screenshots/review_loop.png"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retrain-arg", action="append", default=[], help="extra retrain option")
    args = ap.parse_args(argv)
    if args.replot is not None:
        try:
            saved = json.loads(args.replot.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            ap.error(f"--replot: cannot read {args.replot}: {exc}")
        if not saved:
            ap.error(f"--replot: {args.replot} holds no runs")
        learning_curve_png(saved, args.png)
        print(f"learning curve: {args.png}")
        return 0
    if args.pool is None or args.pool_labels is None:
        ap.error("give --pool and --pool-labels (or --replot JSON)")

    truth_all = read_labels(args.pool_labels).labels
    ids = sorted(i for i in truth_all if (args.pool / f"{i}.tif").is_file())
    if not args.include_model_ids:
        # The rule orders every id of the pool's labels CSV, as when the model's part was drawn.
        unseen = set(benchmark_ids(truth_all))
        n_all, ids = len(ids), [i for i in ids if i in unseen]
        print(f"{n_all - len(ids)} pool ids left out: the bundled model's training may use them")
    val_ids, pool_ids = hash_split(ids, args.val_size, args.seed)
    work = args.work.resolve()
    if work.exists():
        shutil.rmtree(work)
    val_dir, pool_src = work / "validation", work / "pool"
    link_folder(args.pool, val_ids, val_dir, truth_all)
    link_folder(args.pool, pool_ids, pool_src, None)
    print(f"pool {len(pool_ids)} patches, validation {len(val_ids)} (seed {args.seed})")

    parent_dir = default_model_dir()
    sets: dict[str, PatchSet] = {"validation": load_folder(val_dir, val_dir / "labels.csv")}
    for i, (d, c) in enumerate(args.extra_val):
        sets[f"extra{i + 1}:{Path(d).parent.name or Path(d).name}"] = load_folder(d, c)
    import torch

    cpu = torch.device("cpu")
    parent_scores = {name: score_model(parent_dir, s, cpu, tta=True) for name, s in sets.items()}
    p_shown = shown_p(parent_dir, pool_src, pool_ids)
    results: list[dict[str, Any]] = []
    for strategy in args.strategies:
        for k in args.ks:
            name = f"{strategy}-{k}"
            run_dir = work / "runs" / name
            folder = work / "folders" / name
            link_folder(pool_src, pool_ids, folder, None)
            queue_file = work / f"{name}.txt"
            cmd = [sys.executable, "-m", "pathview", "queue", str(folder), "--count", str(k)]
            cmd += ["--strategy", strategy, "--seed", str(args.seed), "--out", str(queue_file)]
            queue_s = run(cmd, work / f"{name}.queue.log")
            queued = queue_file.read_text().split()
            corrections = review(folder, queued, truth_all, p_shown)
            cmd = [sys.executable, "-m", "pathview.training.retrain", "--images", str(folder)]
            cmd += ["--val-images", str(val_dir), "--val-labels", str(val_dir / "labels.csv")]
            cmd += ["--run-dir", str(run_dir), "--progress", "log", *args.retrain_arg]
            seconds = run(cmd, work / f"{name}.retrain.log")
            model_dir = run_dir / "model"
            meta = read_metadata(model_dir)
            row: dict[str, Any] = {
                "strategy": strategy,
                "k": k,
                "reviews": len(queued),
                "corrections": corrections,
                "corrections_per_100": 100.0 * corrections / max(1, len(queued)),
                "queue_seconds": round(queue_s, 1),
                "retrain_minutes": round(seconds / 60, 2),
                "verdict": meta.verdict.result if meta.verdict else "none",
                "sets": {},
            }
            for set_name, s in sets.items():
                new = score_model(model_dir, s, cpu, tta=True)
                row["sets"][set_name] = compare(parent_scores[set_name], new, s.labels)
            results.append(row)
            v = row["sets"]["validation"]["tta"]["auc"]
            print(
                f"{name}: {corrections} corrections, retrain {row['retrain_minutes']} min, "
                f"TTA AUC {v['delta']:+.4f} [{v['ci95'][0]:+.4f}, {v['ci95'][1]:+.4f}], "
                f"verdict {row['verdict']}",
                flush=True,
            )
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))
            shutil.rmtree(folder)
    for set_name in sets:
        print_table(results, set_name)
    if args.png and results:
        args.png.parent.mkdir(parents=True, exist_ok=True)
        learning_curve_png(results, args.png)
        print(f"\nlearning curve: {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
