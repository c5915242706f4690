"""Streams a folder listing off the GUI thread (wraps pathview.io.iter_patches)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from pathview.core import CancelToken, PatchRef
from pathview.io import FolderError, iter_patches
from pathview.workers.base import next_request_id
from pathview.workers.tasks import TaskPool

#: Listed batches handed to the GUI thread and not yet taken in, at most.
BATCHES_IN_FLIGHT = 2


class _ListingFailed(Exception):
    """The listing ended with a reason for the user (not a bug)."""


def _list(
    root: Path, token: CancelToken, batch_size: int, emit: Callable[[list[PatchRef]], None]
) -> int | None:
    """Send ``root``'s patches to ``emit`` in batches; the count, or None when cancelled."""
    count = 0
    try:
        for batch in iter_patches(root, cancel=token, batch_size=batch_size):
            if token.cancelled:
                return None
            count += len(batch)
            emit(batch)
    except FolderError as exc:
        raise _ListingFailed(str(exc)) from exc
    except OSError as exc:  # e.g. the folder vanished mid-listing
        raise _ListingFailed(f"cannot list {root}: {exc}") from exc
    return None if token.cancelled else count


class FolderLister(QObject):
    """Lists one folder at a time; starting another cancels the first, whose late batches
    are dropped (each request carries an id)."""

    # request id, list[PatchRef] (object: a list type would be converted item by item)
    listing_progressed = Signal(int, object)
    listing_finished = Signal(int, int)  # request id, number of patches
    listing_failed = Signal(int, str)  # request id, reason

    def __init__(self, parent: QObject | None = None, batch_size: int = 2048) -> None:
        super().__init__(parent)
        self._pool = TaskPool("listing", 1, self)
        self._batch_size = batch_size
        self._current = 0
        self._token = CancelToken()

    @property
    def current_request(self) -> int:
        return self._current

    def list_folder(self, root: Path) -> int:
        """Start listing ``root``; returns the request id its signals will carry."""
        self.cancel()
        token = self._token = CancelToken()
        request_id = self._current = next_request_id()
        root, size = Path(root), self._batch_size

        # At most BATCHES_IN_FLIGHT batches wait for the GUI thread: queued batches are all
        # delivered in one turn of its event loop, and a listing faster than the GUI takes
        # it in would stall that turn for every batch queued (up to 110 ms while listing
        # 220,025 files).
        in_flight = threading.Semaphore(BATCHES_IN_FLIGHT)

        def send(emit: Callable[[list[PatchRef]], None], batch: list[PatchRef]) -> None:
            while not in_flight.acquire(timeout=0.1):
                if token.cancelled:
                    return
            emit(batch)

        def work(emit: Callable[[list[PatchRef]], None]) -> int | None:
            return _list(root, token, size, lambda batch: send(emit, batch))

        def batch_listed(batch: list[PatchRef]) -> None:
            try:
                self._on_batch(request_id, batch)
            finally:
                in_flight.release()

        self._pool.start(
            work,
            lambda count: self._on_done(request_id, count),
            lambda reason: self._on_error(request_id, reason),
            batch_listed,
        )
        return request_id

    def cancel(self) -> None:
        self._token.cancel()
        self._current = 0

    def shutdown(self) -> None:
        self.cancel()
        self._pool.wait()

    def _on_batch(self, request_id: int, batch: list[PatchRef]) -> None:
        if request_id == self._current:
            self.listing_progressed.emit(request_id, batch)

    def _on_done(self, request_id: int, count: int | None) -> None:
        if request_id == self._current and count is not None:
            self.listing_finished.emit(request_id, count)

    def _on_error(self, request_id: int, reason: str) -> None:
        if request_id == self._current:
            # "_ListingFailed: reason" -> "reason"; any other exception keeps its type name.
            prefix = f"{_ListingFailed.__name__}: "
            self.listing_failed.emit(request_id, reason.removeprefix(prefix))
