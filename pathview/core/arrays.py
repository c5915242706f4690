"""Large lists of Python strings as numpy arrays, converted a chunk at a time.

Turning a list of 220,025 strings into a numpy string array is one C call that holds the
interpreter lock for about 20 ms; on a worker thread that is a 20 ms stall of the GUI thread.
In chunks of 16,384 it is the same work in steps of about 1.5 ms, between which the GUI thread
gets the lock. numpy's sorts of the result (``np.argsort``, ``np.unique``) then run without it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Strings turned into an array per step.
STR_CHUNK = 16_384


def str_array(values: Sequence[str], chunk: int = 0) -> np.ndarray:
    """``np.array(values, dtype=str)``, built ``chunk`` (default :data:`STR_CHUNK`) strings
    at a time. Strings must not end in NUL characters (numpy's fixed-width strings drop
    them): file names and hex digests do not."""
    step = chunk or STR_CHUNK
    n = len(values)
    if n <= step:
        return np.array(list(values), dtype=str)
    parts = [np.array(list(values[i : i + step]), dtype=str) for i in range(0, n, step)]
    return np.concatenate(parts)
