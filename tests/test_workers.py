"""Workers: streamed listing, bounded thumbnail loading, the model thread. Real threads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pytestqt.qtbot import QtBot
from support.fakes import failing_loader, fake_loader
from support.patches import make_folder

from pathview.core import PatchRef
from pathview.evaluation import EvaluationReport, EvaluationRequest, build_report
from pathview.explain import Explanation
from pathview.io import FileStatus, PatchInfo, list_patches, read_patch
from pathview.scoring import ScoreBatch
from pathview.workers import (
    EvaluationWorker,
    FolderLister,
    ModelWorker,
    ThumbnailLoader,
    running_workers,
)


@pytest.fixture(autouse=True)
def _no_worker_left_running() -> Iterator[None]:
    yield
    assert running_workers() == []


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path) -> Path:
    f = tmp_path / "p"
    make_folder(f, data_dir / "kaggle", 20, corrupt=1)
    return f


def test_listing_streams_batches_and_finishes(qtbot: QtBot, folder: Path) -> None:
    lister = FolderLister(batch_size=8)
    batches: list[list[PatchRef]] = []
    lister.listing_progressed.connect(lambda _id, batch: batches.append(batch))
    try:
        with qtbot.waitSignal(lister.listing_finished, timeout=15000) as blocker:
            request = lister.list_folder(folder)
        assert blocker.args == [request, 21]
        assert [len(b) for b in batches] == [8, 8, 5]
    finally:
        lister.shutdown()


def test_relisting_drops_the_old_request(qtbot: QtBot, folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    make_folder(other, folder, 3, labels=False)
    lister = FolderLister(batch_size=4)
    seen: list[int] = []
    lister.listing_progressed.connect(lambda rid, _b: seen.append(rid))
    try:
        lister.list_folder(folder)
        with qtbot.waitSignal(lister.listing_finished, timeout=15000) as blocker:
            second = lister.list_folder(other)
        assert blocker.args == [second, 3]
        assert set(seen) <= {second} or seen[-1] == second
    finally:
        lister.shutdown()


def test_listing_waits_for_the_gui_to_take_its_batches(
    qtbot: QtBot, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most BATCHES_IN_FLIGHT listed batches wait for the GUI thread: while it does not
    take them in, the listing waits (a queue of batches is delivered in one turn of the event
    loop); then every batch arrives, in order, and a waiting listing can still be cancelled."""
    import time

    import pathview.workers.listing as listing

    produced: list[int] = []
    real = listing.iter_patches

    def counting(*args: object, **kwargs: object) -> Iterator[list[PatchRef]]:
        for batch in real(*args, **kwargs):  # type: ignore[arg-type]
            produced.append(len(batch))
            yield batch

    monkeypatch.setattr(listing, "iter_patches", counting)
    lister = FolderLister(batch_size=2)
    batches: list[list[PatchRef]] = []
    lister.listing_progressed.connect(lambda _id, batch: batches.append(batch))
    try:
        with qtbot.waitSignal(lister.listing_finished, timeout=15000) as blocker:
            request = lister.list_folder(folder)
            time.sleep(0.5)  # the GUI thread takes nothing in meanwhile
            # the worker has handed over two batches and holds a third
            assert len(produced) <= listing.BATCHES_IN_FLIGHT + 1
        assert blocker.args == [request, 21]
        assert sum(len(b) for b in batches) == 21 and len(produced) == 11
        produced.clear()
        lister.list_folder(folder)
        time.sleep(0.3)
        lister.cancel()  # the worker waiting to hand over a batch gives up
        start = time.monotonic()
        lister.shutdown()
        assert time.monotonic() - start < 2.0
        assert len(produced) <= listing.BATCHES_IN_FLIGHT + 1
    finally:
        lister.shutdown()


def test_listing_a_missing_folder_fails(qtbot: QtBot, tmp_path: Path) -> None:
    lister = FolderLister()
    try:
        with qtbot.waitSignal(lister.listing_failed, timeout=15000) as blocker:
            lister.list_folder(tmp_path / "nope")
        assert "not a folder" in blocker.args[1]
    finally:
        lister.shutdown()


def test_thumbnails_are_capped_and_dropped_on_folder_change(qtbot: QtBot, folder: Path) -> None:
    loader = ThumbnailLoader(threads=2, max_in_flight=2, max_pending=5)
    got: dict[str, PatchInfo] = {}
    loader.thumbnail_loaded.connect(lambda pid, info: got.__setitem__(pid, info))
    refs = list_patches(folder)
    try:
        loader.set_folder(folder)
        for ref in refs:
            loader.request(ref)
            assert loader.in_flight <= 2
            assert loader.pending <= 5
        # Newest requests win: the last 5 queued plus the first 2 started.
        qtbot.waitUntil(lambda: loader.in_flight == 0 and loader.pending == 0, timeout=15000)
        assert len(got) == 7
        assert refs[-1].id in got
        corrupt = got.get("zz_corrupt_0")
        assert corrupt is None or corrupt.status is FileStatus.UNREADABLE
        # Results of a previous folder are dropped.
        got.clear()
        loader.request(refs[0])
        loader.set_folder(folder.parent)
        qtbot.waitUntil(lambda: loader.in_flight == 0, timeout=15000)
        assert got == {}
    finally:
        loader.shutdown()


def test_model_worker_scores_in_batches_and_explains(qtbot: QtBot, folder: Path) -> None:
    worker = ModelWorker(loader=fake_loader)
    batches: list[ScoreBatch] = []
    worker.scores_ready.connect(lambda _id, batch: batches.append(batch))
    try:
        with qtbot.waitSignal(worker.model_loaded, timeout=10000) as loaded:
            worker.load(None, "cpu")
        info = loaded.args[0]
        assert info.model_id == "tiny-test-model" and info.default_layer == "stages.0"
        assert "gradcam" in info.methods
        refs = list_patches(folder)
        with qtbot.waitSignal(worker.scoring_finished, timeout=20000) as done:
            request = worker.score(folder, refs)
        assert done.args == [request, "done"]
        assert sum(len(b.ids) for b in batches) == 20
        assert sum(len(b.failed) for b in batches) == 1
        pixels = read_patch(refs[0].path(folder)).pixels
        assert pixels is not None
        with qtbot.waitSignal(worker.explanation_ready, timeout=20000) as explained:
            worker.explain(refs[0].id, pixels, "gradcam", "stages.0")
        explanation = explained.args[2]
        assert isinstance(explanation, Explanation)
        assert explanation.layer == "stages.0"
        assert explanation.map is None or explanation.map.shape == (96, 96)
    finally:
        worker.shutdown()


def test_scoring_cancel_and_stale_explanations(qtbot: QtBot, folder: Path) -> None:
    worker = ModelWorker(loader=fake_loader)
    late: list[object] = []
    try:
        with qtbot.waitSignal(worker.model_loaded, timeout=10000):
            worker.load(None, "cpu")
        refs = list_patches(folder) * 20
        with qtbot.waitSignal(worker.scoring_finished, timeout=15000) as finished:
            request = worker.score(folder, refs)
            worker.cancel_scoring()
        assert finished.args == [request, "cancelled"]
        assert not worker.scoring
        # An explanation superseded by a newer request is never delivered.
        worker.explanation_ready.connect(lambda _r, pid, _e: late.append(pid))
        pixels = np.zeros((96, 96, 3), np.uint8)
        worker.explain("old", pixels, "gradcam", "stages.0")
        with qtbot.waitSignal(worker.explanation_ready, timeout=20000):
            worker.explain("new", pixels, "gradcam", "stages.0")
        assert late == ["new"]
    finally:
        worker.shutdown()


def test_model_that_cannot_load_is_reported(qtbot: QtBot, folder: Path) -> None:
    worker = ModelWorker(loader=failing_loader)
    try:
        with qtbot.waitSignal(worker.model_failed, timeout=15000) as failed:
            worker.load(None, "cpu")
        assert "weights file is missing" in failed.args[0]
        with qtbot.waitSignal(worker.scoring_finished, timeout=15000) as finished:
            worker.score(folder, list_patches(folder))
        assert finished.args[1] == "no model loaded"
    finally:
        worker.shutdown()


def test_evaluation_worker_coalesces_and_drops_cancelled_requests(qtbot: QtBot) -> None:
    import threading

    gate = threading.Event()
    seen: list[str] = []

    def evaluator(request: EvaluationRequest) -> EvaluationReport:
        seen.append(request.data_name)
        if request.data_name == "first":
            gate.wait(10)
        if request.data_name == "broken":
            raise RuntimeError("store closed")
        return build_report(request.ids, request.probs, request.truth, data_name=request.data_name)

    def request(name: str) -> EvaluationRequest:
        return EvaluationRequest(
            ("a", "b"), np.array([0.2, 0.7], np.float32), {"a": 0, "b": 1}, data_name=name
        )

    worker = EvaluationWorker(evaluator=evaluator)
    delivered: list[str] = []
    worker.report_ready.connect(lambda _id, report: delivered.append(report.data_name))
    try:
        worker.request(request("first"))  # runs, blocked on the gate
        worker.request(request("second"))  # waits ...
        third = worker.request(request("third"))  # ... and is replaced by this one
        assert worker.busy
        with qtbot.waitSignal(
            worker.report_ready, timeout=10000, check_params_cb=lambda i, _r: i == third
        ) as got:
            gate.set()
        assert got.args[1].evaluations[0].auc == 1.0
        assert seen == ["first", "third"] and delivered == ["first", "third"]
        # After cancel (a folder change) a late result is dropped.
        gate.clear()
        worker.request(request("first"))
        worker.cancel()
        with qtbot.waitSignal(worker.report_failed, timeout=10000) as failed:
            gate.set()
            worker.request(request("broken"))
        assert "store closed" in failed.args[1]
        assert delivered == ["first", "third"] and not worker.busy
    finally:
        gate.set()
        worker.shutdown()


# ------------------------------------------------------------------ scoring in a child process


def _score_all(
    qtbot: QtBot, worker: ModelWorker, folder: Path, refs: list[PatchRef], tta: bool = False
) -> tuple[list[object], list[ScoreBatch]]:
    batches: list[ScoreBatch] = []
    worker.scores_ready.connect(lambda _id, batch: batches.append(batch))
    with qtbot.waitSignal(worker.scoring_finished, timeout=60000) as done:
        request = worker.score(folder, refs, tta=tta)
    assert done.args[0] == request
    return done.args, batches


@pytest.mark.slow
def test_scoring_in_a_child_process_equals_scoring_in_this_one(
    qtbot: QtBot, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.models import make_tiny_model

    from pathview.model import load_model
    from pathview.workers import scoring_process

    monkeypatch.setattr(scoring_process, "REFS_PER_MESSAGE", 8)  # the list goes in 3 parts

    model_dir = make_tiny_model(tmp_path / "tiny")
    worker = ModelWorker()  # the default loader: model directories, scored in a child
    try:
        child_ids: list[str] = []
        worker.process_model_loaded.connect(child_ids.append)
        with qtbot.waitSignals([worker.model_loaded, worker.process_model_loaded], timeout=20000):
            worker.load(model_dir, "cpu")
        assert worker.scoring_in_process
        assert worker.info is not None and child_ids == [worker.info.model_id]  # the same model
        refs = list_patches(folder)
        args, batches = _score_all(qtbot, worker, folder, refs, tta=True)
        assert args[1] == "done"
        assert worker._process is not None and worker._process.running
        got = {pid: p for b in batches for pid, p in zip(b.ids, b.p, strict=True)}
        failed = {pid: reason for b in batches for pid, reason in b.failed.items()}
        assert len(got) == 20 and len(failed) == 1
        assert all(b.views is not None and b.views.shape == (len(b.ids), 8) for b in batches)
        classifier = load_model(model_dir, device="cpu")
        ok = [r for r in refs if r.id in got]
        stack = np.stack([read_patch(r.path(folder)).pixels for r in ok])  # type: ignore[misc]
        expected = classifier.predict(stack, tta=True)
        # Same code, same weights, same batches: the same numbers, bit for bit.
        assert [got[r.id] for r in ok] == expected.p.astype(np.float64).tolist()
        views = np.concatenate([b.views for b in batches if b.views is not None])
        np.testing.assert_array_equal(views, expected.views)
    finally:
        worker.shutdown()
    assert running_workers() == []


@pytest.mark.slow
def test_child_process_cancel_crash_and_restart(qtbot: QtBot, folder: Path, tmp_path: Path) -> None:
    from support.models import make_tiny_model

    model_dir = make_tiny_model(tmp_path / "tiny")
    worker = ModelWorker()
    try:
        with qtbot.waitSignal(worker.model_loaded, timeout=20000):
            worker.load(model_dir, "cpu")
        refs = list_patches(folder) * 50
        with qtbot.waitSignal(worker.scoring_finished, timeout=15000) as finished:
            request = worker.score(folder, refs)
            worker.cancel_scoring()
        assert finished.args == [request, "cancelled"]
        # The child dies in the middle of a request: the request ends with the reason...
        process = worker._process
        assert process is not None
        with qtbot.waitSignal(worker.scores_ready, timeout=30000):
            request = worker.score(folder, refs)
        with qtbot.waitSignal(worker.scoring_finished, timeout=15000) as finished:
            assert process._process is not None
            process._process.kill()
        assert finished.args[0] == request
        assert "scoring process stopped" in finished.args[1]
        # ...and the next request starts a fresh child with the same model.
        args, batches = _score_all(qtbot, worker, folder, list_patches(folder))
        assert args[1] == "done" and sum(len(b.ids) for b in batches) == 20
    finally:
        worker.shutdown()


@pytest.mark.slow
def test_child_that_cannot_load_hands_scoring_to_the_model_thread(
    qtbot: QtBot, folder: Path, tmp_path: Path
) -> None:
    # The thread's loader ignores the directory; the child finds no model there.
    worker = ModelWorker(loader=fake_loader, scoring_process=True)
    try:
        with qtbot.waitSignal(worker.model_loaded, timeout=20000):
            worker.load(tmp_path / "no-such-model", "cpu")
        args, batches = _score_all(qtbot, worker, folder, list_patches(folder))
        assert args[1] == "done" and sum(len(b.ids) for b in batches) == 20
        assert not worker.scoring_in_process
    finally:
        worker.shutdown()


def test_score_server_protocol_without_a_process(folder: Path) -> None:
    """The child's request loop: a new job cancels the running one; a cancel of another
    job does nothing; events carry the batches."""
    import queue

    from pathview.scoring.server import Server, batch_from_message

    requests: queue.Queue[dict[str, object] | None] = queue.Queue()
    events: list[dict[str, object]] = []
    refs = list_patches(folder)
    job = {
        "root": str(folder),
        "ids": [r.id for r in refs],
        "relpaths": [r.relpath for r in refs],
        "tta": False,
    }

    def send(msg: dict[str, object]) -> None:
        events.append(msg)
        if msg.get("ev") == "batch" and msg["id"] == 1 and len(events) == 2:
            requests.put({"op": "cancel", "id": 7})  # not the running job: ignored
            requests.put({"op": "score", "id": 2, **job})  # supersedes job 1
        if msg.get("ev") == "ended" and msg["id"] == 2:
            requests.put(None)  # end of input: the server returns

    requests.put({"op": "load", "model_dir": None, "device": "cpu"})
    requests.put({"op": "score", "id": 1, **job})
    Server(requests, send, loader=fake_loader, batch_size=4).serve()
    assert events[0]["ev"] == "loaded"
    ended = [(e["id"], e["outcome"]) for e in events if e["ev"] == "ended"]
    assert ended == [(1, "cancelled"), (2, "done")]
    second = [batch_from_message(e) for e in events if e["ev"] == "batch" and e["id"] == 2]
    assert sum(len(b.ids) for b in second) == 20 and second[-1].done == 21


def test_score_server_takes_a_list_in_parts_and_a_cancel_between_them(folder: Path) -> None:
    import queue

    from pathview.scoring.server import Server

    refs = list_patches(folder)
    ids, paths = [r.id for r in refs], [r.relpath for r in refs]
    root = str(folder)
    requests: queue.Queue[dict[str, object] | None] = queue.Queue()
    for msg in (
        {"op": "load", "model_dir": None, "device": "cpu"},
        {
            "op": "score",
            "id": 2,
            "root": root,
            "ids": ids[:10],
            "relpaths": paths[:10],
            "more": True,
        },
        {"op": "cancel", "id": 7},  # another job's: ignored
        {"op": "refs", "id": 2, "ids": ids[10:], "relpaths": paths[10:], "more": False},
    ):
        requests.put(msg)
    events: list[dict[str, object]] = []

    def send(msg: dict[str, object]) -> None:
        events.append(msg)
        if msg == {"ev": "ended", "id": 2, "outcome": "done"}:  # then one cancelled halfway
            requests.put(
                {
                    "op": "score",
                    "id": 3,
                    "root": root,
                    "ids": ids[:4],
                    "relpaths": paths[:4],
                    "more": True,
                }
            )
            requests.put({"op": "cancel", "id": 3})
        elif msg.get("ev") == "ended":
            requests.put(None)

    Server(requests, send, loader=fake_loader, batch_size=64).serve()
    ended = [(e["id"], e["outcome"]) for e in events if e["ev"] == "ended"]
    assert ended == [(2, "done"), (3, "cancelled")]
    batches = [e for e in events if e["ev"] == "batch"]
    assert [(e["id"], e["total"], e["done"]) for e in batches] == [(2, 21, 21)]
