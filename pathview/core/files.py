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
