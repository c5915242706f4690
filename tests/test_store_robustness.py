"""The review store under contention, in read-only folders, and against stores from a newer
pathview: one error type (StoreError), never a raw sqlite3 error, and reading takes no lock."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import run_cli

from pathview.core import Verdict
from pathview.store import (
    SCHEMA_VERSION,
    ReviewInput,
    ReviewStore,
    SchemaError,
    StoreBusy,
    StoreError,
    import_reviews,
    open_store_for_folder,
)
from pathview.store import reviews as reviews_module

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def write_lock_held(path: Path, seconds: float | None = None) -> Iterator[sqlite3.Connection]:
    """Another connection holds the store's write lock (``BEGIN IMMEDIATE``) for ``seconds``
    (None: until the block ends)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5)
    conn.execute("BEGIN IMMEDIATE")
    timer = None
    if seconds is not None:
        timer = threading.Timer(seconds, conn.execute, ("COMMIT",))
        timer.start()
    try:
        yield conn
    finally:
        if timer is not None:
            timer.join()
        else:
            conn.execute("COMMIT")
        conn.close()


def _fill(store: ReviewStore) -> None:
    store.record(ReviewInput("p1", Verdict.AGREE, "ann", p_tumour=0.9))
    store.record(ReviewInput("p2", Verdict.DISAGREE, "bob", p_tumour=0.9))


def _make_newer(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


# -- 1. new-store race ---------------------------------------------------------------------
def test_opening_a_new_store_waits_while_another_process_creates_it(tmp_path: Path) -> None:
    # Another opener is inside its first (schema-creating) transaction on a brand-new file:
    # switching the journal to WAL is refused by SQLite at once, without the busy handler.
    path = tmp_path / "new.sqlite"
    with write_lock_held(path, seconds=0.3):
        t0 = time.monotonic()
        with ReviewStore(path) as store:
            assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert time.monotonic() - t0 >= 0.2  # it waited for the lock, then went on


OPENER = textwrap.dedent(
    """
    import sys, time
    from pathview.store import ReviewStore
    path, start = sys.argv[1], float(sys.argv[2])
    while time.time() < start:
        pass
    with ReviewStore(path) as store:
        print(store.store_uid)
    """
)


@pytest.mark.slow
def test_processes_opening_one_new_store_at_the_same_moment_all_succeed(tmp_path: Path) -> None:
    script = tmp_path / "opener.py"
    script.write_text(OPENER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for round_ in range(6):
        path = tmp_path / f"s{round_}.sqlite"
        start = time.time() + 0.6
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), str(path), str(start)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
        assert len({out.strip() for out, _ in outputs}) == 1  # one store, one uid


def test_threads_opening_one_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def open_it(path: Path, barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            ReviewStore(path).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    for round_ in range(15):
        barrier = threading.Barrier(4)
        threads = [
            threading.Thread(target=open_it, args=(tmp_path / f"t{round_}.sqlite", barrier))
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


# -- 2. lock held past the busy timeout ----------------------------------------------------
@pytest.mark.slow
def test_a_lock_held_past_the_busy_timeout_is_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reviews_module, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "r.sqlite"
    with ReviewStore(path) as store:
        _fill(store)
        with write_lock_held(path):
            for attempt in (
                lambda: store.record(ReviewInput("p3", Verdict.AGREE, "ann", p_tumour=0.9)),
                lambda: store.undo(),
                lambda: store.add_events(store.events(), "x"),
            ):
                with pytest.raises(StoreBusy, match="busy") as info:
                    attempt()
                assert isinstance(info.value, StoreError)
                assert not isinstance(info.value, sqlite3.Error)
            # Reading is not blocked by a writer.
            assert len(store.events()) == 2
        store.record(ReviewInput("p3", Verdict.AGREE, "ann", p_tumour=0.9))
        assert len(store.events()) == 3


def test_opening_past_the_busy_timeout_is_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reviews_module, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "new.sqlite"
    with write_lock_held(path), pytest.raises(StoreBusy, match="busy"):
        ReviewStore(path)


def test_export_and_reading_take_no_write_lock(tmp_path: Path) -> None:
    folder = tmp_path / "patches"
    folder.mkdir()
    with open_store_for_folder(folder) as store:
        _fill(store)
        path = store.path
    labels, log = tmp_path / "labels.csv", tmp_path / "log.csv"
    with write_lock_held(path):
        t0 = time.monotonic()
        assert run_cli("export", folder, "--labels", labels, "--log", log) == 0
        with ReviewStore.open_readonly(path) as reader:
            assert len(reader.events()) == 2
            with pytest.raises(StoreError, match="read-only"):
                reader.record(ReviewInput("p3", Verdict.AGREE, "ann", p_tumour=0.9))
        assert time.monotonic() - t0 < 5  # the busy timeout is 10 s: nothing waited for it
    assert labels.read_text().splitlines() == ["id,label", "p1,1", "p2,0"]


def test_reading_an_older_store_does_not_migrate_the_file(data_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "old.sqlite"
    shutil.copy(data_dir / "stores" / "reviews_v1.sqlite", copy)
    before = copy.read_bytes()
    with ReviewStore.open_readonly(copy) as store:
        assert len(store.events()) == 5
        assert store.events()[0].role == "reviewer"  # read through the current schema
    assert copy.read_bytes() == before


# -- 3. read-only folder with an existing store ------------------------------------------
def _without_write_permission() -> list[str]:
    """A command prefix under which the file modes are obeyed (root ignores them)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def test_export_works_in_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "patches"
    folder.mkdir()
    with open_store_for_folder(folder) as store:
        _fill(store)
    store_dir = folder / ".pathview"
    assert sorted(p.name for p in store_dir.iterdir()) == ["reviews.sqlite"]
    out = tmp_path / "out"
    out.mkdir()
    (store_dir / "reviews.sqlite").chmod(0o444)
    for d in (store_dir, folder):
        d.chmod(0o555)
    try:
        proc = subprocess.run(
            [
                *_without_write_permission(),
                sys.executable,
                "-m",
                "pathview",
                "export",
                str(folder),
                "--labels",
                str(out / "labels.csv"),
                "--log",
                str(out / "log.csv"),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
        )
    finally:
        for d in (folder, store_dir):
            d.chmod(stat.S_IRWXU)
    assert proc.returncode == 0, proc.stderr
    assert (out / "labels.csv").read_text().splitlines() == ["id,label", "p1,1", "p2,0"]
    assert len((out / "log.csv").read_text().splitlines()) == 3
    assert sorted(p.name for p in store_dir.iterdir()) == ["reviews.sqlite"]


# -- 6. stores from a newer pathview ---------------------------------------------------------
def test_every_command_refuses_a_newer_store_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "patches"
    folder.mkdir()
    with open_store_for_folder(folder) as store:
        _fill(store)
        path = store.path
    _make_newer(path)
    (folder / "x.tif").write_bytes(b"")
    with ReviewStore(tmp_path / "other.sqlite") as other:
        _fill(other)
    commands = [
        ["export", folder, "--labels", tmp_path / "l.csv"],
        ["export", path, "--log", tmp_path / "log.csv"],
        ["import", tmp_path / "other.sqlite", "--into", folder],
        ["import", tmp_path / "other.sqlite", "--into", path],
        ["report", folder, "--out", tmp_path / "r.html"],
    ]
    for argv in commands:
        assert run_cli(*argv) == 1, argv
        err = capsys.readouterr().err
        assert f"pathview {argv[0]}:" in err and "newer" in err, err
    assert not (tmp_path / "l.csv").exists() and not (tmp_path / "r.html").exists()


def test_importing_from_a_newer_store_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ReviewStore(tmp_path / "future.sqlite") as future:
        _fill(future)
    _make_newer(tmp_path / "future.sqlite")
    with ReviewStore(tmp_path / "mine.sqlite") as mine:
        with pytest.raises(SchemaError, match="newer"):
            import_reviews(mine, tmp_path / "future.sqlite")
        assert mine.events() == []
    assert run_cli("import", tmp_path / "future.sqlite", "--into", tmp_path / "mine.sqlite") == 1
    assert "newer" in capsys.readouterr().err


def test_reading_something_that_is_not_a_store_is_a_store_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a usable review store"):
        ReviewStore.open_readonly(junk)
    empty_db = tmp_path / "empty.sqlite"
    sqlite3.connect(empty_db).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(StoreError, match="not a review store"):
        ReviewStore.open_readonly(empty_db)
    with pytest.raises(StoreError, match="no review store"):
        ReviewStore.open_readonly(tmp_path / "missing.sqlite")
