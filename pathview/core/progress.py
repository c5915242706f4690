"""Cancel and progress handles passed into long-running pure functions."""

from __future__ import annotations

import threading
from collections.abc import Callable

#: Progress callback: (done, total or None when unknown).
ProgressFn = Callable[[int, "int | None"], None]


class Cancelled(Exception):
    """Raised inside a long job when its CancelToken was set."""


class CancelToken:
    """Thread-safe cancellation flag checked by long-running loops."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()
