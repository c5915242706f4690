"""Atomic file writing shared by every layer that writes user-facing files."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def current_umask() -> int:
    """The process's file-creation mask, read without changing it where the system allows.

    Linux reports it in /proc/self/status; elsewhere it is read by setting and restoring it
    (a moment in which another thread creating a file would get mode 0o777 & ~0o077).
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    """The mode ``open(target, "w")`` would leave: the existing file's, or 0o666 less umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_text_writer(path: str | os.PathLike[str], newline: str = "") -> Iterator[TextIO]:
    """Open a temporary file beside ``path`` for writing; rename it over ``path`` on success.

    Readers never see a half-written file: on any exception the temporary file is removed and
    ``path`` keeps its old content (or stays absent). The data is fsynced before the rename.
    The file gets the permissions a plain ``open(path, "w")`` would give it: an existing
    file keeps its mode, a new one gets 0o666 less the user's umask (``mkstemp`` alone would
    make every output readable by its owner only).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, _mode_for(target))
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


# -- recorded relative paths ---------------------------------------------------------------
class UnsafePathError(ValueError):
    """A recorded relative path that would leave its folder (absolute, or climbing with ``..``)."""


def relpath_problem(relpath: str) -> str | None:
    """Why ``relpath`` cannot be joined to a folder safely, or None when it can.

    Refused: absolute paths (``/x``, ``C:\\x``, ``\\\\server\\x``), any ``..`` component (with
    ``/`` or ``\\`` as separator) and NUL bytes. An empty path is fine here (it names nothing).
    """
    if "\x00" in relpath:
        return "contains a NUL byte"
    text = relpath.replace("\\", "/")
    if text.startswith("/") or (text[:1].isalpha() and text[1:2] == ":"):
        return "is absolute"
    if ".." in text.split("/"):
        return "climbs out of its folder with '..'"
    return None


def join_inside(root: str | os.PathLike[str], relpath: str) -> Path:
    """``root / relpath``, refusing (``UnsafePathError``) a path that would leave ``root``.

    The one guard for every place a relative path read from a store, log or label file is
    joined to a folder.
    """
    problem = relpath_problem(relpath)
    if problem is not None:
        raise UnsafePathError(f"path {relpath!r} {problem}: refused (it would leave {root})")
    return Path(root) / relpath


# -- text that goes into spreadsheets and terminals ---------------------------------------
#: A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would run it as a formula.

    Cells starting with ``= + - @``, a tab or a carriage return get the quote, as OWASP
    recommends; so does a cell already starting with ``'``, so that :func:`from_spreadsheet_safe`
    restores every text exactly. Apply it to text cells only: numbers (``-0.5``) stay numbers.
    """
    if text.startswith(FORMULA_TRIGGERS) or text.startswith("'"):
        return "'" + text
    return text


def from_spreadsheet_safe(text: str) -> str:
    """The inverse of :func:`spreadsheet_safe` (drops one leading ``'``)."""
    return text[1:] if text.startswith("'") else text


def printable(text: str) -> str:
    """``text`` safe to print or write as UTF-8: undecodable bytes of a file name (held as
    surrogate escapes) are shown as ``\\xNN``."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def csv_cell(text: str) -> str:
    """One CSV cell as written: quoted when it holds a comma, a quote or a line break.

    (The csv module leaves a lone carriage return unquoted when rows end in ``\\n``, and its
    readers then split the row there.)
    """
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
