"""The window's file dialogs and what it says about imports and exports.

Imports and exports run in the background (:class:`ReviewController`); this shows the dialog
that picks the file (and gives the keys back to the grid when it closes) and, when the job
ends, the result in the status bar or a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from pathview.ui.session import TriageSession
from pathview.ui.settings import Preferences

EXPORT_TITLES = {
    "labels": ("Export reviewed labels", "reviewed_labels.csv"),
    "log": ("Export review log", "review_log.csv"),
    "submission": ("Export Kaggle submission", "submission.csv"),
}


class FileActions(QObject):
    """File dialogs of ``window`` over ``session``; results are shown as they arrive."""

    def __init__(
        self,
        window: QMainWindow,
        session: TriageSession,
        prefs: Preferences,
        focus_grid: Callable[[], None],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._session = session
        self._prefs = prefs
        self._focus_grid = focus_grid  # after every dialog: not the first widget of the tabs
        self._titles: dict[Path, str] = {}  # export file -> the title of its dialog
        self._importing: Path | None = None
        reviews = session.reviews
        reviews.export_finished.connect(self._on_exported)
        reviews.export_failed.connect(self._on_export_failed)
        reviews.import_failed.connect(self._on_import_failed)

    def _start_dir(self) -> str:
        return str(self._session.folder or Path.home())

    def show_warning(self, title: str, text: str) -> None:
        """A window-modal warning that does not block the event loop (nor a test)."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self._window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self._window.statusBar().showMessage(text, 10000)

    # ------------------------------------------------------------------ dialogs
    def open_folder_dialog(self) -> None:
        start = self._prefs.last_folder or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self._window, "Open a folder of patches", start)
        self._focus_grid()
        if folder:
            self._session.open_folder(Path(folder))

    def load_model_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self._window, "Model folder (weights + model.json)"
        )
        self._focus_grid()
        if folder:
            self._session.load_model(Path(folder))

    def load_labels_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._window, "Labels CSV (id,label)", self._start_dir(), "CSV (*.csv)"
        )
        self._focus_grid()
        if path:
            self._session.folders.load_labels(Path(path))

    def import_reviews_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._window,
            "Import a colleague's reviews",
            self._start_dir(),
            "Review stores and logs (*.sqlite *.db *.csv);;All files (*)",
        )
        self._focus_grid()
        if path:
            self.import_reviews(Path(path))

    # ------------------------------------------------------------------ imports
    def import_reviews(self, source: Path) -> bool:
        """Merge a colleague's review store or log (as ``pathview import``) in the background;
        a failure is shown and changes nothing (the import is one transaction)."""
        self._importing = Path(source)
        return self._session.reviews.import_reviews(Path(source))

    def _on_import_failed(self, reason: str) -> None:
        source = self._importing or "the file"
        self.show_warning("Import reviews", f"Nothing imported from {source}: {reason}")

    # ------------------------------------------------------------------ exports
    def export(self, kind: str, out: Path | None) -> bool:
        """Write the ``kind`` export ("labels", "log", "submission") to ``out`` (None: ask
        where) in the background; False when nothing was started."""
        title, default_name = EXPORT_TITLES[kind]
        if out is None:
            start = str((self._session.folder or Path.home()) / default_name)
            chosen, _ = QFileDialog.getSaveFileName(self._window, title, start, "CSV (*.csv)")
            self._focus_grid()
            if not chosen:
                return False
            out = Path(chosen)
        self._titles[Path(out)] = title
        reviews = self._session.reviews
        if kind == "labels":
            return reviews.export_labels(out)
        if kind == "log":
            return reviews.export_log(out)
        return reviews.export_submission(out, self._session.scores())

    def _on_exported(self, out: Path, count: int) -> None:
        self._titles.pop(out, None)
        self._window.statusBar().showMessage(f"Wrote {count:,} rows to {out}", 8000)

    def _on_export_failed(self, out: Path, reason: str) -> None:
        # Shown, never a crash: the review store is untouched.
        title = self._titles.pop(out, "Export")
        self.show_warning(title, f"Export failed: {reason}")


__all__ = ["EXPORT_TITLES", "FileActions"]
