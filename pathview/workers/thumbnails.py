"""Lazy, bounded, cancellable thumbnail loading on a small thread pool.

The grid asks for what it paints; requests queue newest-first (what is on screen now wins over
what scrolled past), the queue is bounded (old requests fall off), at most ``max_in_flight``
decodes run at once, and changing folder drops everything queued and every late result.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from pathview.core import PatchRef
from pathview.io import PatchInfo, load_patch_info
from pathview.workers.tasks import TaskPool


class ThumbnailLoader(QObject):
    """Decodes patches for the grid and the patch view; emits ``thumbnail_loaded``."""

    thumbnail_loaded = Signal(str, PatchInfo)  # patch id, what loading it yielded

    def __init__(
        self,
        parent: QObject | None = None,
        threads: int | None = None,
        max_in_flight: int = 8,
        max_pending: int = 256,
    ) -> None:
        super().__init__(parent)
        # Two decoders at most, one on a 2-core machine (the GUI thread needs the other core).
        if threads is None:
            threads = max(1, min(2, (os.cpu_count() or 2) - 1))
        self._pool = TaskPool("thumbnails", threads, self)
        self.max_in_flight = max_in_flight
        self.max_pending = max_pending
        self._root: Path | None = None
        self._generation = 0
        self._pending: deque[PatchRef] = deque()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._in_flight = 0  # includes stale tasks of an older folder: they still use a thread

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def pending(self) -> int:
        return len(self._pending)

    def set_folder(self, root: Path | None) -> None:
        """Forget every request of the previous folder; late results are dropped."""
        self._root = root
        self._generation += 1
        self._pending.clear()
        self._queued.clear()
        self._running.clear()

    def request(self, ref: PatchRef, urgent: bool = False) -> None:
        """Ask for a patch; ``urgent`` (the selected patch) jumps the queue."""
        if self._root is None or ref.id in self._running:
            return
        if ref.id in self._queued:
            if not urgent:
                return
            self._pending.remove(ref)
        self._queued.add(ref.id)
        self._pending.appendleft(ref)
        while len(self._pending) > self.max_pending:
            dropped = self._pending.pop()
            self._queued.discard(dropped.id)
        self._pump()

    def shutdown(self) -> None:
        self.set_folder(None)
        self._pool.clear()
        self._pool.wait()

    def _pump(self) -> None:
        while self._root is not None and self._pending and self._in_flight < self.max_in_flight:
            ref = self._pending.popleft()
            self._queued.discard(ref.id)
            self._running.add(ref.id)
            self._in_flight += 1
            self._start(self._generation, self._root, ref)

    def _start(self, generation: int, root: Path, ref: PatchRef) -> None:
        self._pool.start(
            lambda _emit: load_patch_info(root, ref),
            lambda info: self._on_loaded(generation, ref.id, info),
        )

    def _on_loaded(self, generation: int, patch_id: str, info: PatchInfo) -> None:
        self._in_flight -= 1
        if generation == self._generation:
            self._running.discard(patch_id)
            self.thumbnail_loaded.emit(patch_id, info)
        self._pump()
