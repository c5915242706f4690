"""Durability under kill -9 and concurrent writers, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pathview.store import ReviewStore

WRITER = textwrap.dedent(
    """
    import sys
    from pathview.core import Verdict
    from pathview.store import ReviewInput, ReviewStore

    path, reviewer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with ReviewStore(path) as store:
        for i in range(count):
            review = ReviewInput(f"{reviewer}-{i}", Verdict.AGREE, reviewer, p_tumour=0.7)
            event = store.record(review)
            print(event.event_uid, flush=True)
    """
)


def _writer(tmp_path: Path, store: Path, reviewer: str, count: int) -> subprocess.Popen[str]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    return subprocess.Popen(
        [sys.executable, str(script), str(store), reviewer, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_kill_9_during_a_burst_loses_nothing_committed(tmp_path: Path) -> None:
    store_path = tmp_path / "r.sqlite"
    proc = _writer(tmp_path, store_path, "ann", 100_000)
    assert proc.stdout is not None
    committed: list[str] = []
    for line in proc.stdout:
        committed.append(line.strip())
        if len(committed) >= 200:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)  # reap it and close its pipes
    assert proc.returncode == -signal.SIGKILL
    with ReviewStore(store_path, create=False) as store:
        stored = {e.event_uid for e in store.events()}
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Every event whose record() returned before the kill is in the store.
    assert set(committed) <= stored
    assert len(stored) >= len(committed)


@pytest.mark.slow
def test_two_writers_at_once_do_not_corrupt_the_store(tmp_path: Path) -> None:
    store_path = tmp_path / "r.sqlite"
    ReviewStore(store_path).close()
    procs = [_writer(tmp_path, store_path, name, 150) for name in ("ann", "bob")]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    with ReviewStore(store_path, create=False) as store:
        events = store.events()
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(events) == 300
    assert {e.reviewer for e in events} == {"ann", "bob"}
    assert len({e.patch_id for e in events}) == 300
