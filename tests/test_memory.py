"""pathview.core.memory: the GUI process asks numpy for small pages."""

from __future__ import annotations

import pytest

from pathview.core.memory import prefer_small_pages


def test_prefer_small_pages_turns_numpy_huge_pages_off() -> None:
    multiarray = pytest.importorskip("numpy._core.multiarray")
    before = multiarray._set_madvise_hugepage(True)
    try:
        assert prefer_small_pages() is True  # it was on
        assert prefer_small_pages() is False  # and is off now
    finally:
        multiarray._set_madvise_hugepage(before)
