"""Opening a slide from the folder window: File > Open slide, or a slide dropped on it.

Each slide opens in its own :class:`pathview.ui.slide_window.SlideWindow`, with its own
:class:`pathview.ui.slide_session.SlideSession` that loads the model (the same directory and
device as the folder window's) on its own thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from pathview.slide import SLIDE_SUFFIXES, is_slide_path

#: The file dialog's filter for slides.
SLIDE_FILTER = "Slides (" + " ".join(f"*{s}" for s in SLIDE_SUFFIXES) + ");;All files (*)"


def dropped_slide(path: Path) -> bool:
    """Whether a dropped path is a slide file the slide window should open."""
    return is_slide_path(path)


def ask_slide_path(parent: QWidget, start: str = "") -> Path | None:
    """Ask for a slide file (None: cancelled)."""
    name, _ = QFileDialog.getOpenFileName(parent, "Open a slide", start, SLIDE_FILTER)
    return Path(name) if name else None


def open_slide_window(
    path: Path, model_dir: Path | None = None, device: str = "auto", parent: QWidget | None = None
) -> QWidget:
    """Open ``path`` in a new slide window (shown) and return it; it deletes itself when
    closed."""
    from PySide6.QtCore import Qt

    from pathview.core.resources import bundled_model_dir
    from pathview.model import load_model
    from pathview.model.bundle import read_metadata
    from pathview.scoring.slide import tile_spec_for
    from pathview.ui.slide_session import SlideSession
    from pathview.ui.slide_window import SlideWindow

    session = SlideSession(loader=lambda: load_model(model_dir, device=device))
    window = SlideWindow(session, parent=parent)
    window.setWindowFlag(Qt.WindowType.Window, True)
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    window.resize(1280, 800)
    window.show()
    session.open(path, tile_spec_for(read_metadata(model_dir or bundled_model_dir())))
    return window
