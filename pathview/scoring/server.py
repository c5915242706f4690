"""Scoring in a child process: ``python -m pathview.scoring.server``.

The app scores a folder here rather than on a thread of its own process: decoding and
inference then never hold the app's interpreter lock, so the GUI thread never waits for it
(on a 2-core machine a niced scoring *thread* still stalled the event loop: it was
descheduled while holding the lock the GUI thread needed). The process lowers its own
priority, so the GUI wins the CPU whenever both want it.

The protocol is one JSON object per line, both ways (the app's side is
:class:`pathview.workers.scoring_process.ScoringProcess`).

Requests on stdin::

    {"op": "load", "model_dir": str | null, "device": "auto"}
    {"op": "score", "id": int, "root": str, "ids": [...], "relpaths": [...], "tta": bool,
     "more": bool, "insight": bool, "cache": str | null}
    {"op": "refs", "id": int, "ids": [...], "relpaths": [...], "more": bool}
    {"op": "cancel", "id": int}
    {"op": "stop"}                  (end of input stops as well)

Events on stdout::

    {"ev": "loaded", "model_id": str, "device": str, "precision": str}
    {"ev": "failed", "reason": str}                        (the model did not load)
    {"ev": "batch", "id": int, "ids": [...], "p": [...], "spread": [...] | null,
     "failed": {id: reason}, "done": int, "total": int, "views": [[8 floats], ...] | null,
     "quality": {"measures": [[5 floats], ...], "sha1": [...], "hashes": [[8 hex], ...]}
     | null, "features": {"shape": [n, c], "f32": base64} | null}
    {"ev": "ended", "id": int, "outcome": "done" | "cancelled" | error text}

With ``insight`` the scored batches carry the quality rows (:mod:`pathview.quality`) and the
embeddings (little-endian float32, base64: a batch of 256 patches of 128 features is 175 KB
of text).

A long list of patches comes in parts (``more`` true: ``refs`` messages follow, the last
with ``more`` false), so the app never encodes a whole 220,025-patch folder in one go. A new
``score`` or ``load`` ends the running scoring job ("cancelled") before it starts. With a
``cache`` (a score cache file, :mod:`pathview.scoring.cache`) the patches it answers come
first and what is scored is recorded there; with ``insight`` as well, a patch is answered
only where its embedding and quality rows are cached too.
Anything a library prints goes to stderr: stdout carries the protocol only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from pathview.core import N_VIEWS, Cancelled, CancelToken, RefSequence
from pathview.quality import MEASURES, PatchQuality, QualityMeasures
from pathview.quality.duplicates import N_HASH_VIEWS
from pathview.scoring.loop import ScoreBatch
from pathview.scoring.reuse import APP_BATCH_SIZE, iter_score_batches

#: Nice increment of the scoring process: the GUI process wins the CPU when both want it.
PROCESS_NICE = 10

Message = dict[str, Any]


def quality_message(quality: PatchQuality | None) -> Message | None:
    """The ``quality`` part of a ``batch`` event (see the module docstring)."""
    if quality is None:
        return None
    m = quality.measures
    return {
        "measures": np.stack([m.measure(name) for name in MEASURES], axis=1).tolist(),
        "sha1": list(quality.sha1),
        "hashes": [[f"{int(h):016x}" for h in row] for row in quality.hashes],
    }


def quality_from_message(msg: Message | None) -> PatchQuality | None:
    """Inverse of :func:`quality_message`."""
    if msg is None:
        return None
    values = np.asarray(msg["measures"], dtype=np.float32).reshape(-1, len(MEASURES))
    hashes = np.array(
        [[int(h, 16) for h in row] for row in msg["hashes"]], dtype=np.uint64
    ).reshape(-1, N_HASH_VIEWS)
    return PatchQuality(
        QualityMeasures(*(values[:, i].copy() for i in range(len(MEASURES)))),
        [str(s) for s in msg["sha1"]],
        hashes,
    )


def features_message(features: np.ndarray | None) -> Message | None:
    """The ``features`` part of a ``batch`` event (see the module docstring)."""
    if features is None:
        return None
    f = np.ascontiguousarray(features, dtype="<f4")
    return {"shape": list(f.shape), "f32": base64.b64encode(f.tobytes()).decode("ascii")}


def features_from_message(msg: Message | None) -> np.ndarray | None:
    """Inverse of :func:`features_message`."""
    if msg is None:
        return None
    raw = base64.b64decode(msg["f32"])
    return np.frombuffer(raw, dtype="<f4").reshape(tuple(msg["shape"])).astype(np.float32)


def batch_message(request_id: int, batch: ScoreBatch) -> Message:
    """The ``batch`` event of one :class:`ScoreBatch` (floats round-trip exactly in JSON)."""
    return {
        "ev": "batch",
        "id": request_id,
        "ids": batch.ids,
        "p": batch.p,
        "spread": batch.spread,
        "failed": batch.failed,
        "done": batch.done,
        "total": batch.total,
        "views": None if batch.views is None else batch.views.tolist(),
        "quality": quality_message(batch.quality),
        "features": features_message(batch.features),
    }


def batch_from_message(msg: Message) -> ScoreBatch:
    """Inverse of :func:`batch_message`."""
    views = msg.get("views")
    return ScoreBatch(
        ids=list(msg["ids"]),
        p=[float(v) for v in msg["p"]],
        spread=None if msg.get("spread") is None else [float(v) for v in msg["spread"]],
        failed={str(k): str(v) for k, v in dict(msg.get("failed") or {}).items()},
        done=int(msg["done"]),
        total=int(msg["total"]),
        views=None if views is None else np.asarray(views, dtype=np.float32).reshape(-1, N_VIEWS),
        quality=quality_from_message(msg.get("quality")),
        features=features_from_message(msg.get("features")),
    )


def encode(msg: Message) -> bytes:
    """One protocol line."""
    return (json.dumps(msg, separators=(",", ":"), allow_nan=True) + "\n").encode("utf-8")


def lower_process_priority(increment: int = PROCESS_NICE) -> None:
    """Be nice to the app (POSIX; elsewhere a no-op)."""
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(increment)


def default_loader(model_dir: str | None, device: str) -> Any:
    from pathview.model import load_model

    return load_model(Path(model_dir) if model_dir else None, device=device)


class Server:
    """The request loop, apart from the process plumbing (tests drive it directly).

    ``requests`` yields parsed requests (None = end of input); ``send`` writes one event.
    """

    def __init__(
        self,
        requests: queue.Queue[Message | None],
        send: Callable[[Message], None],
        loader: Callable[[str | None, str], Any] = default_loader,
        batch_size: int = APP_BATCH_SIZE,
    ) -> None:
        self._requests = requests
        self._send = send
        self._loader = loader
        self._batch_size = batch_size
        self._classifier: Any = None
        self._pending: deque[Message | None] = deque()

    def serve(self) -> None:
        while True:
            msg = self._pending.popleft() if self._pending else self._requests.get()
            if msg is None:
                return
            op = msg.get("op")
            if op == "stop":
                return
            if op == "load":
                self._load(msg)
            elif op == "score" and not self._score(msg):
                return
            # A cancel for a job that is not running is late: nothing to do.

    def _load(self, msg: Message) -> None:
        self._classifier = None
        try:
            self._classifier = self._loader(msg.get("model_dir"), str(msg.get("device", "auto")))
        except Exception as exc:  # reported; the app scores on its own thread instead
            self._send({"ev": "failed", "reason": f"{type(exc).__name__}: {exc}"})
            return
        self._send(
            {
                "ev": "loaded",
                "model_id": str(getattr(self._classifier, "model_id", "unknown")),
                "device": str(getattr(self._classifier, "device", "")),
                "precision": str(getattr(self._classifier, "precision", "")),
            }
        )

    def _score(self, msg: Message) -> bool:
        """Run one scoring job; False when the input ended meanwhile (stop serving)."""
        request_id = int(msg["id"])
        if self._classifier is None:
            self._send({"ev": "ended", "id": request_id, "outcome": "no model loaded"})
            return True
        token = CancelToken()
        ids, relpaths = list(msg["ids"]), list(msg["relpaths"])
        more = bool(msg.get("more", False))
        while more:  # the rest of the list
            part = self._pending.popleft() if self._pending else self._requests.get()
            if part is None or part.get("op") == "stop":
                return False
            if part.get("op") == "refs" and int(part.get("id", -1)) == request_id:
                ids += part["ids"]
                relpaths += part["relpaths"]
                more = bool(part.get("more", False))
            elif part.get("op") == "cancel":
                if int(part.get("id", -1)) == request_id:
                    self._send({"ev": "ended", "id": request_id, "outcome": "cancelled"})
                    return True
            elif part.get("op") in ("score", "load"):
                self._pending.append(part)
                self._send({"ev": "ended", "id": request_id, "outcome": "cancelled"})
                return True
        try:
            if len(ids) != len(relpaths):
                raise ValueError("ids and relpaths differ in length")
            refs = RefSequence(ids, relpaths, np.arange(len(ids)))
            batches: Iterator[ScoreBatch] = iter_score_batches(
                Path(msg["root"]),
                refs,
                self._classifier,
                tta=bool(msg.get("tta", False)),
                batch_size=self._batch_size,
                cancel=token,
                cache=Path(msg["cache"]) if msg.get("cache") else None,
                quality=bool(msg.get("insight", False)),
                features=bool(msg.get("insight", False)),
            )
            for batch in batches:
                self._send(batch_message(request_id, batch))
                if not self._poll(request_id, token):
                    return False
                token.raise_if_cancelled()
        except Cancelled:
            self._send({"ev": "ended", "id": request_id, "outcome": "cancelled"})
            return True
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            self._send({"ev": "ended", "id": request_id, "outcome": f"{type(exc).__name__}: {exc}"})
            return True
        self._send({"ev": "ended", "id": request_id, "outcome": "done"})
        return True

    def _poll(self, request_id: int, token: CancelToken) -> bool:
        """Between batches: take the requests that arrived. A cancel of this job, or any new
        job, cancels it; False when the input ended or a stop came."""
        while True:
            try:
                msg = self._requests.get_nowait()
            except queue.Empty:
                return True
            if msg is None or msg.get("op") == "stop":
                return False
            if msg.get("op") == "cancel":
                if int(msg.get("id", -1)) == request_id:
                    token.cancel()
                continue
            token.cancel()
            self._pending.append(msg)  # runs once this job has ended


def _read_requests(stream: IO[bytes], out: queue.Queue[Message | None]) -> None:
    """Parse request lines into ``out``, then None at the end of input. A last line without
    its newline is a message the app did not finish writing (it closed or died meanwhile):
    the end of input, not a request."""
    for line in stream:
        if not line.endswith(b"\n"):
            break
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            print(f"score_server: ignoring a malformed request: {line[:80]!r}", file=sys.stderr)
            continue
        if isinstance(msg, dict):
            out.put(msg)
    out.put(None)


class EventWriter:
    """Writes the events to the app from a thread of its own.

    A batch with embeddings is larger than a pipe's buffer (64 KB on Linux), so writing it
    waits until the app has read the rest; while the app's GUI thread is busy for a moment
    (painting, taking in the previous batch) a scoring loop that wrote its own events would
    stand still with it. Here only this thread waits. Events keep their order; at most
    ``max_pending`` wait (then ``send`` waits too: the app is not reading at all). A write
    that fails (the app went away) makes every later ``send`` raise ``BrokenPipeError``.
    """

    def __init__(self, out: IO[bytes], max_pending: int = 32) -> None:
        self._out = out
        self._queue: queue.Queue[bytes | None] = queue.Queue(max_pending)
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def send(self, msg: Message) -> None:
        if self._error is not None:
            raise BrokenPipeError(f"the app stopped reading events: {self._error}")
        self._queue.put(encode(msg))

    def close(self, timeout: float = 30.0) -> None:
        """Write what is still waiting, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is not None:
                continue  # the app is gone: drop the rest, never block send
            try:
                view = memoryview(data)
                while view:  # an unbuffered write may take only part of it
                    written = self._out.write(view)
                    if not written:  # a blocking pipe never takes nothing
                        raise BrokenPipeError("the events pipe took nothing")
                    view = view[written:]
            except OSError as exc:
                self._error = exc


def main() -> int:
    # The protocol gets a private copy of stdout; fd 1 itself now points at stderr, so a
    # library that prints cannot corrupt it.
    proto = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    lower_process_priority()
    import torch

    # One core for inference, one for decoding ahead; the app keeps the rest.
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    writer = EventWriter(proto)
    requests: queue.Queue[Message | None] = queue.Queue()
    reader = threading.Thread(
        target=_read_requests, args=(sys.stdin.buffer, requests), name="requests", daemon=True
    )
    reader.start()
    with contextlib.suppress(BrokenPipeError):  # the app went away
        try:
            Server(requests, writer.send).serve()
        finally:
            writer.close()
    return 0


if __name__ == "__main__":
    code = main()
    # Nothing to save: skip the interpreter's teardown (torch's takes ~0.5 s), which the app
    # would otherwise wait for when it closes.
    sys.stderr.flush()
    os._exit(code)
