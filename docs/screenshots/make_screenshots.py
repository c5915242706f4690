"""Regenerate the README screenshots of the real window (run under Xvfb, or any display).

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/make_screenshots.py \
        --model pathview/resources/model/pcam-default [--out DIR]

Works on a temporary copy of the bundled demo (so no review store is written into the repo)
and a temporary settings folder. Writes first_run.png, grid_scores.png, patch_heatmap.png,
heatmap.png, heatmap_contours.png, review_progress.png, metrics_panel.png and
errors_no_model.png next to this file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: bundled)")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pathview-shots-"))
    os.environ["PATHVIEW_CONFIG_DIR"] = str(work / "config")
    os.environ["PATHVIEW_DATA_DIR"] = str(work / "data")
    demo = work / "demo"
    from pathview.core.resources import demo_folder

    shutil.copytree(demo_folder(), demo)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from pathview.core import Verdict
    from pathview.store import ReviewInput, ReviewStore
    from pathview.triage import SortKey
    from pathview.ui.main_window import MainWindow
    from pathview.ui.session import TriageSession
    from pathview.ui.settings import Preferences

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("pathview")  # as pathview.app.run_app
    app.setOrganizationName("pathview")

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_for(signal: object, timeout_ms: int = 60000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)  # type: ignore[attr-defined]
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()

    def shoot(window: QWidget, name: str) -> None:
        wait(400)
        path = args.out / name
        window.grab().save(str(path))
        print("wrote", path)

    # 0. A first run, as `pathview --demo` shows it (pathview.app.run_app): no settings yet, so
    #    the default window size, sort order and grid; the model on the default device.
    os.environ["PATHVIEW_CONFIG_DIR"] = str(work / "config-first-run")
    first = MainWindow()
    first.show()
    first.session.load_model(args.model, "auto")
    QTimer.singleShot(0, lambda: first.open_folder(demo))
    wait_for(first.session.scoring_finished)
    wait(1500)
    shoot(first, "first_run.png")
    first.close()
    os.environ["PATHVIEW_CONFIG_DIR"] = str(work / "config")
    app.setStyle("Fusion")  # the other shots, as they always were

    prefs = Preferences()
    prefs.reviewer = "Dr A. Pathologist"
    prefs.overlay_opacity = 0.45
    session = TriageSession()
    window = MainWindow(session, prefs)
    window.resize(1600, 1000)
    window.set_metrics_visible(False)  # shots 1-3 show the grid and the patch view
    window.show()
    session.load_model(args.model, "cpu")
    wait_for(session.model_worker.model_loaded)
    window.open_folder(demo)
    wait_for(session.scoring_finished)

    # 1. The grid with scores, sorted by P(tumour), ground truth chips from labels.csv.
    window.sort_combo.setCurrentIndex(list(SortKey).index(SortKey.P_TUMOUR))
    session.select_position(0)
    wait(1500)
    shoot(window, "grid_scores.png")

    # 2. A tumour patch with its Grad-CAM heat map and the centre box.
    session.select_position(2)
    wait(2500)
    shoot(window, "patch_heatmap.png")
    # 2b. The patch view and its colour bar alone, as a blend and as outlines.
    pane = window.patch_view.parentWidget()
    shoot(pane, "heatmap.png")
    window.action_map["toggle_contours"].trigger()
    shoot(pane, "heatmap_contours.png")
    window.action_map["toggle_contours"].trigger()

    # 3. Review in progress: most uncertain first, auto-advance on.
    window.sort_combo.setCurrentIndex(list(SortKey).index(SortKey.UNCERTAINTY))
    window.action_map["auto_advance"].trigger()
    session.select_position(0)
    for verdict in [Verdict.AGREE, Verdict.AGREE, Verdict.DISAGREE, Verdict.UNSURE] * 3:
        wait(250)
        session.record(verdict)
    window.histogram.refresh()
    wait(2500)
    shoot(window, "review_progress.png")

    # 5. The metrics dock: more reviews, a colleague's reviews imported (agreement,
    #    adjudication queue), TTA scores (unstable patches), truth and reviews side by side.
    #    Both reviewers judge by the ground truth, the colleague differing on a few patches.
    table = session.table

    def by_truth(pid: str, flip: bool = False) -> Verdict:
        row = table.row_of(pid)
        assert row is not None
        label = table.truth[row] if not flip else 1 - table.truth[row]
        return Verdict.AGREE if int(table.p[row] >= 0.5) == label else Verdict.DISAGREE

    for pid in sorted(table.ids)[:30]:
        if session.select_patch(pid):
            session.record(by_truth(pid))
    assert session.store is not None
    mine = session.store.current_states()
    colleague = work / "colleague.sqlite"
    with ReviewStore(colleague) as other:
        for i, pid in enumerate(sorted(mine)):
            row = table.row_of(pid)
            assert row is not None
            verdict = by_truth(pid, flip=i % 6 == 2)
            other.record(ReviewInput(pid, verdict, "Dr B. Colleague", p_tumour=table.p[row]))
    window.import_reviews(colleague)  # in the background
    wait_for(session.reviews.reviews_imported, 10000)
    session.score(tta=True)
    wait_for(session.scoring_finished)
    window.set_metrics_visible(True)
    wait_for(session.evaluation.state.report_changed, 10000)
    wait(1500)
    panel = window.metrics_panel
    if panel.queue_list.count():
        panel.queue_list.setCurrentRow(0)
    shoot(window.metrics_dock, "metrics_panel.png")
    window.close()

    # 4. Errors: a corrupt file and a model that cannot load; browsing and review still work.
    broken = work / "broken"
    broken.mkdir()
    for f in sorted(demo.glob("*.tif"))[:10]:
        shutil.copy(f, broken / f.name)
    (broken / "truncated_scan.tif").write_bytes((sorted(demo.glob("*.tif"))[0]).read_bytes()[:300])
    (broken / "not_a_tiff.tif").write_bytes(b"<html>this download failed</html>")
    session = TriageSession()
    window = MainWindow(session, prefs)
    window.resize(1600, 1000)
    window.show()
    session.load_model(work / "missing-model", "cpu")
    wait_for(session.model_worker.model_failed)
    window.open_folder(broken)
    wait_for(session.listing_finished)
    wait(1500)
    row = session.table.row_of("truncated_scan")
    pos = session.model.position_of(row) if row is not None else None
    if pos is not None:
        session.select_position(pos)
    wait(1000)
    shoot(window, "errors_no_model.png")
    window.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
