"""The score cache: a folder's scores kept per model and patch pixels, so that opening a
scored folder again (in the app, ``pathview score``, ``pathview queue``) scores only the
files that are new or changed.

One SQLite file per folder, ``scores.sqlite`` beside the folder's review store (in the
folder's ``.pathview/``, or in the user's data folder for a read-only or bundled folder: the
rule of :func:`pathview.store.store_path_for_folder`). A model is keyed by :func:`model_key`
(its model id, number format and input codec). The cache holds four tables:

- ``files``: relative path -> (size, mtime in ns, pixel SHA-1): a file whose size and mtime
  are unchanged is not decoded again to learn its pixels;
- ``scores``: (model key, pixel SHA-1) -> single-view P(tumour), TTA P(tumour) with its spread
  and the 8 views' P(tumour), each where computed (a TTA run fills the single-view P too:
  view 0 is the identity, scored exactly as without TTA);
- ``embeddings``: (model key, pixel SHA-1) -> the penultimate-layer features as float16; a
  table with row ids (version 3): its rows (300 bytes and more) are appended and only the
  key index takes random inserts, which halves the cost of writing them (versions 1 and 2
  kept the rows in the key's B-tree; opening such a cache moves them over);
- ``quality``: pixel SHA-1 -> the quality measures (float32, in the order of
  :data:`pathview.quality.MEASURES`) and the 8-view perceptual hashes (uint64): they depend on
  the pixels only, not on the model (added in version 2; a version 1 cache gains the table).

Keys are the decoded pixels, so a renamed or copied file keeps its scores and a file whose
pixels changed is scored again. Every write is one transaction (a crash leaves the cache as
it was before the write; :func:`pathview.scoring.reuse.record_batch` writes a scored batch's
files, scores, embeddings and quality rows in one). A cache that is damaged is moved aside
and started afresh, one written by a newer pathview is left alone and not used; both with a
warning (``warnings``, category :class:`ScoreCacheWarning`), never an exception.
"""

from __future__ import annotations

import os
import sqlite3
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from pathview.core import N_VIEWS, PatchRef
from pathview.quality import MEASURES, PatchQuality, QualityMeasures
from pathview.quality.duplicates import N_HASH_VIEWS
from pathview.store import store_path_for_folder
from pathview.store.schema import immediate_transaction

CACHE_FILE_NAME = "scores.sqlite"
#: Version of the cache's tables; a cache with a higher one is not used.
CACHE_VERSION = 3
_BUSY_TIMEOUT_S = 5.0
WAL_CHECKPOINT_PAGES = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    relpath TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha1 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    model_id TEXT NOT NULL, sha1 TEXT NOT NULL, p REAL, tta_p REAL, spread REAL, views BLOB,
    PRIMARY KEY (model_id, sha1)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS embeddings (
    model_id TEXT NOT NULL, sha1 TEXT NOT NULL, vec BLOB NOT NULL,
    PRIMARY KEY (model_id, sha1));
CREATE TABLE IF NOT EXISTS quality (
    sha1 TEXT PRIMARY KEY, measures BLOB NOT NULL, hashes BLOB NOT NULL) WITHOUT ROWID;
"""

_UPSERT_SCORES = """
INSERT INTO scores (model_id, sha1, p, tta_p, spread, views) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (model_id, sha1) DO UPDATE SET
    p = coalesce(excluded.p, p), tta_p = coalesce(excluded.tta_p, tta_p),
    spread = CASE WHEN excluded.tta_p IS NULL THEN spread ELSE excluded.spread END,
    views = coalesce(excluded.views, views)
"""


class ScoreCacheWarning(UserWarning):
    """The score cache could not be used (damaged, newer, unwritable): scoring goes on."""


class FileKey(NamedTuple):
    """What identifies a file's pixels without decoding it again: size and mtime (ns) as
    seen just before it was read, and the SHA-1 of the pixels read."""

    size: int
    mtime_ns: int
    sha1: str


def cache_path_for_folder(folder: str | os.PathLike[str]) -> Path:
    """Where the score cache of ``folder`` is (or would be created): beside its review store
    (see :func:`pathview.store.store_path_for_folder`)."""
    return store_path_for_folder(folder).parent / CACHE_FILE_NAME


def model_key(classifier: object) -> str:
    """What the cache keys a model's scores by: its model id (the weights' SHA-256), the
    number format it scores in and its input codec, all of which change P(tumour); "" for a
    predictor without a model id (nothing is cached for it)."""
    model_id = str(getattr(classifier, "model_id", "") or "")
    if not model_id:
        return ""
    precision = str(getattr(classifier, "precision", "") or "")
    codec = getattr(classifier, "codec", None)
    described = codec.describe() if codec is not None and hasattr(codec, "describe") else ""
    return "|".join((model_id, precision, str(described)))


def stat_key(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns) of a file, None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


@dataclass(frozen=True)
class CachedRow:
    """One patch's cached scores: single-view P, TTA P, spread and views (None where not
    computed; spread NaN where the predictor gave none)."""

    p: float | None
    tta_p: float | None
    spread: float | None
    views: np.ndarray | None


class ScoreCache:
    """One folder's score cache (see the module docstring). Open with :meth:`open`, which
    gives None (and a warning) when the cache cannot be used."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._batch: str | None = None  # writing(): None, 'open' or 'failed'

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ScoreCache | None:
        """The cache at ``path`` (created if missing); None with a :class:`ScoreCacheWarning`
        when it is newer than this pathview or cannot be opened. A damaged file is moved aside
        (``scores.sqlite.damaged``) and a new cache started."""
        target = Path(path)
        try:
            return cls._open(target)
        except _NewerCache as exc:
            _warn(f"score cache {target} was written by a newer pathview ({exc}); not used")
            return None
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                _warn(f"score cache {target} cannot be opened ({exc}); scoring without it")
                return None
            _warn(f"score cache {target} is damaged ({exc}); starting a new one")
            try:
                _move_aside(target)
                return cls._open(target)
            except (OSError, sqlite3.Error, _NewerCache) as again:
                _warn(f"score cache {target} cannot be replaced ({again}); scoring without it")
                return None
        except OSError as exc:
            _warn(f"score cache {target} cannot be opened ({exc}); scoring without it")
            return None

    @classmethod
    def for_folder(cls, folder: str | os.PathLike[str]) -> ScoreCache | None:
        """The cache of a patch folder (see :func:`cache_path_for_folder`), or None."""
        try:
            path = cache_path_for_folder(folder)
        except OSError as exc:
            _warn(f"no score cache for {folder} ({exc}); scoring without it")
            return None
        return cls.open(path)

    @classmethod
    def _open(cls, path: Path) -> ScoreCache:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Checkpoint the write-ahead log every 10,000 pages (40 MB; SQLite's default is
            # 1,000): the rows' keys are pixel SHA-1s, so each batch dirties pages all over
            # the tables, and a page written again before the next checkpoint is copied back
            # once. Writing a 220,160-patch folder's rows took 15.5 s instead of 19.9 s
            # (benchmarks/bench_cache_writes.py). The log is emptied when the cache closes.
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            version = _read_version(conn)
            if version is not None and version > CACHE_VERSION:
                raise _NewerCache(f"version {version}, this pathview reads {CACHE_VERSION}")
            if version is None or version < CACHE_VERSION:  # new, or without the later tables
                with immediate_transaction(conn):
                    _embeddings_with_row_ids(conn)
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)",
                        (str(CACHE_VERSION),),
                    )
            conn.execute("SELECT count(*) FROM files").fetchone()  # a damaged file fails here
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ScoreCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files ------------------------------------------------------------------------------
    def file_keys(self) -> dict[str, FileKey]:
        """Every recorded file: relpath -> :class:`FileKey`."""
        rows = self._read("SELECT relpath, size, mtime_ns, sha1 FROM files", ())
        return {r[0]: FileKey(int(r[1]), int(r[2]), str(r[3])) for r in rows}

    def known_sha1(self, root: Path, refs: Sequence[PatchRef]) -> list[str | None]:
        """Each ref's pixel SHA-1 when its file's size and mtime are as recorded, else None
        (new, changed or unreadable files)."""
        keys = self.file_keys()
        out: list[str | None] = []
        for ref in refs:
            known = keys.get(ref.relpath)
            if known is None:
                out.append(None)
                continue
            seen = stat_key(root / ref.relpath)
            out.append(known.sha1 if seen == (known.size, known.mtime_ns) else None)
        return out

    def put_files(self, rows: Iterable[tuple[str, FileKey]]) -> None:
        """Record (relpath, :class:`FileKey`) rows, in one transaction."""
        data = [(rel, k.size, k.mtime_ns, k.sha1) for rel, k in rows]
        self._write(
            "INSERT OR REPLACE INTO files (relpath, size, mtime_ns, sha1) VALUES (?, ?, ?, ?)",
            data,
        )

    # -- scores -----------------------------------------------------------------------------
    def put_scores(
        self,
        model_id: str,
        sha1: Sequence[str],
        p: np.ndarray,
        tta: bool,
        spread: np.ndarray | None = None,
        views: np.ndarray | None = None,
    ) -> None:
        """Record scores of ``model_id`` by pixel SHA-1 (rows aligned), in one transaction.

        ``tta``: ``p`` is the TTA P(tumour) (with ``spread``); else the single-view P. Given
        ``views`` (n x 8) fill the single-view P as well (view 0 is the identity). Columns a
        run did not compute keep what the cache had.
        """
        n = len(sha1)
        p = np.asarray(p, np.float64).reshape(n)
        v = None if views is None else np.asarray(views, np.float32).reshape(n, N_VIEWS)
        s = None if spread is None else np.asarray(spread, np.float64).reshape(n)
        data = []
        for i, key in enumerate(sha1):
            single = float(p[i]) if not tta else (float(v[i, 0]) if v is not None else None)
            tta_p = float(p[i]) if tta else None
            sp = (float(s[i]) if s is not None else float("nan")) if tta else None
            blob = v[i].tobytes() if v is not None else None
            data.append((model_id, key, single, tta_p, sp, blob))
        self._write(_UPSERT_SCORES, data)

    def scores(self, model_id: str) -> dict[str, CachedRow]:
        """Every cached score of ``model_id``: pixel SHA-1 -> :class:`CachedRow`."""
        rows = self._read(
            "SELECT sha1, p, tta_p, spread, views FROM scores WHERE model_id = ?", (model_id,)
        )
        out = {}
        for sha1, p, tta_p, spread, views in rows:
            v = None
            if views is not None and len(views) == 4 * N_VIEWS:
                v = np.frombuffer(views, np.float32)
            out[str(sha1)] = CachedRow(
                p, tta_p, float("nan") if tta_p is not None and spread is None else spread, v
            )
        return out

    # -- embeddings -------------------------------------------------------------------------
    def put_embeddings(self, model_id: str, sha1: Sequence[str], features: np.ndarray) -> None:
        """Record embeddings (n x C, stored as float16) of ``model_id`` by pixel SHA-1."""
        f = np.asarray(features, np.float16).reshape(len(sha1), -1)
        data = [(model_id, key, f[i].tobytes()) for i, key in enumerate(sha1)]
        self._write(
            "INSERT OR REPLACE INTO embeddings (model_id, sha1, vec) VALUES (?, ?, ?)", data
        )

    def get_embeddings(self, model_id: str, sha1: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of ``model_id`` for ``sha1``: (float32 n x C with NaN rows where none is
        cached, bool n found); C is 0 when none is found."""
        wanted = set(sha1)
        found: dict[str, np.ndarray] = {}
        for key, vec in self._read(
            "SELECT sha1, vec FROM embeddings WHERE model_id = ?", (model_id,)
        ):
            if key in wanted:
                found[str(key)] = np.frombuffer(vec, np.float16)
        width = max((len(v) for v in found.values()), default=0)
        out = np.full((len(sha1), width), np.nan, np.float32)
        mask = np.zeros(len(sha1), bool)
        for i, key in enumerate(sha1):
            vec = found.get(key)
            if vec is not None and len(vec) == width:
                out[i] = vec
                mask[i] = True
        return out, mask

    # -- quality ----------------------------------------------------------------------------
    def put_quality(self, quality: PatchQuality) -> None:
        """Record the quality rows (measures and perceptual hashes) by pixel SHA-1."""
        m = np.stack([quality.measures.measure(name) for name in MEASURES], axis=1)
        m = np.asarray(m, np.float32)
        h = np.asarray(quality.hashes, np.uint64).reshape(len(quality), N_HASH_VIEWS)
        data = [(key, m[i].tobytes(), h[i].tobytes()) for i, key in enumerate(quality.sha1)]
        self._write(
            "INSERT OR REPLACE INTO quality (sha1, measures, hashes) VALUES (?, ?, ?)", data
        )

    def get_quality(self, sha1: Sequence[str]) -> tuple[PatchQuality, np.ndarray]:
        """The cached quality rows of ``sha1``: (the rows found, in the order of ``sha1``;
        bool n, which were found)."""
        wanted = set(sha1)
        found: dict[str, tuple[bytes, bytes]] = {}
        for key, measures, hashes in self._read("SELECT sha1, measures, hashes FROM quality", ()):
            if key in wanted:
                found[str(key)] = (measures, hashes)
        mask = np.zeros(len(sha1), bool)
        m_rows: list[np.ndarray] = []
        h_rows: list[np.ndarray] = []
        keys: list[str] = []
        for i, key in enumerate(sha1):
            blobs = found.get(key)
            if (
                blobs is None
                or len(blobs[0]) != 4 * len(MEASURES)
                or len(blobs[1]) != 8 * N_HASH_VIEWS
            ):
                continue
            mask[i] = True
            keys.append(key)
            m_rows.append(np.frombuffer(blobs[0], np.float32))
            h_rows.append(np.frombuffer(blobs[1], np.uint64))
        n = len(keys)
        m = np.asarray(m_rows, np.float32).reshape(n, len(MEASURES))
        measures = QualityMeasures(*(m[:, j].copy() for j in range(len(MEASURES))))
        hashes = np.asarray(h_rows, np.uint64).reshape(n, N_HASH_VIEWS)
        return PatchQuality(measures, keys, hashes), mask

    # -- plumbing ---------------------------------------------------------------------------
    def _read(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            return list(self._conn.execute(sql, params))
        except sqlite3.Error as exc:
            _warn(f"score cache {self.path} cannot be read ({exc}); treated as empty")
            return []

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One transaction for the writes inside (the ``put_*`` methods): all of them are
        kept, or on a database error none, with one warning. Nested uses join the outer one."""
        if self._batch is not None:
            yield
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._batch = "open"
        except sqlite3.Error as exc:  # locked, read-only, ...: the writes inside are dropped
            self._batch = "failed"
            self._not_written(exc)
        try:
            yield
            if self._batch == "open":
                self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            self._not_written(exc)
        except BaseException:
            self._rollback()
            raise
        finally:
            self._batch = None

    def _not_written(self, exc: sqlite3.Error) -> None:
        _warn(f"score cache {self.path} cannot be written ({exc}); these scores not kept")

    def _rollback(self) -> None:
        if self._batch == "open" and self._conn.in_transaction:
            with suppress(sqlite3.Error):  # SQLite may have rolled back (disk full, I/O)
                self._conn.execute("ROLLBACK")

    def _write(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """One write: a transaction of its own, or part of the one :meth:`writing` holds (an
        error then ends that whole transaction)."""
        if not rows or self._batch == "failed":
            return
        with self.writing():
            self._conn.executemany(sql, rows)


class _NewerCache(Exception):
    pass


def _warn(text: str) -> None:
    warnings.warn(text, ScoreCacheWarning, stacklevel=3)


def _embeddings_with_row_ids(conn: sqlite3.Connection) -> None:
    """Move a version 1 or 2 cache's embeddings (a table without row ids) into the version 3
    table, inside the caller's transaction."""
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'embeddings'"
    ).fetchone()
    if row is None or "WITHOUT ROWID" not in str(row[0]).upper():
        return
    conn.execute("ALTER TABLE embeddings RENAME TO embeddings_before_v3")
    conn.execute(
        "CREATE TABLE embeddings (model_id TEXT NOT NULL, sha1 TEXT NOT NULL, "
        "vec BLOB NOT NULL, PRIMARY KEY (model_id, sha1))"
    )
    conn.execute(
        "INSERT INTO embeddings (model_id, sha1, vec) "
        "SELECT model_id, sha1, vec FROM embeddings_before_v3"
    )
    conn.execute("DROP TABLE embeddings_before_v3")


def _read_version(conn: sqlite3.Connection) -> int | None:
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if has_meta is None:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
    try:
        return None if row is None else int(row[0])
    except ValueError as exc:
        raise sqlite3.DatabaseError(f"bad version {row[0]!r}") from exc


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "bad version" in text


def _move_aside(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(path, path.with_name(f"{path.name}.damaged-{int(time.time())}"))


__all__ = [
    "CACHE_FILE_NAME",
    "CACHE_VERSION",
    "CachedRow",
    "FileKey",
    "ScoreCache",
    "ScoreCacheWarning",
    "cache_path_for_folder",
    "model_key",
    "stat_key",
]
