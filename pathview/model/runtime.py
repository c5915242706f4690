"""Process-level tuning for CPU inference and training.

glibc's default malloc returns large freed blocks to the OS (mmap/munmap and heap trimming),
so every batch re-faults fresh pages for its activations. On a 2-core Linux machine that cost
about half the CNN throughput; keeping freed memory in the heap (M_MMAP_MAX=0) and trimming
only above 1 GiB (M_TRIM_THRESHOLD) doubled it. Called once, before the first batch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_THRESHOLD_BYTES = 1 << 30

_done = False


def tune_malloc() -> bool:
    """On Linux/glibc, stop malloc from unmapping and trimming freed memory; once per process.

    Returns True when the settings were applied (now or by an earlier call), False elsewhere
    (macOS, Windows, musl) where it does nothing.
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES))
    if not ok:
        log.debug("mallopt refused the settings")
    _done = ok
    return ok
