"""How long the reviewer looked at the current patch (stored with each review), idle time left
out: a stretch with no input (key, click, wheel, mouse move) longer than ``idle_after`` seconds
counts as time away and adds nothing."""

from __future__ import annotations

from collections.abc import Callable

#: No input for this long is time away from the patch, not time spent on it.
IDLE_AFTER_S = 60.0


class DwellClock:
    """Active time spent on the current patch, for the review record. ``now`` is injectable.

    Call :meth:`touch` on every input: the time between two inputs counts when it is at most
    ``idle_after`` seconds, so a reviewer who walks away for lunch adds nothing.
    """

    def __init__(self, now: Callable[[], float], idle_after: float = IDLE_AFTER_S) -> None:
        self._now = now
        self.idle_after = idle_after
        self._patch: str | None = None
        self._active = 0.0
        self._last = now()

    def start(self, patch_id: str | None) -> None:
        """A patch is shown: its clock starts from zero (the same patch again: no change)."""
        if patch_id != self._patch:
            self._patch = patch_id
            self.restart()

    def restart(self) -> None:
        self._active = 0.0
        self._last = self._now()

    def touch(self) -> None:
        """The reviewer did something (a key, a click, the mouse moved)."""
        t = self._now()
        self._active += self._counted(t - self._last)
        self._last = t

    def _counted(self, gap: float) -> float:
        return gap if 0.0 <= gap <= self.idle_after else 0.0

    def seconds(self) -> float:
        """Active seconds on the current patch so far."""
        return self._active + self._counted(self._now() - self._last)
