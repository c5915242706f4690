"""Regenerate slide_view.png: the slide window on the committed test slide, sorted by
P(tumour), a few tiles reviewed with the label and verdict keys, the current tile's Grad-CAM
with its colour bar (run under Xvfb, or any display).

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/make_slide_screenshot.py

Works on a temporary copy of the slide (its review store is written beside the copy) and a
temporary settings folder; uses the bundled model.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SLIDE = REPO / "tests" / "data" / "slides" / "cmu_small_region.svs"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="pathview-slide-shot-"))
    os.environ["PATHVIEW_CONFIG_DIR"] = str(work / "config")
    os.environ["PATHVIEW_DATA_DIR"] = str(work / "data")
    slide = work / "cmu.svs"
    shutil.copy(SLIDE, slide)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from pathview.model import load_model
    from pathview.scoring.slide import tile_spec_for
    from pathview.triage import SortKey
    from pathview.ui.settings import Preferences
    from pathview.ui.slide_session import SlideSession
    from pathview.ui.slide_window import SlideWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("pathview")
    app.setOrganizationName("pathview")

    def wait_for(signal: object, timeout_ms: int = 120_000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)  # type: ignore[attr-defined]
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()

    classifier = load_model(None, device="cpu")
    session = SlideSession(loader=lambda: classifier)
    prefs = Preferences()
    prefs.reviewer = "Dr Ann"
    window = SlideWindow(session, prefs)
    window.resize(1440, 900)
    window.show()
    session.open(slide, tile_spec_for(classifier.metadata))
    wait_for(session.scoring_finished)
    window.sort.setCurrentText(SortKey.P_TUMOUR.value)
    session.select(window.tiles.tile_row(0))  # the highest P first
    for slot in (window.agree, window.label_tumour, window.disagree, window.unsure):
        slot()  # each review moves on to the next tile
    window.set_heatmap_visible(True)
    wait_for(session.explained)
    app.processEvents()
    window.grab().save(str(HERE / "slide_view.png"))
    window.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
