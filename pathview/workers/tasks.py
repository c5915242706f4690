"""The one mechanism the workers use to run a plain function on a thread pool.

Why not superqt's ``create_worker``/``thread_worker``: importing anything from superqt runs
``superqt/__init__.py``, which imports its widgets (sliders, combo boxes) and so QtWidgets and
QtGui; this layer may import QtCore only (tests/test_layering.py, tests/test_workers.py). The
widget layer does use superqt, for its rate limits (``qdebounced``, ``qthrottled``).

The shape follows superqt's ``FunctionWorker``/``GeneratorWorker``: a function runs on a pool
thread; what it ``yield``s (or passes to its ``emit`` argument) and what it returns come back as
calls of typed callbacks in the thread that started it. Each caller keeps its own request
ids/generations to drop late results; this module only carries them.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from pathview.workers.base import make_pool

R = TypeVar("R")
Y = TypeVar("Y")

#: The function a task runs: it gets ``emit`` (send a partial result back) and returns the
#: final result.
Work = Callable[[Callable[[Y], None]], R]


class _Relay(QObject):
    """Lives in the starting thread; queued signals bring each call back there."""

    call = Signal(object, object)  # callback, argument

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.call.connect(_invoke)


def _invoke(callback: Callable[[Any], None], argument: object) -> None:
    callback(argument)


class _Task(QRunnable, Generic[Y, R]):
    def __init__(
        self,
        work: Work[Y, R],
        relay: _Relay,
        done: Callable[[R], None],
        failed: Callable[[str], None] | None,
        emitted: Callable[[Y], None] | None,
    ) -> None:
        super().__init__()
        self._work = work
        self._relay = relay
        self._done = done
        self._failed = failed
        self._emitted = emitted

    def _emit(self, value: Y) -> None:
        if self._emitted is not None:
            self._relay.call.emit(self._emitted, value)

    def run(self) -> None:
        try:
            result = self._work(self._emit)
        except Exception as exc:  # reported to the caller, never lost in a pool thread
            if self._failed is None:
                traceback.print_exc()
            else:
                self._relay.call.emit(self._failed, f"{type(exc).__name__}: {exc}")
            return
        self._relay.call.emit(self._done, result)


class TaskPool(QObject):
    """A private, registered thread pool that runs :data:`Work` functions; callbacks run in the
    thread that owns the pool (the GUI thread)."""

    def __init__(self, name: str, threads: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool: QThreadPool = make_pool(name, threads)
        self._relay = _Relay(self)

    def start(
        self,
        work: Work[Y, R],
        done: Callable[[R], None],
        failed: Callable[[str], None] | None = None,
        emitted: Callable[[Y], None] | None = None,
    ) -> None:
        """Run ``work(emit)`` on the pool; ``done(result)``, ``failed(reason)`` and
        ``emitted(value)`` (for each ``emit(value)``) are called back in this object's thread."""
        self._pool.start(_Task(work, self._relay, done, failed, emitted))

    @property
    def active(self) -> int:
        return self._pool.activeThreadCount()

    def clear(self) -> None:
        """Drop tasks that have not started."""
        self._pool.clear()

    def wait(self) -> None:
        """Wait for the running tasks to end."""
        self._pool.waitForDone()
