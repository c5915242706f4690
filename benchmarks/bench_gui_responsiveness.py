"""GUI responsiveness while the real window lists and scores a large folder.

Builds a folder of N patches (hard links to the bundled demo patches under new names, so no
disk space is used), opens it in the real MainWindow, scores it, scrolls the grid while the
model works, and measures the GUI event loop with a 5 ms heartbeat timer: a gap between two
ticks longer than the interval is time the event loop could not run (a stall).

    python benchmarks/bench_gui_responsiveness.py                  # 20,000 patches
    python benchmarks/bench_gui_responsiveness.py --n 220025 --no-score   # listing only
    python benchmarks/bench_gui_responsiveness.py --tta --model DIR   # DIR: a model folder
    python benchmarks/bench_gui_responsiveness.py --map --n 220025    # the embedding map
    python benchmarks/bench_gui_responsiveness.py --compare-cli --scroll-ms 0  # app vs CLI

``--map`` measures the embedding map instead: N synthetic patches with 128-feature embeddings
(clustered, seeded) go into the real window's table, the map dock is shown, the projection is
made (off the GUI thread, timed), and the view is panned every 20 ms and zoomed for a few
seconds while the heartbeat runs; it prints the stalls, each redraw's time and the PCA time.

Prints one JSON object, with the largest resident set of the app's process and of its scoring
child (VmHWM, sampled every 50 ms while the child runs) and the cores each kept busy while
scoring; with ``--compare-cli`` also the rate of ``pathview score`` on the same folder, run
first, and the app's rate as a fraction of it. Runs offscreen unless QT_QPA_PLATFORM
says otherwise. Exit status 1 when the worst stall exceeds --budget-ms (default 50).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
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
#: What ``pathview score`` prints when it is done: patches scored, seconds, patches/s.
CLI_SCORED = re.compile(r"scored (\d+) patches.* in ([\d.]+)s \(([\d,]+)/s\)")


def build_folder(dest: Path, n: int, sources: list[Path] | None = None) -> Path:
    """``n`` files in ``dest``: hard links (copies where links fail) to ``sources`` (default:
    the demo patches), under new names."""
    sources = sorted(DEMO.glob("*.tif")) if sources is None else sources
    if not sources:
        raise SystemExit(f"no patches to build {dest} from")
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


def _peak_rss_mb(pid: int | str = "self") -> float:
    """The largest resident set (VmHWM) of process ``pid`` so far, in MB (0 if unknown)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _rss_mb() -> float:
    """This process's resident set now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) of process ``pid`` so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_cli(folder: Path, model_dir: Path, tta: bool, device: str, work: Path) -> dict[str, object]:
    """Score ``folder`` with ``pathview score`` as a user would (quality measures on, a new
    score cache, removed afterwards so that the app scores every patch); its rate counts the
    scoring alone, as the app's does (start-up apart)."""
    import subprocess

    command = [
        sys.executable,
        "-m",
        "pathview",
        "score",
        str(folder),
        "--out",
        str(work / "cli.csv"),
        "--details",
        str(work / "cli-details.csv"),
        "--model",
        str(model_dir),
        "--device",
        device,
    ] + (["--tta"] if tta else [])
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    shutil.rmtree(folder / ".pathview", ignore_errors=True)
    found = CLI_SCORED.search(done.stdout)
    if done.returncode not in (0, 3) or found is None:
        raise SystemExit(f"pathview score failed ({done.returncode}): {done.stderr[-500:]}")
    return {
        "scored": int(found.group(1)),
        "scoring_s": float(found.group(2)),
        "patches_per_s": float(found.group(3).replace(",", "")),
        "wall_s_with_start_up": round(wall, 2),
    }


def _children() -> list[int]:
    """This process's child processes (the scoring child), from /proc."""
    found: list[int] = []
    for task in Path("/proc/self/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


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


def synthetic_embeddings(n: int, dim: int = 128, clusters: int = 12, seed: int = 0) -> object:
    """N seeded points in ``clusters`` Gaussian blobs of ``dim`` features (float32)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (clusters, dim)).astype(np.float32)
    which = rng.integers(0, clusters, n)
    return centres[which] + rng.normal(0, 1, (n, dim)).astype(np.float32), which


def run_map(n: int, budget_ms: float, seconds: float = 6.0) -> int:
    """The ``--map`` benchmark (see the module docstring); prints one JSON object."""
    import numpy as np
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from pathview.core import PatchRef
    from pathview.ui.main_window import MainWindow
    from pathview.ui.session import TriageSession
    from pathview.ui.settings import Preferences

    work = Path(tempfile.mkdtemp(prefix="pathview-bench-"))
    os.environ["PATHVIEW_CONFIG_DIR"] = str(work / "config")
    os.environ["PATHVIEW_DATA_DIR"] = str(work / "data")
    try:
        QApplication.instance() or QApplication(sys.argv[:1])
        session = TriageSession()
        window = MainWindow(session, Preferences())
        window.resize(1500, 950)
        window.show()
        table = session.table
        ids = [f"synthetic{i:08d}" for i in range(n)]
        table.extend([PatchRef(pid, pid + ".tif") for pid in ids])
        features, which = synthetic_embeddings(n)  # type: ignore[misc]
        table.set_scores(ids, (which % 2 * 0.8 + 0.1).tolist())
        table.insight.set_rows(range(n), features=features)
        panel = window.insight_parts.map_panel
        clock = QElapsedTimer()
        ticks: list[float] = []
        heartbeat = QTimer()
        heartbeat.setInterval(HEARTBEAT_MS)
        heartbeat.timeout.connect(lambda: ticks.append(clock.nsecsElapsed() / 1e6))
        marks: dict[str, float] = {}
        session.map.projection_changed.connect(
            lambda: marks.setdefault("projected_s", clock.nsecsElapsed() / 1e9)
        )
        clock.start()
        heartbeat.start()
        window.insight_parts.set_map_visible(True)  # shows the dock: the projection starts
        wait = QEventLoop()
        session.map.projection_changed.connect(wait.quit)
        QTimer.singleShot(120_000, wait.quit)
        if "projected_s" not in marks:
            wait.exec()
        start_pan = clock.nsecsElapsed() / 1e9
        steps = {"i": 0}
        box = panel.view_box

        def step() -> None:
            i = steps["i"]
            steps["i"] += 1
            (x0, x1), _ = box.viewRange()
            if i % 50 in (25, 26, 27):
                box.scaleBy((0.8, 0.8))  # zoom in a little
            elif i % 50 in (45, 46, 47):
                box.scaleBy((1.25, 1.25))
            else:
                box.translateBy(x=(x1 - x0) * 0.02 * (1 if (i // 100) % 2 == 0 else -1))

        panner = QTimer()
        panner.setInterval(20)
        panner.timeout.connect(step)
        panner.start()
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()
        panner.stop()
        heartbeat.stop()
        redraws = list(panel.redraw_ms)
        t = np.asarray(ticks)
        gaps = np.diff(t)
        stalls = np.maximum(gaps - HEARTBEAT_MS, 0.0)
        panning = t[1:] > start_pan * 1000
        result = {
            "map_points": n,
            "projection": session.map.projection.method,
            "projected_after_s": round(marks.get("projected_s", float("nan")), 2),
            "pan_seconds": seconds,
            "pan_steps": steps["i"],
            "redraws": len(redraws),
            "redraw_ms_median": round(float(np.median(redraws)), 1) if redraws else None,
            "redraw_ms_max": round(float(np.max(redraws)), 1) if redraws else None,
            "pan_max_stall_ms": round(float(stalls[panning].max()), 1),
            "pan_p99_gap_ms": round(float(np.percentile(gaps[panning], 99)), 1),
            "pan_gaps_over_50ms": int(np.count_nonzero(gaps[panning] > 50.0)),
            "overall_max_stall_ms": round(float(stalls.max()), 1),
            "worst_gaps_at_s": [
                [round(float(t[i]) / 1000, 3), round(float(gaps[i]), 1)]
                for i in np.argsort(gaps)[::-1][:3]
            ],
            "budget_ms": budget_ms,
        }
        window.close()
        print(json.dumps(result, indent=2))
        return 0 if result["pan_max_stall_ms"] <= budget_ms else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="patches in the folder")
    parser.add_argument("--tta", action="store_true", help="score with TTA (8 views)")
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: random)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-score", action="store_true", help="measure listing only")
    parser.add_argument("--budget-ms", type=float, default=50.0)
    parser.add_argument(
        "--scroll-ms",
        type=int,
        default=100,
        help="scroll the grid a page every this many ms while working (0: never scroll)",
    )
    parser.add_argument("--map", action="store_true", help="measure the embedding map instead")
    parser.add_argument(
        "--compare-cli",
        action="store_true",
        help="first score the same folder with `pathview score` (same model, quality measures "
        "on) and print its rate beside the app's",
    )
    parser.add_argument(
        "--trace-stalls",
        action="store_true",
        help="sample the GUI thread's stack whenever the heartbeat is late; print the top ones",
    )
    args = parser.parse_args()
    if args.map:
        return run_map(args.n, args.budget_ms)

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
        cli = run_cli(folder, model_dir, args.tta, args.device, work) if args.compare_cli else None

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
        # The scoring child loads its own copy of the model at the same time; the measured
        # scoring starts once both have it, so neither start-up counts as scoring time.
        # (A child that fails to load hands scoring to the model thread: then it is not waited on.)
        child = {"ok": False}
        session.model_worker.process_model_loaded.connect(lambda _i: child.__setitem__("ok", True))
        if not args.no_score:
            session.load_model(model_dir, args.device)
            wait = QEventLoop()
            session.model_worker.model_loaded.connect(wait.quit)
            session.model_worker.model_failed.connect(wait.quit)
            session.model_worker.process_model_loaded.connect(wait.quit)
            deadline = time.perf_counter() + 300
            while not loaded["failed"] and not (
                loaded["ok"] and (child["ok"] or not session.model_worker.scoring_in_process)
            ):
                if time.perf_counter() > deadline:
                    raise SystemExit("the model did not load in the scoring process in 5 min")
                QTimer.singleShot(1000, wait.quit)
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

        rss_at: dict[str, float] = {"before_open": _rss_mb()}

        cpu_at: dict[str, tuple[float, float]] = {}  # (app, scoring child) CPU seconds

        def mark(name: str) -> None:
            if name not in marks:
                rss_at[name] = _rss_mb()
                cpu_at[name] = (_cpu_s(os.getpid()), sum(_cpu_s(c) for c in _children()))
            marks.setdefault(name, clock.nsecsElapsed() / 1e9)

        session.listing_progressed.connect(lambda _n: mark("first_tiles_s"))
        session.listing_finished.connect(lambda _n: mark("listing_s"))
        session.scoring_finished.connect(lambda outcome: mark(f"scoring_{outcome}_s"))

        # Scroll the grid a page every --scroll-ms (100) while working, as a reviewer would.
        scroller = QTimer()
        scroller.setInterval(max(args.scroll_ms, 1))

        def scroll() -> None:
            bar = window.grid.verticalScrollBar()
            bar.setValue(min(bar.maximum(), bar.value() + bar.pageStep()))

        scroller.timeout.connect(scroll)

        clock.start()
        clock_origin = time.perf_counter()
        heartbeat.start()
        if args.scroll_ms > 0:
            scroller.start()
        window.open_folder(folder)
        target = "listing_s" if args.no_score else "scoring_done_s"
        # The real event loop (app.exec-like), not a processEvents() spin.
        loop = QEventLoop()
        watcher = QTimer()
        watcher.setInterval(50)
        started = time.perf_counter()
        state = {"finished_at": 0.0}

        child_peak: dict[int, float] = {}

        def check() -> None:
            for pid in _children():  # its peak so far, while it runs
                child_peak[pid] = max(child_peak.get(pid, 0.0), _peak_rss_mb(pid))
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
            "app_rss_mb_at": {k: round(v) for k, v in rss_at.items()},
            "peak_rss_mb": {
                "app": round(_peak_rss_mb()),
                "scoring_child": round(max(child_peak.values(), default=0.0)),
            },
        }
        if scored and not args.no_score:
            result["patches_per_s"] = round(scored / max(result["scoring_s"], 1e-9), 1)
        if "listing_s" in cpu_at and target in cpu_at and result["scoring_s"] > 0:
            # Cores each process kept busy while scoring (2 = both cores of this machine).
            (app0, child0), (app1, child1) = cpu_at["listing_s"], cpu_at[target]
            result["cpu_cores_while_scoring"] = {
                "app": round((app1 - app0) / result["scoring_s"], 2),
                "scoring_child": round((child1 - child0) / result["scoring_s"], 2),
            }
        if cli is not None:
            result["cli"] = cli
            if "patches_per_s" in result and cli.get("patches_per_s"):
                result["app_to_cli"] = round(result["patches_per_s"] / cli["patches_per_s"], 2)
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
