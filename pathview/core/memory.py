"""How the GUI process asks for memory: small pages for numpy's large arrays.

NumPy asks Linux for transparent huge pages (``madvise(MADV_HUGEPAGE)``) for every array of
4 MB and more, where the system's policy is ``madvise`` (Debian's default). The first touch
of each 2 MB page then zeroes it whole, and may wait while the kernel compacts memory to find
one. The GUI thread allocates large arrays that it fills a little at a time: a 220,025-row
folder's embeddings are 113 MB, of which each scored batch writes 256 rows scattered over the
table. Writing the first batch of 256 rows into a new 220,025 x 128 float32 array took
130-160 ms with huge pages and 0.5 ms without (measured alone on the 2-core development
machine); the stall tracer of ``benchmarks/bench_gui_responsiveness.py --n 220025 --trace-stalls``
had found that write in a 290 ms gap. With small pages the cost is spread over the batches
that touch the pages. The scoring child process keeps numpy's default.

NumPy documents ``NUMPY_MADVISE_HUGEPAGE=0`` for this, read when numpy is imported; the app
imports numpy before it can set it, so :func:`prefer_small_pages` calls the switch that
variable sets.
"""

from __future__ import annotations

import importlib


def prefer_small_pages() -> bool | None:
    """Stop numpy asking for huge pages for new arrays in this process. Returns whether it
    did before (None where this numpy has no such switch)."""
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        switch = getattr(module, "_set_madvise_hugepage", None)
        if switch is not None:
            return bool(switch(False))
    return None
