"""Closing the app while it scores: the scoring child never reads half a message (no
"ignoring a malformed request"), and what it scored before is in the score cache."""

from __future__ import annotations

import io
import json
import os
import queue
import threading
import time
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from support.patches import make_folder

from pathview.core import PatchRef
from pathview.io import list_patches
from pathview.scoring import ScoreCache, cache_path_for_folder
from pathview.scoring.cache import model_key
from pathview.scoring.server import EventWriter, Message, _read_requests, encode
from pathview.workers import ModelWorker, running_workers


def test_a_half_written_last_request_is_the_end_of_input(
    capsys: pytest.CaptureFixture[str],
) -> None:
    whole = encode({"op": "cancel", "id": 3})
    half = encode({"op": "refs", "id": 3, "ids": ["a", "b"], "more": True})[:17]
    got: queue.Queue[Message | None] = queue.Queue()
    _read_requests(io.BytesIO(whole + half), got)
    assert got.get_nowait() == {"op": "cancel", "id": 3}
    assert got.get_nowait() is None
    assert "malformed" not in capsys.readouterr().err


def test_a_garbled_whole_line_is_still_reported(capsys: pytest.CaptureFixture[str]) -> None:
    got: queue.Queue[Message | None] = queue.Queue()
    _read_requests(io.BytesIO(b"{not json\n" + encode({"op": "stop"})), got)
    assert got.get_nowait() == {"op": "stop"}
    assert "ignoring a malformed request" in capsys.readouterr().err


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path) -> Path:
    out = tmp_path / "patches"
    make_folder(out, data_dir / "kaggle", 12)
    return out


@pytest.mark.slow
def test_closing_while_a_long_request_is_sent_is_clean(
    qtbot: QtBot, folder: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from support.models import make_tiny_model

    model_dir = make_tiny_model(tmp_path / "tiny")
    worker = ModelWorker()
    with qtbot.waitSignal(worker.model_loaded, timeout=30000):
        worker.load(model_dir, "cpu")
    assert worker.scoring_in_process
    # 220,025 patches, as the Kaggle folder: the list is still being sent when the app closes.
    refs = [PatchRef(f"p{i:07d}", f"p{i:07d}.tif") for i in range(220_025)]
    worker.score(folder, refs)
    qtbot.wait(300)
    worker.shutdown()
    assert running_workers() == []
    assert "malformed" not in capfd.readouterr().err


@pytest.mark.slow
def test_the_scoring_child_answers_from_and_fills_the_score_cache(
    qtbot: QtBot, folder: Path, tmp_path: Path
) -> None:
    from support.models import make_tiny_model

    from pathview.model import load_model

    model_dir = make_tiny_model(tmp_path / "tiny")
    cache_file = cache_path_for_folder(folder)
    refs = list_patches(folder)
    worker = ModelWorker()
    try:
        with qtbot.waitSignal(worker.model_loaded, timeout=30000):
            worker.load(model_dir, "cpu")
        assert worker.scoring_in_process
        runs = []
        for _ in range(2):
            batches: list[object] = []
            worker.scores_ready.connect(lambda _id, b, into=batches: into.append(b))
            with qtbot.waitSignal(worker.scoring_finished, timeout=60000) as done:
                worker.score(folder, refs, tta=True, cache=cache_file)
            worker.scores_ready.disconnect()
            assert done.args[1] == "done"
            runs.append(batches)
    finally:
        worker.shutdown()
    first = {pid: p for b in runs[0] for pid, p in zip(b.ids, b.p, strict=True)}  # type: ignore[attr-defined]
    # The second run is answered from the cache in one batch, without scoring.
    (only,) = runs[1]
    assert dict(zip(only.ids, only.p, strict=True)) == first  # type: ignore[attr-defined]
    assert only.views is not None and only.views.shape == (len(refs), 8)  # type: ignore[attr-defined]
    with ScoreCache.open(cache_file) as cache:  # type: ignore[union-attr]
        key = model_key(load_model(model_dir, device="cpu"))
        assert len(cache.scores(key)) == len(refs)


def test_events_are_written_in_order_while_the_app_is_not_reading() -> None:
    """The scoring loop hands its events to the writer thread: a full pipe (the app busy)
    holds up that thread only, and the app later reads every event, whole and in order."""
    read_fd, write_fd = os.pipe()
    out = os.fdopen(write_fd, "wb", buffering=0)
    writer = EventWriter(out)
    big = "x" * 100_000  # each event alone is larger than the pipe's buffer

    def scoring_loop() -> None:
        for i in range(5):
            writer.send({"ev": "batch", "id": i, "pad": big})

    loop = threading.Thread(target=scoring_loop)
    loop.start()
    loop.join(10)
    assert not loop.is_alive()  # nobody has read yet, and the loop went on
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(_read_all(read_fd)))
    reader.start()
    writer.send({"ev": "ended", "id": 5, "outcome": "done"})
    writer.close()
    out.close()
    reader.join(10)
    events = [json.loads(line) for line in got[0].splitlines()]
    assert [e["id"] for e in events] == [0, 1, 2, 3, 4, 5]
    assert all(e["pad"] == big for e in events[:5])


def test_after_the_app_goes_away_send_raises_broken_pipe() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    out = os.fdopen(write_fd, "wb", buffering=0)
    writer = EventWriter(out)
    writer.send({"ev": "batch", "id": 1})
    deadline = time.monotonic() + 10
    with pytest.raises(BrokenPipeError):
        while time.monotonic() < deadline:
            writer.send({"ev": "batch", "id": 2})
            time.sleep(0.01)
    writer.close()
    out.close()


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)
