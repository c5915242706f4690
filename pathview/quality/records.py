"""The quality of scored patches as the scoring loop collects it, batch by batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pathview.quality.duplicates import (
    N_HASH_VIEWS,
    exact_groups,
    near_groups,
    perceptual_hashes,
    perceptual_hashes_of,
)
from pathview.quality.measures import QualityMeasures, grey, measure_arrays, measure_batch


@dataclass(frozen=True)
class PatchQuality:
    """Quality of N patches, rows in input order: the measures (:class:`QualityMeasures`),
    each patch's pixel SHA-1 (exact duplicates) and its 8-view perceptual hashes
    (uint64 (N, 8), near-duplicates)."""

    measures: QualityMeasures
    sha1: list[str]
    hashes: np.ndarray

    def __len__(self) -> int:
        return len(self.sha1)

    @staticmethod
    def of_arrays(arrays: Sequence[np.ndarray] | np.ndarray, sha1: Sequence[str]) -> PatchQuality:
        """Measure and hash decoded patches (H x W x 3 uint8 each) whose pixel SHA-1s are
        ``sha1`` (:func:`pathview.io.pixel_sha1`, computed by the caller)."""
        if len(sha1) != len(arrays):
            raise ValueError(f"{len(arrays)} patches but {len(sha1)} SHA-1s")
        if isinstance(arrays, np.ndarray) or (
            len(arrays) and all(a.shape == arrays[0].shape for a in arrays)
        ):  # the usual case: one size, so one grey image for the measures and the hash
            stack = arrays if isinstance(arrays, np.ndarray) else np.stack(arrays)
            g = grey(stack)
            return PatchQuality(measure_batch(stack, g), list(sha1), perceptual_hashes(stack, g))
        return PatchQuality(measure_arrays(arrays), list(sha1), perceptual_hashes_of(arrays))

    @staticmethod
    def empty() -> PatchQuality:
        """No rows."""
        return PatchQuality(QualityMeasures.empty(), [], np.zeros((0, N_HASH_VIEWS), np.uint64))

    @staticmethod
    def concat(parts: Sequence[PatchQuality]) -> PatchQuality:
        """The rows of ``parts`` in order."""
        if not parts:
            return PatchQuality.empty()
        return PatchQuality(
            QualityMeasures.concat([p.measures for p in parts]),
            [s for p in parts for s in p.sha1],
            np.concatenate([p.hashes for p in parts]),
        )

    def take(self, rows: Sequence[int] | np.ndarray) -> PatchQuality:
        """The rows ``rows`` (indices), in that order."""
        at = np.asarray(rows, np.int64).reshape(-1)
        return PatchQuality(
            self.measures.take(at), [self.sha1[i] for i in at.tolist()], self.hashes[at]
        )

    def exact_groups(self) -> np.ndarray:
        """Exact-duplicate group per row (0 = unique), see :func:`exact_groups`."""
        return exact_groups(self.sha1)

    def near_groups(self) -> np.ndarray:
        """Near-duplicate group per row (0 = none), see :func:`near_groups`; blank patches
        (flag ``blank``) are in none."""
        return near_groups(self.hashes, include=~self.measures.flags()["blank"])
