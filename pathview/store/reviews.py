"""The review store: an append-only SQLite log of review events.

Every verdict is one ``review`` event, committed (WAL, ``synchronous=FULL``) before ``record``
returns, so a crash, ``kill -9`` or power cut loses nothing already recorded. Undo appends a
``retract`` event naming the review it withdraws: history is never rewritten. The current state
of a patch is derived from the log: for each reviewer, their latest review that has not been
retracted. A review made in the ``adjudicator`` role is a final verdict on a patch that
reviewers disagree on; it is kept apart from the reviewers' own reviews (see ``adjudications``).
Several processes may share one store: every write runs in one transaction helper
(``BEGIN IMMEDIATE``, waiting up to ``BUSY_TIMEOUT_MS`` for another writer, retried where
SQLite refuses to wait), and a lock held longer than that is a :class:`StoreBusy`. Reading
takes no write lock: :meth:`ReviewStore.open_readonly` (used by export and report) opens the
file read-only and works in a folder the user cannot write to. Every failure is a
:class:`StoreError`, never a raw ``sqlite3`` error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import random
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from pathview.core import VIEWS, Verdict, implied_label, verdict_for_label
from pathview.core.files import printable, relpath_problem
from pathview.core.resources import ResourceError, resources_dir
from pathview.store.errors import SchemaError, StoreBusy, StoreError
from pathview.store.schema import SCHEMA_VERSION, check_version, migrate, schema_version

STORE_DIR_NAME = ".pathview"
STORE_FILE_NAME = "reviews.sqlite"
REVIEWER = "reviewer"
ADJUDICATOR = "adjudicator"
#: How a review's label was given: a verdict on the model's call, or a label key (T / N).
GIVEN_AS_VERDICT = "verdict"
GIVEN_AS_LABEL = "label"
BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")
#: SQLite's primary result codes for "another connection holds the lock".
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _store_error(exc: sqlite3.Error, path: Path, doing: str) -> StoreError:
    """The store's own error for a sqlite3 error met while ``doing`` something."""
    if _is_busy(exc):
        return StoreBusy(
            f"review store {path} is busy: another process held its lock for more than "
            f"{BUSY_TIMEOUT_MS / 1000:g} s while {doing}; try again"
        )
    return StoreError(f"review store {path}: {doing} failed: {exc}")


def _retry_while_busy(op: Callable[[], T], deadline: float) -> T:
    """``op()``, retried while SQLite reports the database locked, until ``deadline``.

    SQLite's busy handler does not cover every lock wait (switching a new database to WAL
    while another connection is creating it is refused at once), so this covers the rest.
    """
    delay = 0.005
    while True:
        try:
            return op()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.1)


@dataclass(frozen=True, slots=True)
class ReviewInput:
    """What the reviewer saw and said about one patch.

    Either a ``verdict`` on the model's call (the label it implies at ``p_tumour`` is stored)
    or, with ``verdict=None``, a ``label`` given directly (1 tumour, 0 normal): stored with the
    verdict it amounts to when a P was shown, with none without a model. ``view`` says which P
    was shown ('single' or 'tta'), ``gt_flag`` that the ground truth looks wrong, ``batch_id``
    groups the reviews of one bulk action.
    """

    patch_id: str
    verdict: Verdict | None
    reviewer: str
    pixel_sha1: str = ""
    relpath: str = ""
    seconds_spent: float | None = None
    model_id: str = ""
    p_tumour: float | None = None
    explanation_method: str = ""
    explanation_layer: str = ""
    centre_focus: float | None = None
    note: str = ""
    role: str = REVIEWER
    label: int | None = None
    view: str = ""
    gt_flag: bool = False
    batch_id: str = ""


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    """One row of the log. ``kind`` is 'review' or 'retract' (then ``target_uid`` is set)."""

    event_id: int
    event_uid: str
    kind: str
    target_uid: str | None
    patch_id: str
    pixel_sha1: str
    relpath: str
    verdict: Verdict | None
    label: int | None
    reviewer: str
    created_utc: str
    seconds_spent: float | None
    model_id: str
    p_tumour: float | None
    explanation_method: str
    explanation_layer: str
    centre_focus: float | None
    note: str
    origin: str
    role: str
    view: str
    given_as: str
    gt_flag: bool
    batch_id: str


#: Column order of the events table as read into ReviewEvent (and of the log CSV).
EVENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ReviewEvent))


@dataclass(frozen=True, slots=True)
class PatchState:
    """A patch's current review by one reviewer: their latest review not retracted.

    ``label`` is the label fixed when the review was made (from the verdict at the P shown, or
    given directly); ``verdict`` is None for a label given with no model.
    """

    patch_id: str
    reviewer: str
    verdict: Verdict | None
    label: int | None
    p_tumour: float | None
    model_id: str
    created_utc: str
    event_uid: str
    event_id: int
    role: str = REVIEWER
    view: str = ""
    given_as: str = GIVEN_AS_VERDICT
    gt_flag: bool = False
    note: str = ""
    batch_id: str = ""  # set when the review was one of a bulk review's

    @property
    def order(self) -> tuple[str, int]:
        """Chronological sort key: UTC time, then position in this store's log."""
        return (self.created_utc, self.event_id)


def utc_now() -> str:
    """Current UTC time as ISO 8601 with milliseconds and a Z suffix."""
    now = dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def check_relpath(relpath: str) -> None:
    """Refuse (ValueError) a recorded relative path that would leave its patch folder."""
    problem = relpath_problem(relpath)
    if problem is not None:
        raise ValueError(f"relpath {relpath!r} {problem}: refused")


#: The longest text field an event may hold (the csv module's own limit, 128 KiB).
MAX_FIELD_CHARS = 131_072
#: Fields that name things: no control characters at all (a note may hold line breaks).
_NAME_FIELDS = frozenset(
    {
        "event_uid",
        "target_uid",
        "patch_id",
        "pixel_sha1",
        "relpath",
        "reviewer",
        "created_utc",
        "model_id",
        "explanation_method",
        "explanation_layer",
        "origin",
        "role",
        "kind",
        "verdict",
        "view",
        "given_as",
        "batch_id",
    }
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_text_fields(values: Mapping[str, str]) -> None:
    """Refuse (ValueError) text an event must not hold: over ``MAX_FIELD_CHARS``, a NUL
    anywhere, other control characters in names and ids, text that is not valid UTF-8.

    ``record`` and every import apply the same checks, so whatever a store holds its own
    exported log can be imported again.
    """
    for name, value in values.items():
        if len(value) > MAX_FIELD_CHARS:
            raise ValueError(f"{name} is too long ({len(value):,} characters)")
        if "\x00" in value or (name in _NAME_FIELDS and _CONTROL.search(value)):
            raise ValueError(f"{name} holds a control character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{name} {printable(value)!r} is not valid UTF-8") from None


def _verdict_and_label(review: ReviewInput) -> tuple[Verdict | None, int | None, str]:
    """(verdict, label, given_as) to store for ``review``; ValueError when they contradict."""
    if review.verdict is None:
        if review.label not in (0, 1):
            raise ValueError("a review needs a verdict or a label (0 or 1)")
        return verdict_for_label(review.label, review.p_tumour), review.label, GIVEN_AS_LABEL
    verdict = Verdict(review.verdict)
    label = implied_label(verdict, review.p_tumour)
    if review.label is not None and review.label != label:
        raise ValueError(f"label {review.label} contradicts {verdict.value} at P {review.p_tumour}")
    return verdict, label, GIVEN_AS_VERDICT


_INSERT_REVIEW = """INSERT INTO events (event_uid, kind, target_uid, patch_id, pixel_sha1,
       relpath, verdict, label, reviewer, created_utc, seconds_spent, model_id, p_tumour,
       explanation_method, explanation_layer, centre_focus, note, origin, role, view,
       given_as, gt_flag, batch_id)
   VALUES (?, 'review', NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?)"""


def _insert_values(review: ReviewInput) -> tuple[Any, ...]:
    """The checked values of ``review``'s row (ValueError when it is invalid; nothing is
    written then): a new event uid, the verdict and label to store, the time now."""
    if not review.patch_id:
        raise ValueError("a review needs a patch id")
    if not review.reviewer.strip():
        raise ValueError("a review needs a reviewer name")
    verdict, label, given_as = _verdict_and_label(review)
    if review.view not in VIEWS:
        raise ValueError(f"unknown view {review.view!r}")
    if review.role not in (REVIEWER, ADJUDICATOR):
        raise ValueError(f"unknown role {review.role!r}")
    if review.p_tumour is not None and not 0.0 <= review.p_tumour <= 1.0:
        raise ValueError(f"P(tumour) {review.p_tumour} is outside [0, 1]")
    check_relpath(review.relpath)
    check_text_fields(
        {
            f.name: getattr(review, f.name)
            for f in fields(review)
            if isinstance(getattr(review, f.name), str)
        }
    )
    return (
        uuid.uuid4().hex,
        review.patch_id,
        review.pixel_sha1,
        review.relpath,
        None if verdict is None else verdict.value,
        label,
        review.reviewer.strip(),
        utc_now(),
        review.seconds_spent,
        review.model_id,
        review.p_tumour,
        review.explanation_method,
        review.explanation_layer,
        review.centre_focus,
        review.note,
        review.role,
        review.view,
        given_as,
        int(bool(review.gt_flag)),
        review.batch_id,
    )


def _insert_review(conn: sqlite3.Connection, values: tuple[Any, ...]) -> int:
    """Insert one review row (:func:`_insert_values`) inside a transaction; its event id."""
    return int(conn.execute(_INSERT_REVIEW, values).lastrowid or 0)


def _insert_retract(conn: sqlite3.Connection, target: sqlite3.Row, reviewer: str) -> int:
    """Insert the retraction of the review ``target`` by ``reviewer``; its event id."""
    cur = conn.execute(
        """INSERT INTO events (event_uid, kind, target_uid, patch_id, pixel_sha1,
               relpath, verdict, label, reviewer, created_utc, model_id, origin,
               role, batch_id)
           VALUES (?, 'retract', ?, ?, ?, ?, NULL, NULL, ?, ?, ?, '', ?, ?)""",
        (
            uuid.uuid4().hex,
            target["event_uid"],
            target["patch_id"],
            target["pixel_sha1"],
            target["relpath"],
            reviewer,
            utc_now(),
            target["model_id"],
            target["role"],
            target["batch_id"],
        ),
    )
    return int(cur.lastrowid or 0)


def _state_from_row(row: sqlite3.Row) -> PatchState:
    return PatchState(
        patch_id=row["patch_id"],
        reviewer=row["reviewer"],
        verdict=Verdict(row["verdict"]) if row["verdict"] else None,
        label=row["label"],
        p_tumour=row["p_tumour"],
        model_id=row["model_id"],
        created_utc=row["created_utc"],
        event_uid=row["event_uid"],
        event_id=row["event_id"],
        role=row["role"],
        view=row["view"],
        given_as=row["given_as"],
        gt_flag=bool(row["gt_flag"]),
        note=row["note"],
        batch_id=row["batch_id"],
    )


def _row_to_event(row: sqlite3.Row) -> ReviewEvent:
    values = dict(row)
    verdict = values["verdict"]
    values["verdict"] = Verdict(verdict) if verdict else None
    values["gt_flag"] = bool(values["gt_flag"])
    return ReviewEvent(**{name: values[name] for name in EVENT_COLUMNS})


class ReviewStore:
    """An open review store file. Thread-safe; close it (or use ``with``) when done.

    ``create=False`` refuses a missing file. Use :meth:`open_readonly` to read without
    taking any lock a writer would wait for.
    """

    def __init__(
        self, path: str | os.PathLike[str], create: bool = True, readonly: bool = False
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        in_memory = str(path) == ":memory:"
        if (readonly or not create) and not in_memory and not self.path.is_file():
            raise StoreError(f"no review store at {self.path}")
        self._lock = threading.RLock()
        self._conn = self._connect_readonly() if readonly else self._connect(in_memory)

    @classmethod
    def open_readonly(cls, path: str | os.PathLike[str]) -> ReviewStore:
        """Open an existing store for reading only: no write lock, no migration of the file.

        Works in a folder the user cannot write to. A store from an older pathview is read
        through a migrated in-memory copy; one from a newer pathview raises SchemaError.
        """
        return cls(path, create=False, readonly=True)

    def _connect(self, in_memory: bool) -> sqlite3.Connection:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        try:
            if not in_memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open review store {self.path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        self._conn = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not in_memory:
                _retry_while_busy(lambda: self._use_wal(conn), deadline)
            # FULL: a commit survives a power cut, not only a process crash.
            conn.execute("PRAGMA synchronous = FULL")
            migrate(conn, transaction=lambda: self._transaction("upgrading its schema", deadline))
            self._ensure_store_uid(deadline)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if _is_busy(exc):
                raise _store_error(exc, self.path, "opening it") from exc
            raise StoreError(f"{self.path} is not a usable review store: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _use_wal(conn: sqlite3.Connection) -> None:
        # WAL is a property of the file: once set (by whoever created the store) it stays.
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")

    def _connect_readonly(self) -> sqlite3.Connection:
        try:
            conn = self._open_file_readonly()
        except sqlite3.DatabaseError as exc:
            raise self._open_error(exc) from exc
        try:
            version = schema_version(conn)
            check_version(version, self.path)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if version < 1 or "events" not in tables:
                raise StoreError(f"{self.path} is not a review store")
            if version < SCHEMA_VERSION:
                # Read an older store through a migrated copy; the file stays as it is.
                memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                conn.backup(memory)
                conn.close()
                conn = memory
                migrate(conn)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise self._open_error(exc) from exc
            raise
        conn.row_factory = sqlite3.Row
        return conn

    def _open_file_readonly(self) -> sqlite3.Connection:
        """A read-only connection (``mode=ro``) that has read the schema version once."""
        uri = self.path.resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(
            uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            schema_version(conn)
            return conn
        except sqlite3.Error as exc:
            conn.close()
            if not isinstance(exc, sqlite3.OperationalError) or _is_busy(exc):
                raise  # not a database at all, or locked: no second try
            failure = exc
        # A WAL store in a folder we cannot write to: SQLite cannot create its shared-memory
        # file. Nobody can write there either, so it is safe to read the file as immutable -
        # unless a crashed writer left changes in a WAL file, which immutable would ignore.
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            raise StoreError(
                f"review store {self.path} has changes not yet merged into it (a -wal file) "
                "in a folder this user cannot write to; open it once where it can be written, "
                "or copy the folder elsewhere"
            ) from failure
        conn = sqlite3.connect(uri + "&immutable=1", uri=True, check_same_thread=False)
        try:
            schema_version(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_error(self, exc: sqlite3.Error) -> StoreError:
        if _is_busy(exc):
            return _store_error(exc, self.path, "opening it to read")
        return StoreError(f"{self.path} is not a usable review store: {exc}")

    # -- the one transaction helper -----------------------------------------------------
    @contextlib.contextmanager
    def _transaction(
        self, doing: str, deadline: float | None = None
    ) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` (waiting for other writers up to the busy
        timeout), COMMIT on success, ROLLBACK on any exception. SQLite errors come out as
        StoreError (StoreBusy when the lock stayed taken); other exceptions pass unchanged."""
        if self.readonly:
            raise StoreError(f"review store {self.path} is open read-only; cannot {doing}")
        if deadline is None:
            deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        with self._lock:
            conn = self._conn
            try:
                _retry_while_busy(lambda: conn.execute("BEGIN IMMEDIATE"), deadline)
            except sqlite3.Error as exc:
                raise _store_error(exc, self.path, doing) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _store_error(exc, self.path, doing) from exc
                raise

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of one read; SQLite errors come out as StoreError."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _store_error(exc, self.path, "reading") from exc

    # -- housekeeping -------------------------------------------------------------------
    def _ensure_store_uid(self, deadline: float | None = None) -> None:
        if self._conn.execute("SELECT 1 FROM meta WHERE key = 'store_uid'").fetchone():
            return  # an existing store: opening it writes nothing
        with self._transaction("naming the new store", deadline) as conn:
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('store_uid', ?)",
                (uuid.uuid4().hex,),
            )

    @property
    def store_uid(self) -> str:
        """A random id fixed when the store was created; names it as an import origin."""
        rows = self._query("SELECT value FROM meta WHERE key = 'store_uid'")
        return str(rows[0][0]) if rows else ""

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------
    def record(self, review: ReviewInput) -> ReviewEvent:
        """Append one verdict and commit it before returning. Returns the stored event.

        Raises ValueError for an invalid review (nothing stored) and StoreError (StoreBusy
        when another process held the lock past the busy timeout) when it cannot be stored.
        """
        row = _insert_values(review)
        with self._transaction("recording a review") as conn:
            event_id = _insert_review(conn, row)
        return self._event(event_id)

    def record_batch(self, reviews: Sequence[ReviewInput]) -> list[ReviewEvent]:
        """Append the reviews of one bulk action in one transaction: all are stored or none.

        Each review is its own event (one per patch); they share one new batch id (any
        ``batch_id`` the inputs carry is replaced), so :meth:`undo_step` withdraws them as one
        step. Every review is checked before anything is written: ValueError names the first
        invalid one. Returns the stored events in the input's order.
        """
        if not reviews:
            return []
        batch_id = uuid.uuid4().hex
        rows = [_insert_values(replace(r, batch_id=batch_id)) for r in reviews]
        with self._transaction(f"recording {len(rows)} reviews") as conn:
            first = _insert_review(conn, rows[0])
            for row in rows[1:]:
                _insert_review(conn, row)
        return [
            _row_to_event(row)
            for row in self._query(
                "SELECT * FROM events WHERE event_id >= ? AND batch_id = ? ORDER BY event_id",
                (first, batch_id),
            )
        ]

    def amend(
        self,
        patch_id: str,
        reviewer: str,
        note: str | None = None,
        gt_flag: bool | None = None,
    ) -> ReviewEvent | None:
        """Record ``reviewer``'s current review of ``patch_id`` again with a new note and/or
        ground-truth flag; returns the new event, or None when they have not reviewed it.

        The verdict, label, P, view and model stay those of the review amended (the label is
        fixed when a review is made); undo withdraws the amendment and the review before is in
        effect again.
        """
        state = self.current_state(patch_id, reviewer)
        if state is None:
            return None
        old = self._event(state.event_id)
        return self.record(
            ReviewInput(
                patch_id=old.patch_id,
                verdict=old.verdict if old.given_as == GIVEN_AS_VERDICT else None,
                reviewer=old.reviewer,
                pixel_sha1=old.pixel_sha1,
                relpath=old.relpath,
                model_id=old.model_id,
                p_tumour=old.p_tumour,
                explanation_method=old.explanation_method,
                explanation_layer=old.explanation_layer,
                centre_focus=old.centre_focus,
                note=old.note if note is None else note,
                role=old.role,
                label=old.label if old.given_as == GIVEN_AS_LABEL else None,
                view=old.view,
                gt_flag=old.gt_flag if gt_flag is None else gt_flag,
            )
        )

    def undo(self, reviewer: str | None = None) -> ReviewEvent | None:
        """Retract the latest review still in effect (of ``reviewer`` if given): one step of
        :meth:`undo_step`. Returns the retraction of that latest review (with a bulk review,
        the whole batch is withdrawn), or None when there is nothing left to undo."""
        events = self.undo_step(reviewer)
        return events[-1] if events else None

    def undo_step(self, reviewer: str | None = None) -> list[ReviewEvent]:
        """Undo one step: retract the latest review still in effect (of ``reviewer`` if given)
        and, when it belongs to a bulk review (a batch id), every review of that batch still in
        effect, in one transaction. Appends one 'retract' event per review withdrawn and
        returns them (the latest review's last); empty when there is nothing left to undo.
        Calling it again undoes the step before, and so on.
        """
        with self._transaction("undoing a review") as conn:
            # Only this store's own reviews: imported ones are colleagues' history.
            query = """SELECT * FROM events e WHERE e.kind = 'review' AND e.origin = ''
                       AND NOT EXISTS (SELECT 1 FROM events r WHERE r.kind = 'retract'
                                       AND r.target_uid = e.event_uid)"""
            params: tuple[str, ...] = ()
            if reviewer is not None:
                query += " AND e.reviewer = ?"
                params = (reviewer,)
            target = conn.execute(query + " ORDER BY e.event_id DESC LIMIT 1", params).fetchone()
            if target is None:
                return []
            targets = [target]
            if target["batch_id"]:
                targets = conn.execute(
                    query + " AND e.batch_id = ? ORDER BY e.event_id",
                    (*params, target["batch_id"]),
                ).fetchall()
            ids = [
                _insert_retract(conn, row, reviewer if reviewer is not None else row["reviewer"])
                for row in targets
            ]
        return [self._event(event_id) for event_id in ids]

    def add_events(self, events: Iterable[ReviewEvent], origin: str) -> int:
        """Insert events from another store or log, keeping their uids; returns how many were new.

        Idempotent: an event whose uid is already here is skipped, so importing the same source
        twice changes nothing. Runs in one transaction: all are added or none.
        """
        added = 0
        with self._transaction("importing reviews") as conn:
            for ev in events:
                cur = conn.execute(
                    """INSERT OR IGNORE INTO events (event_uid, kind, target_uid, patch_id,
                           pixel_sha1, relpath, verdict, label, reviewer, created_utc,
                           seconds_spent, model_id, p_tumour, explanation_method,
                           explanation_layer, centre_focus, note, origin, role, view,
                           given_as, gt_flag, batch_id)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                               ?, ?)""",
                    (
                        ev.event_uid,
                        ev.kind,
                        ev.target_uid,
                        ev.patch_id,
                        ev.pixel_sha1,
                        ev.relpath,
                        ev.verdict.value if ev.verdict else None,
                        ev.label,
                        ev.reviewer,
                        ev.created_utc,
                        ev.seconds_spent,
                        ev.model_id,
                        ev.p_tumour,
                        ev.explanation_method,
                        ev.explanation_layer,
                        ev.centre_focus,
                        ev.note,
                        ev.origin or origin,
                        ev.role,
                        ev.view,
                        ev.given_as,
                        int(bool(ev.gt_flag)),
                        ev.batch_id,
                    ),
                )
                added += cur.rowcount
        return added

    # -- reading ------------------------------------------------------------------------
    def _event(self, event_id: int) -> ReviewEvent:
        rows = self._query("SELECT * FROM events WHERE event_id = ?", (event_id,))
        return _row_to_event(rows[0])

    def events(self) -> list[ReviewEvent]:
        """The whole log, oldest first."""
        return list(self.iter_events())

    def iter_events(self) -> Iterator[ReviewEvent]:
        for row in self._query("SELECT * FROM events ORDER BY event_id"):
            yield _row_to_event(row)

    def _effective_reviews(self) -> list[PatchState]:
        """Reviews not retracted, in chronological order (UTC time, then log order)."""
        rows = self._query(
            """SELECT * FROM events e WHERE e.kind = 'review'
               AND NOT EXISTS (SELECT 1 FROM events r WHERE r.kind = 'retract'
                               AND r.target_uid = e.event_uid)
               ORDER BY e.created_utc, e.event_id"""
        )
        return [_state_from_row(row) for row in rows]

    def reviewer_states(self) -> dict[str, dict[str, PatchState]]:
        """patch id -> reviewer -> that reviewer's current review (adjudications excluded)."""
        states: dict[str, dict[str, PatchState]] = {}
        for state in self._effective_reviews():
            if state.role == REVIEWER:
                states.setdefault(state.patch_id, {})[state.reviewer] = state
        return states

    def adjudications(self) -> dict[str, PatchState]:
        """patch id -> the latest adjudication in effect: the final verdict on that patch."""
        return {s.patch_id: s for s in self._effective_reviews() if s.role == ADJUDICATOR}

    def current_states(self, reviewer: str | None = None) -> dict[str, PatchState]:
        """patch id -> the latest review in effect (of ``reviewer`` if given, else of anyone)."""
        return {
            state.patch_id: state
            for state in self._effective_reviews()
            if reviewer is None or state.reviewer == reviewer
        }

    def current_state(self, patch_id: str, reviewer: str | None = None) -> PatchState | None:
        """The latest review in effect on one patch (of ``reviewer`` if given), as
        :meth:`current_states` would give it, reading only that patch's events."""
        rows = self._query(
            """SELECT * FROM events e WHERE e.kind = 'review' AND e.patch_id = ?
               AND NOT EXISTS (SELECT 1 FROM events r WHERE r.kind = 'retract'
                               AND r.target_uid = e.event_uid)
               ORDER BY e.created_utc DESC, e.event_id DESC""",
            (patch_id,),
        )
        for row in rows:
            if reviewer is None or row["reviewer"] == reviewer:
                return _state_from_row(row)
        return None

    def reviewers(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT reviewer FROM events ORDER BY reviewer")]


# -- where a folder's store lives ---------------------------------------------------------
def user_data_dir() -> Path:
    """Per-user data folder: $PATHVIEW_DATA_DIR, else $XDG_DATA_HOME/pathview, else the OS's."""
    explicit = os.environ.get("PATHVIEW_DATA_DIR")
    if explicit:
        return Path(explicit)
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "pathview"
    if os.uname().sysname == "Darwin":
        return Path.home() / "Library" / "Application Support" / "pathview"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "pathview"


def fallback_store_path(folder: str | os.PathLike[str]) -> Path:
    """The per-user store used for a folder that cannot be written to."""
    resolved = Path(folder).resolve()
    digest = hashlib.sha1(str(resolved).encode("utf-8")).hexdigest()[:16]
    safe_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in resolved.name)[:40]
    return user_data_dir() / "stores" / f"{safe_name}-{digest}" / STORE_FILE_NAME


def _folder_is_writable(folder: Path) -> bool:
    """Try to create the store folder and a probe file in it (os.access lies for root/ACLs)."""
    store_dir = folder / STORE_DIR_NAME
    try:
        store_dir.mkdir(exist_ok=True)
        probe = store_dir / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True


def is_bundled(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is inside the installed package's resources (the demo patches): the
    app's own files, never written to, however writable the installation is."""
    try:
        bundled = resources_dir().resolve()
    except ResourceError:
        return False
    return Path(folder).resolve().is_relative_to(bundled)


def store_path_for_folder(folder: str | os.PathLike[str]) -> Path:
    """Where the review store of a patch folder is (or would be created).

    ``FOLDER/.pathview/reviews.sqlite`` when that exists or can be created, else a per-folder
    store in the user's data folder (see ``fallback_store_path``). A bundled folder (the demo,
    see ``is_bundled``) counts as read-only: its new store goes to the user's data folder.
    """
    base = Path(folder)
    in_folder = base / STORE_DIR_NAME / STORE_FILE_NAME
    if in_folder.is_file():
        return in_folder
    fallback = fallback_store_path(base)
    if fallback.is_file():
        return fallback
    if is_bundled(base) or not _folder_is_writable(base):
        return fallback
    return in_folder


def open_store_for_folder(folder: str | os.PathLike[str]) -> ReviewStore:
    """Open (creating if needed) the review store that belongs to a patch folder."""
    base = Path(folder)
    if not base.is_dir():
        raise StoreError(f"not a folder: {base}")
    return ReviewStore(store_path_for_folder(base))


def locate_store(folder_or_store: str | os.PathLike[str]) -> Path:
    """Resolve a command-line FOLDER_OR_STORE argument to an existing store file."""
    p = Path(folder_or_store)
    if p.is_file():
        return p
    if p.is_dir():
        for candidate in (p / STORE_DIR_NAME / STORE_FILE_NAME, fallback_store_path(p)):
            if candidate.is_file():
                return candidate
        raise StoreError(f"no review store for folder {p} (nothing has been reviewed there yet)")
    raise StoreError(f"no such file or folder: {p}")


__all__ = [
    "EVENT_COLUMNS",
    "GIVEN_AS_LABEL",
    "GIVEN_AS_VERDICT",
    "SCHEMA_VERSION",
    "PatchState",
    "ReviewEvent",
    "ReviewInput",
    "ReviewStore",
    "SchemaError",
    "StoreBusy",
    "StoreError",
    "check_relpath",
    "check_text_fields",
    "is_bundled",
    "locate_store",
    "open_store_for_folder",
    "store_path_for_folder",
]
