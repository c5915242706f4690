"""The app's side of the scoring child process (:mod:`pathview.scoring.server`).

A QProcess in the GUI thread: requests are written to the child's stdin, events are read
from its stdout when Qt says bytes are there (no extra thread). The child's stderr is
forwarded to the app's. If the child dies, the running request ends with the reason and
the next request starts a fresh child with the last model.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from pathview.core import PatchRef, RefSequence
from pathview.scoring import ScoreBatch
from pathview.scoring.server import Message, batch_from_message, encode
from pathview.workers.base import register_process

log = logging.getLogger(__name__)

#: Where ``pathview`` can be imported from (the child may start in any working directory).
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


#: Patches per request message: a 220,025-patch folder goes over in 45 parts, one per turn of
#: the event loop, so the GUI thread never spends long encoding.
REFS_PER_MESSAGE = 5000


def ref_columns(
    refs: Sequence[PatchRef], start: int = 0, stop: int | None = None
) -> tuple[list[str], list[str]]:
    """The ids and relative paths of ``refs[start:stop]`` as two lists, in order."""
    if isinstance(refs, RefSequence):
        return refs.columns(start, stop)
    part = refs[start:stop]
    return [r.id for r in part], [r.relpath for r in part]


class ScoringProcess(QObject):
    """Scores folders in a child process; signals fire in the GUI thread."""

    failed = Signal(str)  # the model did not load in the child, or the child did not start
    #: The child has its model (its id); requests sent before it queue there until then.
    loaded = Signal(str)
    batch_scored = Signal(int, ScoreBatch)  # request id, batch
    scoring_ended = Signal(int, str)  # request id, "done" | "cancelled" | error text

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._buffer = bytearray()
        self._load_request: Message | None = None
        self._running: set[int] = set()  # requests sent and not yet ended
        # The rest of a long request: (request id, refs, next start), sent by a timer.
        self._feed: tuple[int, Sequence[PatchRef], int] | None = None
        # Not a rate limit: a zero-interval timer sends one part per turn of the event loop.
        self._feed_timer = QTimer(self)
        self._feed_timer.setInterval(0)
        self._feed_timer.timeout.connect(self._feed_next)

    @property
    def running(self) -> bool:
        p = self._process
        return p is not None and p.state() != QProcess.ProcessState.NotRunning

    def load(self, model_dir: Path | None, device: str) -> None:
        """(Re)load the model in the child, starting the child if needed."""
        self._load_request = {
            "op": "load",
            "model_dir": None if model_dir is None else str(model_dir),
            "device": device,
        }
        if not self._ensure_started():
            return
        self._write(self._load_request)

    def score(
        self,
        request_id: int,
        root: Path,
        refs: Sequence[PatchRef],
        tta: bool,
        cache: Path | None = None,
        insight: bool = False,
    ) -> None:
        """Score ``refs`` under ``root``; a new request ends the running one in the child.
        With ``cache`` the child answers from that score cache first and records there.
        With ``insight`` the batches carry quality rows and embeddings."""
        if not self._ensure_started(with_model=True):
            self.scoring_ended.emit(request_id, "the scoring process could not start")
            return
        self._stop_feed()
        ids, relpaths = ref_columns(refs, 0, REFS_PER_MESSAGE)
        more = len(refs) > REFS_PER_MESSAGE
        self._running.add(request_id)
        self._write(
            {
                "op": "score",
                "id": request_id,
                "root": str(root),
                "ids": ids,
                "relpaths": relpaths,
                "tta": bool(tta),
                "more": more,
                "cache": None if cache is None else str(cache),
                "insight": bool(insight),
            }
        )
        if more:
            self._feed = (request_id, refs, REFS_PER_MESSAGE)
            self._feed_timer.start()

    def cancel(self, request_id: int) -> None:
        if self._feed is not None and self._feed[0] == request_id:
            self._stop_feed()
        if request_id in self._running and self.running:
            self._write({"op": "cancel", "id": request_id})

    def _feed_next(self) -> None:
        if self._feed is None:
            self._feed_timer.stop()
            return
        request_id, refs, start = self._feed
        stop = start + REFS_PER_MESSAGE
        ids, relpaths = ref_columns(refs, start, stop)
        more = len(refs) > stop
        self._write(
            {"op": "refs", "id": request_id, "ids": ids, "relpaths": relpaths, "more": more}
        )
        if more:
            self._feed = (request_id, refs, stop)
        else:
            self._stop_feed()

    def _stop_feed(self) -> None:
        self._feed = None
        self._feed_timer.stop()

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop the child: ask it to stop and wait (then kill it), or, while a request is
        still being sent (a long list of patches), kill it at once: the child has nothing to
        save (its score cache writes are transactions) and it never reads half a message."""
        p = self._process
        self._process = None
        self._running.clear()
        self._stop_feed()
        if p is None:
            return
        p.readyReadStandardOutput.disconnect(self._on_output)
        p.finished.disconnect(self._on_finished)
        p.errorOccurred.disconnect(self._on_error)
        if p.state() != QProcess.ProcessState.NotRunning:
            if p.bytesToWrite() > 0:
                p.kill()
            else:
                p.write(encode({"op": "stop"}))
                p.closeWriteChannel()
            if not p.waitForFinished(timeout_ms):
                p.kill()
                p.waitForFinished(timeout_ms)
        p.deleteLater()

    # -- plumbing ---------------------------------------------------------------------------
    def _ensure_started(self, with_model: bool = False) -> bool:
        if self.running:
            return True
        p = QProcess(self)
        p.setObjectName("scoring process")
        # The child's warnings and tracebacks belong in the app's own stderr.
        p.setProcessChannelMode(QProcess.ProcessChannelMode.ForwardedErrorChannel)
        env = QProcessEnvironment.systemEnvironment()
        path = env.value("PYTHONPATH", "")
        env.insert("PYTHONPATH", _PACKAGE_PARENT + (":" + path if path else ""))
        p.setProcessEnvironment(env)
        p.readyReadStandardOutput.connect(self._on_output)
        p.finished.connect(self._on_finished)
        p.errorOccurred.connect(self._on_error)
        self._buffer.clear()
        p.start(sys.executable, ["-m", "pathview.scoring.server"])
        if not p.waitForStarted(10000):
            reason = f"the scoring process did not start: {p.errorString()}"
            log.warning(reason)
            p.deleteLater()
            self.failed.emit(reason)
            return False
        register_process(p)
        self._process = p
        if with_model and self._load_request is not None:
            self._write(self._load_request)  # a fresh child after a crash: same model
        return True

    def _write(self, msg: Message) -> None:
        if self._process is not None:
            self._process.write(encode(msg))

    def _on_output(self) -> None:
        p = self._process
        if p is None:
            return
        self._buffer += bytes(p.readAllStandardOutput().data())
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                return
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            try:
                msg = json.loads(line)
            except ValueError:
                log.warning("scoring process: unreadable event %r", line[:80])
                continue
            self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        ev = msg.get("ev")
        if ev == "batch":
            self.batch_scored.emit(int(msg["id"]), batch_from_message(msg))
        elif ev == "ended":
            request_id = int(msg["id"])
            self._running.discard(request_id)
            self.scoring_ended.emit(request_id, str(msg.get("outcome", "")))
        elif ev == "failed":
            self.failed.emit(str(msg.get("reason", "")))
        elif ev == "loaded":
            # Nothing waits on it: requests queue in the child until its model is there.
            self.loaded.emit(str(msg.get("model_id", "")))

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        if status == QProcess.ExitStatus.CrashExit:
            self._child_gone("the scoring process stopped (it crashed or was killed)")
        else:
            self._child_gone(f"the scoring process stopped (exit code {code})")

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error != QProcess.ProcessError.FailedToStart:  # reported by _ensure_started
            self._child_gone(f"the scoring process stopped ({error.name})")

    def _child_gone(self, reason: str) -> None:
        p = self._process
        if p is None:
            return
        if p.state() != QProcess.ProcessState.NotRunning:
            return  # errorOccurred before finished: wait for finished
        self._on_output()  # events written before it went
        self._stop_feed()
        self._process = None
        p.deleteLater()
        log.warning(reason)
        for request_id in sorted(self._running):
            self.scoring_ended.emit(request_id, reason)
        self._running.clear()
