"""GUI responsiveness while the real window lists and scores a large folder.

Builds a folder of N patches (hard links to the bundled demo patches under new names, so no
disk space is used), opens it in the real MainWindow, scores it, scrolls the grid while the
model works, and measures the GUI event loop with a 5 ms heartbeat timer: a gap between two
ticks longer than the interval is time the event loop could not run (a stall).

    python benchmarks/bench_gui_responsiveness.py                  # 20,000 patches
    python benchmarks/bench_gui_responsiveness.py --n 220025 --no-score   # listing only
    python benchmarks/bench_gui_responsiveness.py --tta --model DIR   # DIR: a model folder

Prints one JSON object. Runs offscreen unless QT_QPA_PLATFORM says otherwise. Exit status 1
when the worst stall exceeds --budget-ms (default 50).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from pathview.core.resources import demo_folder

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
DEMO = demo_folder()
HEARTBEAT_MS = 5


def build_folder(dest: Path, n: int) -> Path:
    sources = sorted(DEMO.glob("*.tif"))
    if not sources:
        raise SystemExit(f"no demo patches in {DEMO}")
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = sources[i % len(sources)]
        target = dest / f"{src.stem[:32]}{i:08x}.tif"
        try:
            os.link(src, target)
        except OSError:
            shutil.copy(src, target)
    return dest


def tiny_model_dir(dest: Path) -> Path:
    """A randomly initialised small PatchNet model directory (the bench measures the GUI)."""
    import torch

    from pathview.model.bundle import write_model_dir
    from pathview.model.network import NetConfig, PatchNet

    torch.manual_seed(0)
    config = NetConfig()
    net = PatchNet(config).eval()
    sides = net.feature_sides(96)
    meta = {
        "name": "bench-random",
        "architecture": config.to_dict(),
        "input_size": 96,
        "resize_policy": "centre_crop",
        "normalisation": {"mean": [0.7, 0.55, 0.7], "std": [0.24, 0.28, 0.22]},
        "classes": {"0": "normal", "1": "tumour"},
        "temperature": 1.0,
        "cam_layers": {"default": "stages.1", "candidates": {"stages.1": sides["stages.1"]}},
        "parent_model": None,
    }
    write_model_dir(dest, net.state_dict(), meta)
    return dest


def _watch_stalls(
    last_beat: list[float],
    counts: collections.Counter[str],
    samples: list[tuple[float, str]],
) -> None:
    """Every 5 ms: if the heartbeat is over 20 ms late, note the GUI thread's stack (counted,
    and kept with its time so the worst stalls can be shown one by one)."""
    main_id = threading.main_thread().ident
    while True:
        time.sleep(0.005)
        if time.perf_counter() - last_beat[0] < 0.02:
            continue
        frame = sys._current_frames().get(main_id or 0)
        if frame is None:
            continue
        stack = traceback.extract_stack(frame)[-6:]
        text = " <- ".join(f"{f.name} ({Path(f.filename).name}:{f.lineno})" for f in stack[::-1])
        counts[text] += 1
        samples.append((time.perf_counter(), text))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="patches in the folder")
    parser.add_argument("--tta", action="store_true", help="score with TTA (8 views)")
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: random)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-score", action="store_true", help="measure listing only")
    parser.add_argument("--budget-ms", type=float, default=50.0)
    parser.add_argument(
        "--trace-stalls",
        action="store_true",
        help="sample the GUI thread's stack whenever the heartbeat is late; print the top ones",
    )
    args = parser.parse_args()

    import numpy as np
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from pathview.ui.main_window import MainWindow
    from pathview.ui.session import TriageSession
    from pathview.ui.settings import Preferences

    work = Path(tempfile.mkdtemp(prefix="pathview-bench-"))
    os.environ["PATHVIEW_CONFIG_DIR"] = str(work / "config")
    os.environ["PATHVIEW_DATA_DIR"] = str(work / "data")
    try:
        t0 = time.perf_counter()
        folder = build_folder(work / "patches", args.n)
        build_s = time.perf_counter() - t0
        model_dir = args.model or tiny_model_dir(work / "model")

        QApplication.instance() or QApplication(sys.argv[:1])
        session = TriageSession()
        session.scoring.auto_score_tta = args.tta
        prefs = Preferences()
        prefs.reviewer = "bench"
        window = MainWindow(session, prefs)
        window.resize(1500, 950)
        window.show()
        if os.environ.get("BENCH_SWITCH"):
            sys.setswitchinterval(float(os.environ["BENCH_SWITCH"]))

        loaded = {"ok": False, "failed": ""}
        session.model_worker.model_loaded.connect(lambda _i: loaded.__setitem__("ok", True))
        session.model_worker.model_failed.connect(lambda r: loaded.__setitem__("failed", r))
        if not args.no_score:
            session.load_model(model_dir, args.device)
            wait = QEventLoop()
            session.model_worker.model_loaded.connect(wait.quit)
            session.model_worker.model_failed.connect(wait.quit)
            if not loaded["ok"] and not loaded["failed"]:
                wait.exec()
            if loaded["failed"]:
                raise SystemExit(f"model failed to load: {loaded['failed']}")

        # Let the window finish its first layout and paint, as it has before a user opens a
        # folder from it: the measurement is about opening and scoring.
        settle = QEventLoop()
        QTimer.singleShot(500, settle.quit)
        settle.exec()

        clock = QElapsedTimer()
        ticks: list[float] = []
        heartbeat = QTimer()
        heartbeat.setInterval(HEARTBEAT_MS)
        last_beat = [time.perf_counter()]

        def beat() -> None:
            ticks.append(clock.nsecsElapsed() / 1e6)
            last_beat[0] = time.perf_counter()

        heartbeat.timeout.connect(beat)
        stall_stacks: collections.Counter[str] = collections.Counter()
        stall_samples: list[tuple[float, str]] = []
        if args.trace_stalls:
            threading.Thread(
                target=_watch_stalls, args=(last_beat, stall_stacks, stall_samples), daemon=True
            ).start()
        marks: dict[str, float] = {}

        def mark(name: str) -> None:
            marks.setdefault(name, clock.nsecsElapsed() / 1e9)

        session.listing_progressed.connect(lambda _n: mark("first_tiles_s"))
        session.listing_finished.connect(lambda _n: mark("listing_s"))
        session.scoring_finished.connect(lambda outcome: mark(f"scoring_{outcome}_s"))

        # Scroll the grid a page every 100 ms while working, as a reviewer would.
        scroller = QTimer()
        scroller.setInterval(100)

        def scroll() -> None:
            bar = window.grid.verticalScrollBar()
            bar.setValue(min(bar.maximum(), bar.value() + bar.pageStep()))

        scroller.timeout.connect(scroll)

        clock.start()
        clock_origin = time.perf_counter()
        heartbeat.start()
        scroller.start()
        window.open_folder(folder)
        target = "listing_s" if args.no_score else "scoring_done_s"
        # The real event loop (app.exec-like), not a processEvents() spin.
        loop = QEventLoop()
        watcher = QTimer()
        watcher.setInterval(50)
        started = time.perf_counter()
        state = {"finished_at": 0.0}

        def check() -> None:
            done = target in marks or any(k.startswith("scoring_") and k != target for k in marks)
            if done and not state["finished_at"]:
                state["finished_at"] = time.perf_counter()
            # One more second of browsing after the work is done (thumbnail loads only).
            if state["finished_at"] and time.perf_counter() - state["finished_at"] > 1.0:
                loop.quit()
            if time.perf_counter() - started > 1800:
                loop.quit()

        watcher.timeout.connect(check)
        watcher.start()
        loop.exec()
        watcher.stop()
        heartbeat.stop()
        scroller.stop()

        t = np.asarray(ticks)
        gaps = np.diff(t) if len(t) > 1 else np.zeros(1)
        stalls = np.maximum(gaps - HEARTBEAT_MS, 0.0)
        # Scoring runs from the end of the listing to the end mark; the open itself (store,
        # labels, first layout) is reported apart.
        lo = marks.get("listing_s", 0.0) * 1000
        hi = marks.get(target, t[-1] / 1000 if len(t) else 0.0) * 1000
        during = (t[1:] > lo) & (t[:-1] < hi) if len(t) > 1 else np.zeros(1, bool)
        scoring_stalls = stalls[during] if during.any() else np.zeros(1)
        scoring_gaps = gaps[during] if during.any() else np.zeros(1)
        opening = t[1:] <= lo if len(t) > 1 else np.zeros(1, bool)
        scored = int(np.count_nonzero(~np.isnan(np.asarray(session.table.p))))
        result = {
            "patches": args.n,
            "tta": args.tta,
            "device": args.device,
            "model": str(args.model or "random PatchNet (default config)"),
            "torch_threads": __import__("torch").get_num_threads(),
            "folder_build_s": round(build_s, 2),
            "first_tiles_s": round(marks.get("first_tiles_s", float("nan")), 3),
            "listing_s": round(marks.get("listing_s", float("nan")), 3),
            "scoring_s": round(marks.get(target, float("nan")) - marks.get("listing_s", 0.0), 2),
            "scored": scored,
            "heartbeats": len(ticks),
            "heartbeat_ms": HEARTBEAT_MS,
            "scoring_max_stall_ms": round(float(scoring_stalls.max()), 1),
            "scoring_p99_gap_ms": round(float(np.percentile(scoring_gaps, 99)), 1),
            "scoring_gaps_over_50ms": int(np.count_nonzero(scoring_gaps > 50.0)),
            "open_max_stall_ms": round(float(stalls[opening].max()), 1) if opening.any() else 0.0,
            "overall_max_stall_ms": round(float(stalls.max()), 1),
            "budget_ms": args.budget_ms,
            "worst_gaps_at_s": [
                [round(float(t[i]) / 1000, 3), round(float(gaps[i]), 1)]
                for i in np.argsort(gaps)[::-1][:3]
            ],
            "marks_s": {k: round(v, 3) for k, v in marks.items()},
        }
        if scored and not args.no_score:
            result["patches_per_s"] = round(scored / max(result["scoring_s"], 1e-9), 1)
        window.close()
        print(json.dumps(result, indent=2))
        for stack, count in stall_stacks.most_common(10):
            print(f"{count:5d} x 5 ms late in: {stack}")
        if args.trace_stalls:  # the worst stalls, one by one, with what the GUI thread did
            for i in np.argsort(gaps)[::-1][:5]:
                if gaps[i] <= args.budget_ms:
                    break
                a, b = clock_origin + t[i] / 1000, clock_origin + t[i + 1] / 1000
                print(f"gap of {gaps[i]:.1f} ms at {t[i] / 1000:.3f} s:")
                seen = [text for when, text in stall_samples if a <= when <= b]
                for text in dict.fromkeys(seen):
                    print(f"    {seen.count(text)} x {text}")
        return 0 if result["scoring_max_stall_ms"] <= args.budget_ms else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
