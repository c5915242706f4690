"""SlideReviews: the reviews of one open slide's tiles, recorded as the folder window records
patches' reviews.

The review store of the slide's folder is the one owner of review state; :attr:`states` (tile
row -> the review in effect, anyone's latest, as the folder grid shows it) is its projection,
read when the slide opens (:func:`read_tile_states`, off the GUI thread) and refreshed for one
tile after each review or undo, ending in one ``changed`` signal. A review records the tile's
id, its relative path ``SLIDE#x=..,y=..,size=..,mpp=..``, the SHA-1 of the pixels shown, the P
shown and its view (``single``: the slide view scores one view) or none in blind mode, the
Grad-CAM shown (method, layer, centre focus) and the seconds spent on the tile. Agree and
disagree are refused, with the folder window's messages, where there is no call to agree with
(no model, not scored yet, or blind mode); the label keys T and N work everywhere, and the label
each review implies is fixed when it is made.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from pathview.core import VIEW_SINGLE, Verdict
from pathview.explain import Explanation
from pathview.slide import TileGrid
from pathview.store import PatchState, ReviewInput, ReviewStore, StoreError
from pathview.triage import DwellClock
from pathview.ui.reviews import NO_REVIEWER_TEXT

#: The end of a tile id after the slide's stem (``pathview.slide.tile_id``).
_TILE_ID = re.compile(r"_x(\d+)_y(\d+)$")


@dataclass(frozen=True)
class ShownTile:
    """What the reviewer saw of one tile when reviewing it."""

    row: int
    pixel_sha1: str
    p: float | None  # None: not scored, or hidden (blind mode)
    model_id: str
    explanation: Explanation | None = None  # the Grad-CAM drawn over it, if any


def tile_row_of(grid: TileGrid, patch_id: str) -> int | None:
    """The row of ``grid``'s tile whose id is ``patch_id`` (None: not a tile of it)."""
    if not patch_id.startswith(grid.stem):
        return None
    match = _TILE_ID.match(patch_id, len(grid.stem))
    return None if match is None else grid.find(int(match[1]), int(match[2]))


def read_tile_states(store: ReviewStore, grid: TileGrid) -> dict[int, PatchState]:
    """Tile row -> the review in effect on that tile of ``grid`` (anyone's latest)."""
    states: dict[int, PatchState] = {}
    for patch_id, state in store.current_states().items():
        row = tile_row_of(grid, patch_id)
        if row is not None:
            states[row] = state
    return states


class SlideReviews(QObject):
    """See the module docstring."""

    changed = Signal(int)  # the tile row whose review changed; -1: every tile (slide opened)
    message = Signal(str)

    def __init__(
        self, now: Callable[[], float] = time.monotonic, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.states: dict[int, PatchState] = {}
        self.clock = DwellClock(now)
        self.reviewer = ""
        self._store_path: Path | None = None
        self._grid: TileGrid | None = None

    def attach(self, store_path: Path, grid: TileGrid, states: dict[int, PatchState]) -> None:
        """Review the tiles of ``grid`` into the store at ``store_path`` (``states``: the
        reviews already there)."""
        self._store_path, self._grid, self.states = store_path, grid, dict(states)
        self.changed.emit(-1)

    def detach(self) -> None:
        self._store_path, self._grid, self.states = None, None, {}

    def started(self, row: int) -> None:
        """Tile ``row`` is now shown: its dwell clock starts."""
        self.clock.start(None if self._grid is None or row < 0 else self._grid.id(row))

    def record(self, shown: ShownTile, verdict: Verdict | None, label: int | None = None) -> bool:
        """Write a verdict (or, with ``verdict`` None, a ``label``: 1 tumour, 0 normal) on the
        tile ``shown``; False (and a ``message``) when it was not written."""
        grid, path = self._grid, self._store_path
        if grid is None or path is None or shown.row < 0:
            self.message.emit("No tile selected: nothing was recorded.")
            return False
        if not self.reviewer:
            self.message.emit(NO_REVIEWER_TEXT)
            return False
        expl = shown.explanation
        review = ReviewInput(
            patch_id=grid.id(shown.row),
            verdict=verdict,
            reviewer=self.reviewer,
            pixel_sha1=shown.pixel_sha1,
            relpath=grid.relpath(shown.row),
            seconds_spent=round(self.clock.seconds(), 3),
            model_id=shown.model_id if shown.p is not None else "",
            p_tumour=shown.p,
            explanation_method=expl.method if expl is not None else "",
            explanation_layer=expl.layer if expl is not None else "",
            centre_focus=expl.centre_focus if expl is not None else None,
            label=label,
            view=VIEW_SINGLE if shown.p is not None else "",  # the slide view scores one view
        )
        try:
            with ReviewStore(path) as store:
                store.record(review)
                state = store.current_state(review.patch_id)
        except (StoreError, ValueError) as exc:
            self.message.emit(f"The review was not saved: {exc}")
            return False
        self.clock.restart()
        self._set(shown.row, state)
        return True

    def undo(self) -> int | None:
        """Retract this reviewer's latest review, as the folder window does
        (``ReviewStore.undo_step``: a bulk review is withdrawn as one step); returns the tile
        row the latest review was about (-1: a patch not on this slide), None when nothing was
        undone."""
        grid, path = self._grid, self._store_path
        if grid is None or path is None:
            return None
        try:
            with ReviewStore(path) as store:
                events = store.undo_step(self.reviewer or None)
                rows = [(tile_row_of(grid, e.patch_id), e.patch_id) for e in events]
                states = {r: store.current_state(pid) for r, pid in rows if r is not None}
        except StoreError as exc:
            self.message.emit(f"Nothing was undone: {exc}")
            return None
        if not events:
            self.message.emit("Nothing to undo.")
            return None
        for tile, state in states.items():
            self._set(tile, state)
        latest = events[-1].patch_id
        what = f"the bulk review of {len(events):,} patches" if len(events) > 1 else latest
        row = tile_row_of(grid, latest)
        if row is None:
            self.message.emit(f"Undid {what} (not a tile of this slide)")
            return -1
        self.message.emit(f"Undid the review of {what}" if len(events) == 1 else f"Undid {what}")
        return row

    def _set(self, row: int, state: PatchState | None) -> None:
        if state is None:
            self.states.pop(row, None)
        else:
            self.states[row] = state
        self.changed.emit(row)
