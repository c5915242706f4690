"""A retrained model's verdict (better, no measurable change, worse than its parent) where the
reviewer sees the model: an information entry at the top of the Model menu and the status text.

:func:`format_verdict` is a pure function of the model metadata's
:class:`pathview.model.metadata.VerdictRecord`; :class:`VerdictMenuEntry` only shows it. A
"worse" model is said to be worse in every place it is named, never presented as an
improvement.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from pathview.model.metadata import VerdictRecord

#: How metric keys of a verdict read.
METRIC_NAMES = {
    "auc": "AUC",
    "auc_tta": "AUC, 8-view TTA",
    "accuracy": "accuracy",
    "accuracy_tta": "accuracy, 8-view TTA",
    "ece": "ECE",
    "ece_tta": "ECE, 8-view TTA",
}


@dataclass(frozen=True)
class VerdictText:
    """The verdict as the menu, the status bar and a tooltip show it."""

    menu: str  # "Retrained: no measurable change (AUC +0.0004, 95% CI -0.0010..+0.0020)"
    status: str  # "retrained: no measurable change"
    detail: str  # the menu line plus the parent's and the new model's figures and n
    result: str  # "better" | "no measurable change" | "worse"
    figures: str = ""  # "AUC +0.0004, 95% CI -0.0010..+0.0020"

    @property
    def worse(self) -> bool:
        return self.result == "worse"


def _figures(v: VerdictRecord) -> str:
    metric = METRIC_NAMES.get(v.metric, v.metric)
    parts = [metric if v.delta is None else f"{metric} {v.delta:+.4f}"]
    if len(v.ci95) == 2:
        lo, hi = (float(x) for x in v.ci95)
        parts.append(f"95% CI {lo:+.4f}..{hi:+.4f}")
    return ", ".join(parts)


def format_verdict(v: VerdictRecord) -> VerdictText:
    """The words for a retrained model's verdict against its parent."""
    figures = _figures(v)
    if v.result == "worse":
        menu = f"Retrained: WORSE than its parent ({figures}) — not an improvement"
        status = "retrained: WORSE than its parent"
    elif v.result == "better":
        menu = f"Retrained: better than its parent ({figures})"
        status = "retrained: better than its parent"
    else:
        menu = f"Retrained: no measurable change ({figures}) — not shown to be better"
        status = "retrained: no measurable change"
    extra = []
    if v.parent is not None and v.new is not None:
        extra.append(f"parent {v.parent:.4f}, this model {v.new:.4f}")
    if v.n is not None:
        extra.append(f"{v.n:,} validation patches")
    if v.validation:
        extra.append(f"on {v.validation}")
    detail = menu + (f"\n{'; '.join(extra)} (paired bootstrap)" if extra else "")
    return VerdictText(menu=menu, status=status, detail=detail, result=v.result, figures=figures)


class VerdictMenuEntry:
    """A disabled entry at the top of the Model menu (with a separator under it), there only
    while a retrained model with a verdict is loaded."""

    def __init__(self, menu: QMenu) -> None:
        self._menu = menu
        self.action = QAction("", menu)
        self.action.setObjectName("model_verdict")
        self.action.setEnabled(False)
        self.separator = QAction(menu)
        self.separator.setSeparator(True)

    def show(self, text: VerdictText | None) -> None:
        """Show a loaded model's verdict (None: take the entry out of the menu)."""
        present = self.action in self._menu.actions()
        if text is None:
            if present:
                self._menu.removeAction(self.action)
                self._menu.removeAction(self.separator)
            return
        # A mnemonic like every entry of the menu's (R is free in the Model menu).
        self.action.setText("&" + text.menu)
        self.action.setToolTip(text.detail)
        self.action.setStatusTip(text.detail)
        if not present:
            existing = self._menu.actions()
            if existing:
                self._menu.insertActions(existing[0], [self.action, self.separator])
            else:
                self._menu.addActions([self.action, self.separator])
