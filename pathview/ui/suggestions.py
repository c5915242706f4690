"""SuggestionController: the review queue of the open folder, chosen off the GUI thread.

The queue is the one ``pathview queue --strategy auto`` writes for the table's scores
(:func:`pathview.triage.queue_rows`); on 220,025 rows choosing it takes a few hundred
milliseconds, so it runs on its own pool over a snapshot of the table. It is kept until new
scores arrive, the folder closes or a fresh one is asked for; callers waiting for it are called
back (in the GUI thread) when it is ready, and a queue chosen for an older table is dropped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from pathview.triage import queue_inputs, queue_rows
from pathview.ui.folder import FolderController
from pathview.workers.tasks import TaskPool

Waiter = Callable[[np.ndarray], None]


class SuggestionController(QObject):
    """Owner of the review queue (table rows, most useful first)."""

    message = Signal(str)

    def __init__(self, folder: FolderController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._folder = folder
        self._pool = TaskPool("suggestions", 1, self)
        self.queue: np.ndarray | None = None  # None: not chosen for the current scores
        self._generation = 0  # bumped whenever the queue goes stale
        self._waiting: list[Waiter] = []
        self._running = False
        #: The patches' embeddings, one row per table row, when something has them (the queue
        #: then defers near-duplicates, as the command does); None: uncertainty alone.
        self.embeddings: Callable[[], np.ndarray | None] = lambda: None
        folder.folder_closed.connect(self.invalidate)

    @property
    def busy(self) -> bool:
        """Whether a queue is being chosen."""
        return self._running

    def invalidate(self) -> None:
        """The scores or the folder changed: choose the queue again when next asked."""
        self.queue = None
        self._generation += 1
        self._running = False  # a queue being chosen now is for the old table

    def fresh(self, then: Waiter) -> None:
        """Choose the queue anew (reviews given since drop off it), then call ``then``."""
        self.invalidate()
        self.request(then)

    def request(self, then: Waiter) -> None:
        """Call ``then(queue)``: now if the queue is known, else once it is chosen."""
        if self.queue is not None:
            then(self.queue)
            return
        self._waiting.append(then)
        if self._running:
            return
        self._running = True
        generation = self._generation
        inputs = queue_inputs(self._folder.table, self.embeddings())
        self._pool.start(
            lambda _emit: queue_rows(inputs),
            lambda rows: self._on_chosen(generation, rows),
            lambda reason: self._on_failed(generation, reason),
        )

    def _on_chosen(self, generation: int, rows: np.ndarray) -> None:
        if generation != self._generation:  # stale: choose again for whoever still waits
            if self._waiting and not self._running:
                waiting, self._waiting = self._waiting, []
                for then in waiting:
                    self.request(then)
            return
        self._running = False
        self.queue = rows
        waiting, self._waiting = self._waiting, []
        for then in waiting:
            then(rows)

    def _on_failed(self, generation: int, reason: str) -> None:
        if generation == self._generation:
            self._running = False
            self._waiting.clear()
            self.message.emit(f"The suggested order could not be chosen: {reason}")

    def shutdown(self) -> None:
        self._waiting.clear()
        self._pool.clear()
        self._pool.wait()
