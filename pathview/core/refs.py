"""A sequence of PatchRefs kept as columns (ids, relative paths, a row order)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pathview.core.types import PatchRef


class RefSequence(Sequence[PatchRef]):
    """Patches of a table in a given row order, made into PatchRefs only when read.

    Scoring a 220,025-patch folder starts with the whole folder in grid order; building that
    many PatchRef objects at once took the GUI thread about 100 ms. This holds a snapshot of
    the ids and paths and an index array instead (cheap to make, safe to read from another
    thread while the table grows).
    """

    def __init__(self, ids: Sequence[str], relpaths: Sequence[str], order: np.ndarray) -> None:
        self._ids = list(ids)
        self._relpaths = list(relpaths)
        self._order = np.asarray(order, dtype=np.int64)

    def __len__(self) -> int:
        return int(self._order.size)

    def columns(self, start: int = 0, stop: int | None = None) -> tuple[list[str], list[str]]:
        """The ids and relative paths of positions ``start:stop``, as two lists."""
        rows = self._order[start:stop].tolist()
        return [self._ids[r] for r in rows], [self._relpaths[r] for r in rows]

    def __getitem__(self, index: int | slice) -> PatchRef | list[PatchRef]:  # type: ignore[override]
        if isinstance(index, slice):
            return [PatchRef(self._ids[r], self._relpaths[r]) for r in self._order[index].tolist()]
        r = int(self._order[index])
        return PatchRef(self._ids[r], self._relpaths[r])
