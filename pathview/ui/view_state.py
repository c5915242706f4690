"""How the selected patch is drawn: one typed value, one owner, one change signal.

The centre box, the heat map, its opacity and the explanation method and layer used to live
in the actions, the panel's check boxes, the patch view, the session and the preferences,
kept in step by hand. Now :class:`ViewState` owns them; widgets and controllers bind to
``changed`` and write through :meth:`ViewState.update`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from PySide6.QtCore import QObject, Signal


@dataclass(frozen=True)
class ViewOptions:
    """The overlay options of the patch view (``method``/``layer``: explanation keys, "" for
    the model's default; ``heat_style``: "blend" or "contours", see
    :data:`pathview.ui.patch_view.HEAT_STYLES`) and blind mode (``hide_p``, ``hide_truth``:
    P(tumour) and the ground truth are not shown anywhere while reviewing)."""

    box: bool = True
    heatmap: bool = True
    opacity: float = 0.5
    method: str = ""
    layer: str = ""
    heat_style: str = "blend"
    hide_p: bool = False
    hide_truth: bool = False


class ViewState(QObject):
    """Owner of the :class:`ViewOptions`; emits ``changed(new, old)`` when any field changes."""

    changed = Signal(ViewOptions, ViewOptions)  # new, old

    def __init__(self, options: ViewOptions | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._options = options or ViewOptions()

    @property
    def options(self) -> ViewOptions:
        return self._options

    def update(self, **changes: Any) -> bool:
        """Set some fields (``update(heatmap=False)``); True when something changed."""
        names = {f.name for f in fields(ViewOptions)}
        unknown = set(changes) - names
        if unknown:
            raise TypeError(f"unknown view options: {sorted(unknown)}")
        if "opacity" in changes:
            changes["opacity"] = min(1.0, max(0.0, float(changes["opacity"])))
        new = replace(self._options, **changes)
        if new == self._options:
            return False
        old, self._options = self._options, new
        self.changed.emit(new, old)
        return True
