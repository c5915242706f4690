"""PatchNotes: the reviewer's note and "ground truth looks wrong" flag on a patch.

Both belong to the reviewer's review of the patch, so they live in the store with it: set on a
reviewed patch they amend that review (a new event with the same verdict, label and P; undo
withdraws it), set before the review they are held here and written with it. A new review of
a patch carries the note and flag of the one it replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Signal

from pathview.store import ReviewStore, StoreError


class PatchNotes(QObject):
    """Notes and ground-truth flags of the current reviewer (see the module docstring)."""

    message = Signal(str)

    def __init__(
        self,
        current_id: Callable[[], str | None],
        reviewer: Callable[[], str],
        store: Callable[[], ReviewStore | None],
        can_write: Callable[[str], ReviewStore | None],
        refresh: Callable[[Sequence[str]], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._current_id = current_id
        self._reviewer = reviewer
        self._store = store
        self._can_write = can_write
        self._refresh = refresh
        # Set on a patch this reviewer has not reviewed yet: patch id -> (note, flag).
        self._pending: dict[str, tuple[str, bool]] = {}

    def clear(self) -> None:
        """Forget what is held (another folder was opened)."""
        self._pending.clear()

    def pending(self, patch_id: str | None) -> tuple[str, bool] | None:
        """(note, flag) set on ``patch_id`` and held until this reviewer's review of it."""
        return None if patch_id is None else self._pending.get(patch_id)

    def carried(self, store: ReviewStore, patch_id: str) -> tuple[str, bool]:
        """What a new review of ``patch_id`` carries: the note and flag held for it, else those
        of this reviewer's review it replaces."""
        held = self._pending.get(patch_id)
        if held is not None:
            return held
        before = store.current_state(patch_id, self._reviewer())
        return ("", False) if before is None else (before.note, before.gt_flag)

    def written(self, patch_id: str) -> None:
        """The review of ``patch_id`` was recorded with what was held for it."""
        self._pending.pop(patch_id, None)

    def note_of(self, patch_id: str) -> str:
        """This reviewer's note on ``patch_id`` (held for their review, or on it)."""
        store = self._store()
        if store is None or not self._reviewer():
            return ""
        try:
            return self.carried(store, patch_id)[0]
        except StoreError:
            return ""

    def set_note(self, note: str) -> bool:
        """Set this reviewer's note on the current patch (on their review, or held for it)."""
        return self._amend(note=note.strip())

    def toggle_truth_flag(self) -> bool:
        """Flag (or unflag) "the ground truth looks wrong" on the current patch."""
        patch_id, store = self._current_id(), self._store()
        if patch_id is None or store is None:
            return False
        held = self._pending.get(patch_id)
        reviewer = self._reviewer()
        state = store.current_state(patch_id, reviewer) if reviewer else None
        now = held[1] if held is not None else (state.gt_flag if state is not None else False)
        done = self._amend(gt_flag=not now)
        if done:
            self.message.emit(
                f"{patch_id}: ground truth flagged as looking wrong"
                if not now
                else f"{patch_id}: ground-truth flag removed"
            )
        return done

    def _amend(self, note: str | None = None, gt_flag: bool | None = None) -> bool:
        patch_id = self._current_id()
        if patch_id is None:
            return False
        store = self._can_write("note")
        if store is None:
            return False
        try:
            event = store.amend(patch_id, self._reviewer(), note=note, gt_flag=gt_flag)
        except (StoreError, ValueError) as exc:
            self.message.emit(f"Not saved: {exc}")
            return False
        if event is None:  # not reviewed by them yet: held for their review
            old_note, old_flag = self.carried(store, patch_id)
            self._pending[patch_id] = (
                old_note if note is None else note,
                old_flag if gt_flag is None else gt_flag,
            )
            self.message.emit(f"{patch_id}: kept, and saved with your review of it")
        self._refresh([patch_id])
        return True


__all__ = ["PatchNotes"]
