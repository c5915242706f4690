"""The review store's schema, versioned with ``PRAGMA user_version`` and ordered migrations.

Migration N brings a database at version N-1 to version N. They run in order in one
transaction each; a database newer than this code knows is refused rather than guessed at.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from pathview.store.errors import SchemaError

#: Ordered migrations: index 0 creates version 1, index 1 brings 1 -> 2, and so on.
MIGRATIONS: tuple[str, ...] = (
    # v1: the append-only event log.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE events (
        event_id      INTEGER PRIMARY KEY AUTOINCREMENT,
        event_uid     TEXT NOT NULL UNIQUE,
        kind          TEXT NOT NULL CHECK (kind IN ('review', 'retract')),
        target_uid    TEXT,
        patch_id      TEXT NOT NULL,
        pixel_sha1    TEXT NOT NULL DEFAULT '',
        relpath       TEXT NOT NULL DEFAULT '',
        verdict       TEXT CHECK (verdict IS NULL OR verdict IN ('agree', 'disagree', 'unsure')),
        label         INTEGER CHECK (label IS NULL OR label IN (0, 1)),
        reviewer      TEXT NOT NULL,
        created_utc   TEXT NOT NULL,
        seconds_spent REAL,
        model_id      TEXT NOT NULL DEFAULT '',
        p_tumour      REAL,
        note          TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX events_patch ON events (patch_id);
    """,
    # v2: what explanation the reviewer saw, and where an imported event came from.
    """
    ALTER TABLE events ADD COLUMN explanation_method TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN explanation_layer TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN centre_focus REAL;
    ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT '';
    CREATE INDEX events_target ON events (target_uid);
    """,
    # v3: adjudication. A review made as adjudicator settles a patch reviewers disagree on.
    """
    ALTER TABLE events ADD COLUMN role TEXT NOT NULL DEFAULT 'reviewer'
        CHECK (role IN ('reviewer', 'adjudicator'));
    """,
    # v4: what the reviewer was shown and said besides the verdict. ``view`` is the P shown
    # (single view or the TTA mean), ``given_as`` whether the label came from a verdict on
    # the model's call or from a label key (then ``verdict`` may be NULL: no model),
    # ``gt_flag`` marks "the ground truth looks wrong", and ``batch_id`` groups the events of
    # one bulk action.
    """
    ALTER TABLE events ADD COLUMN view TEXT NOT NULL DEFAULT ''
        CHECK (view IN ('', 'single', 'tta'));
    ALTER TABLE events ADD COLUMN given_as TEXT NOT NULL DEFAULT 'verdict'
        CHECK (given_as IN ('verdict', 'label'));
    ALTER TABLE events ADD COLUMN gt_flag INTEGER NOT NULL DEFAULT 0
        CHECK (gt_flag IN (0, 1));
    ALTER TABLE events ADD COLUMN batch_id TEXT NOT NULL DEFAULT '';
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SchemaError", "check_version", "migrate"]


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_version(current: int, where: object = "review store") -> None:
    """Raise SchemaError for a schema newer than this code knows: refused, not guessed at."""
    if current > SCHEMA_VERSION:
        raise SchemaError(
            f"{where} has schema version {current}, newer than this pathview "
            f"({SCHEMA_VERSION}); upgrade pathview to open it"
        )


@contextlib.contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT on ``conn`` (isolation_level None), rolled back on any
    exception: the plain transaction of the review store's migrations and the score cache."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(
    conn: sqlite3.Connection,
    target: int = SCHEMA_VERSION,
    transaction: Callable[[], AbstractContextManager[object]] | None = None,
) -> int:
    """Apply the pending migrations up to ``target``; returns the version reached.

    ``conn`` must be in autocommit mode (isolation_level=None). Each step runs in its own
    write transaction (``transaction()``, by default a plain ``BEGIN IMMEDIATE``), so two
    processes opening one old store migrate it once. A store already at ``target`` is only
    read: no write lock is taken.
    """
    begin = transaction or (lambda: immediate_transaction(conn))
    current = schema_version(conn)
    check_version(current)
    while current < target:
        with begin():
            current = schema_version(conn)
            check_version(current)
            if current >= target:
                break
            for statement in MIGRATIONS[current].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {current + 1}")
            current += 1
    return current
