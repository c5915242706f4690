"""How long after a patch is shown its heat map appears, with and without explaining ahead.

Usage::

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_heatmap_latency.py [--patches N]
        [--dwell-ms MS] [--model-dir DIR]

Opens a copy of the demo patches with the model (bundled unless ``--model-dir``), waits for
scoring, then steps through ``--patches`` patches in grid order, resting ``--dwell-ms`` on each
as a reviewer would; it records the time from each step to the moment the patch's map is there
and counts the maps that were there at once (from the cache, before any event was processed).
Runs twice: with the next patches explained ahead (the app's default) and without. Prints the
median and p90.
Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(ahead: int, patches: int, dwell_ms: int, model_dir: Path | None) -> tuple[list[float], int]:
    """Milliseconds from each step to its map, and how many maps were there at once."""
    from PySide6.QtCore import QEventLoop, QTimer

    import pathview.ui.explanations as explanations
    from pathview.core.resources import demo_folder
    from pathview.ui.session import TriageSession

    explanations.PREFETCH_AHEAD = ahead
    work = Path(tempfile.mkdtemp(prefix="pathview-latency-"))
    shutil.copytree(demo_folder(), work / "demo")
    session = TriageSession()

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_for(signal: object, timeout_ms: int = 120000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)  # type: ignore[attr-defined]
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()

    session.load_model(model_dir, "cpu")
    wait_for(session.model_worker.model_loaded)
    session.open_folder(work / "demo")
    wait_for(session.scoring_finished)
    session.select_position(0)
    wait(1000)
    latencies: list[float] = []
    at_once = 0
    for position in range(1, patches + 1):
        started = time.perf_counter()
        session.select_position(position)
        at_once += session.explanation is not None  # from the cache, before any event
        while session.explanation is None and time.perf_counter() - started < 5.0:
            loop = QEventLoop()
            session.explanations.explanation_changed.connect(loop.quit)
            QTimer.singleShot(5, loop.quit)
            loop.exec()
            session.explanations.explanation_changed.disconnect(loop.quit)
        latencies.append((time.perf_counter() - started) * 1000.0)
        wait(dwell_ms)
    session.shutdown()
    shutil.rmtree(work, ignore_errors=True)
    return latencies, at_once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patches", type=int, default=30)
    parser.add_argument("--dwell-ms", type=int, default=600)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    from pathview.ui.explanations import PREFETCH_AHEAD

    app = QApplication.instance() or QApplication(sys.argv[:1])
    print(f"{args.patches} steps, {args.dwell_ms} ms on each patch")
    for label, ahead in (("explained ahead", PREFETCH_AHEAD), ("on demand", 0)):
        ms, at_once = run(ahead, args.patches, args.dwell_ms, args.model_dir)
        p90 = sorted(ms)[int(0.9 * (len(ms) - 1))]
        print(
            f"{label:<16} map after: median {statistics.median(ms):6.1f} ms  p90 {p90:6.1f} ms  "
            f"there at once {at_once}/{len(ms)}"
        )
    app.processEvents()


if __name__ == "__main__":
    main()
