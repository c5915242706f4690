"""GUI entry point: ``pathview [FOLDER]`` (via pathview.cli) ends up in :func:`run_app`."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from pathview import __version__


def run_app(
    folder: Path | None = None,
    model_dir: Path | None = None,
    device: str = "auto",
    quit_after_ms: int | None = None,
) -> int:
    """Show the main window (on ``folder`` if given), load the model in the background and run
    the event loop; returns the exit status. ``quit_after_ms`` closes the window that long
    after the event loop starts (a smoke test that the installed app starts).

    A splash is on screen while the modules load (PyTorch takes seconds); then the window, whose
    status bar shows the model loading. On the first run the reviewer's name is asked once the
    window is up (remembered after that; Review ▸ Change reviewer switches it).
    """
    from pathview.ui.splash import show_splash, show_step

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("pathview")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("pathview")
    splash = show_splash(app, __version__)
    show_step(app, splash, "Loading PyTorch and the interface…")
    from pathview.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    splash.finish(window)
    window.session.load_model(model_dir, device)
    if quit_after_ms is None:
        QTimer.singleShot(0, window.ask_reviewer_at_start)
    if folder is not None:
        # After the window is on screen, so the first tiles stream into a visible grid.
        QTimer.singleShot(0, lambda: window.open_folder(Path(folder)))
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, window.close)
        QTimer.singleShot(quit_after_ms, app.quit)
    return int(app.exec())


def run_slide_app(
    slide: Path,
    model_dir: Path | None = None,
    device: str = "auto",
    quit_after_ms: int | None = None,
) -> int:
    """Show the slide window on ``slide`` (``pathview SLIDE.svs``): the overview with its heat
    map, the tile grid and the current tile; returns the exit status."""
    from pathview.core.resources import bundled_model_dir
    from pathview.model import load_model
    from pathview.model.bundle import read_metadata
    from pathview.scoring.slide import tile_spec_for
    from pathview.ui.slide_session import SlideSession
    from pathview.ui.slide_window import SlideWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("pathview")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("pathview")
    session = SlideSession(loader=lambda: load_model(model_dir, device=device))
    window = SlideWindow(session)
    screen = app.primaryScreen().availableGeometry()
    # Leave room for the window frame, so the status bar stays on a small screen.
    window.resize(min(1440, screen.width() - 16), min(900, screen.height() - 40))
    window.show()
    spec = tile_spec_for(read_metadata(model_dir or bundled_model_dir()))
    QTimer.singleShot(0, lambda: session.open(Path(slide), spec))
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, window.close)
        QTimer.singleShot(quit_after_ms, app.quit)
    return int(app.exec())


__all__ = ["run_app", "run_slide_app"]
