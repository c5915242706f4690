"""Shared plumbing of the workers: a registry of the threads they start.

Tests (and the window's close) check ``running_workers()`` is empty, so no worker thread or
child process outlives the window that started it.
"""

from __future__ import annotations

import itertools
import weakref

from PySide6.QtCore import QProcess, QThread, QThreadPool

_pools: weakref.WeakSet[QThreadPool] = weakref.WeakSet()
_threads: weakref.WeakSet[QThread] = weakref.WeakSet()
_processes: weakref.WeakSet[QProcess] = weakref.WeakSet()
_request_ids = itertools.count(1)


def next_request_id() -> int:
    """A process-wide unique id for a background request (results carry it back)."""
    return next(_request_ids)


def make_pool(name: str, max_threads: int) -> QThreadPool:
    """A private thread pool, registered so ``running_workers`` can see it."""
    pool = QThreadPool()
    pool.setObjectName(name)
    pool.setMaxThreadCount(max_threads)
    _pools.add(pool)
    return pool


def register_thread(thread: QThread) -> None:
    _threads.add(thread)


def register_process(process: QProcess) -> None:
    _processes.add(process)


def running_workers() -> list[str]:
    """Names of worker pools with active tasks, worker threads and child processes still
    running."""
    busy = [f"pool {p.objectName()}" for p in list(_pools) if p.activeThreadCount() > 0]
    busy += [f"thread {t.objectName()}" for t in list(_threads) if t.isRunning()]
    busy += [
        f"process {p.objectName()}"
        for p in list(_processes)
        if p.state() != QProcess.ProcessState.NotRunning
    ]
    return busy
