"""How long the reviewer looked at the current patch (stored with each review)."""

from __future__ import annotations

from collections.abc import Callable


class DwellClock:
    """Time spent on the current patch, for the review record. ``now`` is injectable."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._patch: str | None = None
        self._since = now()

    def start(self, patch_id: str | None) -> None:
        if patch_id != self._patch:
            self._patch = patch_id
            self._since = self._now()

    def restart(self) -> None:
        self._since = self._now()

    def seconds(self) -> float:
        return max(0.0, self._now() - self._since)
