"""Reopening a scored folder: how long until every patch shows its score, without and with
the score cache (pathview/scoring/cache.py).

Builds a folder of N patches (hard links to the bundled demo patches under new names, as
bench_gui_responsiveness.py does), opens it in the real MainWindow (offscreen) with a model
loaded (the app's scoring child process), and times, from the open to the last score:

- ``open_without_cache`` (twice, the second after the first warmed the disk cache): with
  ``PATHVIEW_SCORE_CACHE=0``, how every open was before the cache (scored from scratch);
- ``open_filling_cache``: scored, the scores kept in the cache on the way;
- ``reopen_with_cache``: the same folder again, answered by the cache;
- ``reopen_one_file_changed``: again after one file got other pixels (that one is scored).

    python benchmarks/bench_reopen.py                    # 20,000 patches, the bundled model
    python benchmarks/bench_reopen.py --n 2000 --tta     # scoring with TTA
    python benchmarks/bench_reopen.py --model DIR

Prints one JSON object (seconds; ``worst_stall_ms``: the longest the GUI event loop could not
run, from a 5 ms heartbeat, as bench_gui_responsiveness.py measures it). The headless side is
the same code: ``pathview score`` reuses the cache too (run it twice; ``--no-cache`` to
compare).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gui_responsiveness import HEARTBEAT_MS, build_folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="patches in the folder")
    parser.add_argument("--tta", action="store_true", help="score with TTA (8 views)")
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: bundled)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from pathview.ui.main_window import MainWindow
    from pathview.ui.session import TriageSession
    from pathview.ui.settings import Preferences

    work = Path(tempfile.mkdtemp(prefix="pathview-bench-reopen-"))
    os.environ["PATHVIEW_CONFIG_DIR"] = str(work / "config")
    os.environ["PATHVIEW_DATA_DIR"] = str(work / "data")
    try:
        folder = build_folder(work / "patches", args.n)
        QApplication.instance() or QApplication(sys.argv[:1])
        session = TriageSession()
        session.scoring.auto_score_tta = args.tta
        prefs = Preferences()
        prefs.reviewer = "bench"
        window = MainWindow(session, prefs)
        window.resize(1500, 950)
        window.show()
        wait = QEventLoop()
        session.model_worker.model_loaded.connect(wait.quit)
        session.model_worker.model_failed.connect(lambda r: (print(r), wait.quit()))
        session.load_model(args.model, args.device)
        wait.exec()
        if session.model_info is None:
            raise SystemExit("the model did not load")

        def open_and_time() -> dict[str, float]:
            done = QEventLoop()
            marks: dict[str, float] = {}
            t0 = time.perf_counter()

            def finished(outcome: str) -> None:
                marks["scored_s"] = time.perf_counter() - t0
                marks["outcome_done"] = float(outcome == "done")
                done.quit()

            def listed(_count: int) -> None:
                marks["listed_s"] = time.perf_counter() - t0

            beats = [time.perf_counter()]
            worst = [0.0]

            def beat() -> None:
                now = time.perf_counter()
                worst[0] = max(worst[0], now - beats[0])
                beats[0] = now

            heartbeat = QTimer()
            heartbeat.setInterval(HEARTBEAT_MS)
            heartbeat.timeout.connect(beat)
            heartbeat.start()
            session.listing_finished.connect(listed)
            session.scoring_finished.connect(finished)
            window.open_folder(folder)
            done.exec()
            heartbeat.stop()
            # the longest the event loop could not run (a 5 ms heartbeat's worst gap, less 5 ms)
            marks["worst_stall_ms"] = max(0.0, worst[0] * 1000 - HEARTBEAT_MS)
            session.scoring_finished.disconnect(finished)
            session.listing_finished.disconnect(listed)
            scored = sum(1 for p in session.table.p if p == p)
            marks["scored_patches"] = float(scored)
            window.session.close_folder()
            settle = QEventLoop()
            QTimer.singleShot(300, settle.quit)
            settle.exec()
            return marks

        results: dict[str, object] = {"n": args.n, "tta": args.tta}
        for name, cached in (
            ("open_without_cache", False),  # as every open was before the cache
            ("open_filling_cache", True),  # scored, and the scores kept
            ("open_without_cache_again", False),
            ("reopen_with_cache", True),
        ):
            if cached:
                os.environ.pop("PATHVIEW_SCORE_CACHE", None)
            else:
                os.environ["PATHVIEW_SCORE_CACHE"] = "0"
            results[name] = open_and_time()
        files = sorted(folder.glob("*.tif"))
        target = files[len(files) // 2]
        target.unlink()
        shutil.copy(files[0], target)  # other pixels under the same name
        results["reopen_one_file_changed"] = open_and_time()
        window.close()
        print(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
