"""The folder summary window (View ▸ Folder summary): the numbers of
:func:`pathview.triage.folder_summary.summarise_folder` and the map, computed off the GUI
thread from the session's table, shown as the same HTML ``pathview report`` writes."""

from __future__ import annotations

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import QDialog, QTextBrowser, QVBoxLayout, QWidget

from pathview.triage.folder_summary import FolderSummary, summary_html, table_inputs
from pathview.ui.session import TriageSession
from pathview.workers.tasks import TaskPool

MAP_RESOURCE = "pathview-map.png"


class SummaryDialog(QDialog):
    """A window showing one folder summary (HTML in a text browser)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Folder summary")
        self.browser = QTextBrowser()
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        self.resize(620, 720)
        self.summary: FolderSummary | None = None
        self.browser.setHtml("<p>Summarising the folder…</p>")

    def show_summary(self, summary: FolderSummary, png: bytes | None) -> None:
        self.summary = summary
        src = ""
        if png is not None:
            image = QImage.fromData(png)
            self.browser.document().addResource(
                QTextDocument.ResourceType.ImageResource, QUrl(MAP_RESOURCE), image
            )
            src = MAP_RESOURCE
        self.browser.setHtml(summary_html(summary, src))


class SummaryRunner(QObject):
    """Summarises the session's folder on a worker and fills a :class:`SummaryDialog`."""

    summarised = Signal(FolderSummary)
    message = Signal(str)

    def __init__(self, session: TriageSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._pool = TaskPool("summary", 1, self)
        self.dialog: SummaryDialog | None = None

    def show(self, parent: QWidget | None) -> SummaryDialog:
        """Open (or raise) the summary window and (re)compute it."""
        if self.dialog is None:
            self.dialog = SummaryDialog(parent)
        dialog = self.dialog
        dialog.browser.setHtml("<p>Summarising the folder…</p>")
        dialog.show()
        dialog.raise_()
        s = self._session
        inputs = table_inputs(s.table, s.threshold)
        generation = s.folders.generation

        def work(_emit: object) -> tuple[FolderSummary, bytes | None]:
            return inputs.summarise(), inputs.map()

        def done(result: tuple[FolderSummary, bytes | None]) -> None:
            if generation == s.folders.generation and self.dialog is not None:
                self.dialog.show_summary(*result)
                self.summarised.emit(result[0])

        self._pool.start(work, done, lambda reason: self.message.emit(f"No summary: {reason}"))
        return dialog

    def shutdown(self) -> None:
        self._pool.clear()
        self._pool.wait()
