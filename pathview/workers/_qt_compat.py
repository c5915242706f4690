"""Work-around for a reference-counting bug of PySide6 6.12 on CPython < 3.12.

PySide6 6.12 returns ``None`` from every void-returning Qt method (``setText``, ``emit`` of a
queued signal, ``processEvents``, ...) without taking a new reference, as if ``None`` were
immortal (it is only from CPython 3.12 on). On 3.11 each such call steals one reference: after
some 60,000 calls, a few minutes of scrolling the grid, the interpreter aborts with
``Fatal Python error: none_dealloc``. ``QModelIndex.data()`` returning None and queued
signals show the same for ``True``/``False``.

The singletons are never freed anyway (freeing them *is* the fatal error), so giving them a
very large reference count makes them effectively immortal, as CPython 3.12 does. Applied
once, only on CPython < 3.12 with an affected PySide6. The real fix is a PySide6 release
without the bug (or Python >= 3.12); see the report to the lead.
"""

from __future__ import annotations

import ctypes
import platform
import sys

import PySide6

_BOOST = 1 << 40
_applied = False


def _affected() -> bool:
    if platform.python_implementation() != "CPython" or sys.version_info >= (3, 12):
        return False
    major_minor = tuple(int(p) for p in PySide6.__version__.split(".")[:2])
    return major_minor >= (6, 12)


def immortalise_singletons() -> bool:
    """Make None, True and False effectively immortal when PySide6 needs it; idempotent."""
    global _applied
    if _applied or not _affected():
        return _applied
    for obj in (None, True, False, Ellipsis, NotImplemented):
        # CPython < 3.12: ob_refcnt (Py_ssize_t) is the first field of every object.
        ctypes.c_ssize_t.from_address(id(obj)).value += _BOOST
    _applied = True
    return True
