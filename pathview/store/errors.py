"""The review store's one error type, and its two refinements callers may want to tell apart.

Every failure of the store reaches callers as a :class:`StoreError` (never a raw
``sqlite3`` error): the message says what went wrong and with which file.
"""

from __future__ import annotations


class StoreError(Exception):
    """The review store cannot be opened, read or written; the message says why."""


class StoreBusy(StoreError):
    """Another process held the store's write lock for longer than the busy timeout."""


class SchemaError(StoreError):
    """The database's schema version is not one this code can use (e.g. a newer pathview's)."""
