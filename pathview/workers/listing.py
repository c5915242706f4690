"""Streams a folder listing off the GUI thread (wraps pathview.io.iter_patches)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Signal

from pathview.core import CancelToken, PatchRef
from pathview.io import FolderError, iter_patches
from pathview.workers.base import make_pool, next_request_id


class _Relay(QObject):
    batch_listed = Signal(int, object)
    listing_done = Signal(int, int)
    listing_error = Signal(int, str)


class _ListingTask(QRunnable):
    def __init__(
        self, request_id: int, root: Path, token: CancelToken, relay: _Relay, batch_size: int
    ) -> None:
        super().__init__()
        self._id = request_id
        self._root = root
        self._token = token
        self._relay = relay
        self._batch_size = batch_size

    def run(self) -> None:
        count = 0
        try:
            for batch in iter_patches(self._root, cancel=self._token, batch_size=self._batch_size):
                if self._token.cancelled:
                    return
                count += len(batch)
                self._relay.batch_listed.emit(self._id, batch)
        except FolderError as exc:
            self._relay.listing_error.emit(self._id, str(exc))
            return
        except OSError as exc:  # e.g. the folder vanished mid-listing
            self._relay.listing_error.emit(self._id, f"cannot list {self._root}: {exc}")
            return
        if not self._token.cancelled:
            self._relay.listing_done.emit(self._id, count)


class FolderLister(QObject):
    """Lists one folder at a time; starting another cancels the first, whose late batches
    are dropped (each request carries an id)."""

    listing_progressed = Signal(int, object)  # request id, list[PatchRef]
    listing_finished = Signal(int, int)  # request id, number of patches
    listing_failed = Signal(int, str)  # request id, reason

    def __init__(self, parent: QObject | None = None, batch_size: int = 2048) -> None:
        super().__init__(parent)
        self._pool = make_pool("listing", 1)
        self._relay = _Relay(self)
        self._relay.batch_listed.connect(self._on_batch)
        self._relay.listing_done.connect(self._on_done)
        self._relay.listing_error.connect(self._on_error)
        self._batch_size = batch_size
        self._current = 0
        self._token = CancelToken()

    @property
    def current_request(self) -> int:
        return self._current

    def list_folder(self, root: Path) -> int:
        """Start listing ``root``; returns the request id its signals will carry."""
        self.cancel()
        self._token = CancelToken()
        self._current = next_request_id()
        self._pool.start(
            _ListingTask(self._current, Path(root), self._token, self._relay, self._batch_size)
        )
        return self._current

    def cancel(self) -> None:
        self._token.cancel()
        self._current = 0

    def shutdown(self) -> None:
        self.cancel()
        self._pool.waitForDone()

    def _on_batch(self, request_id: int, batch: list[PatchRef]) -> None:
        if request_id == self._current:
            self.listing_progressed.emit(request_id, batch)

    def _on_done(self, request_id: int, count: int) -> None:
        if request_id == self._current:
            self.listing_finished.emit(request_id, count)

    def _on_error(self, request_id: int, reason: str) -> None:
        if request_id == self._current:
            self.listing_failed.emit(request_id, reason)
