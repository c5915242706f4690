"""How stable a call is under the 8 flips/rotations of test-time augmentation (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike


def instability(view_probs: ArrayLike, threshold: float = 0.5) -> np.ndarray:
    """Per patch, how many of the views disagree with the majority call (0 = stable; 4 of 8
    = split evenly). A sort key: larger is less stable."""
    v = np.asarray(view_probs, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"expected N x views probabilities, got shape {v.shape}")
    tumour = (v >= threshold).sum(axis=1)
    return np.minimum(tumour, v.shape[1] - tumour).astype(np.int64)


def unstable_ids(ids: Sequence[str], view_probs: ArrayLike, threshold: float = 0.5) -> list[str]:
    """Ids whose call (P >= threshold) changes across the flips/rotations, least stable first
    (ties by id)."""
    counts = instability(view_probs, threshold)
    if counts.size != len(ids):
        raise ValueError(f"{len(ids)} ids but {counts.size} rows of view probabilities")
    flagged = [(-int(c), pid) for pid, c in zip(ids, counts.tolist(), strict=True) if c > 0]
    return [pid for _c, pid in sorted(flagged)]
