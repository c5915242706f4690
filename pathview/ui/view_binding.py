"""Binds the widgets that show or edit the overlay options to the one :class:`ViewState`.

The View menu's toggles, the panel's check boxes, opacity slider and method/layer combos write
to the state; the state's ``changed`` signal updates every one of them, the patch view and the
preferences. No widget keeps its own copy that another has to be told about.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox

from pathview.ui.patch_view import PatchView
from pathview.ui.review_panel import ReviewPanel
from pathview.ui.settings import Preferences
from pathview.ui.view_state import ViewOptions, ViewState
from pathview.workers import ModelInfo


def options_from_preferences(prefs: Preferences) -> ViewOptions:
    """The overlay options the user left the app with."""
    return ViewOptions(
        box=prefs.flag("show_box", True),
        heatmap=prefs.flag("show_heatmap", True),
        opacity=prefs.overlay_opacity,
        hide_p=prefs.flag("blind_p", False),
        hide_truth=prefs.flag("blind_truth", False),
    )


def _show_text(combo: QComboBox, text: str) -> None:
    if text and combo.currentText() != text and combo.findText(text) >= 0:
        combo.blockSignals(True)
        combo.setCurrentText(text)
        combo.blockSignals(False)


def bind_view_state(
    view: ViewState,
    box_action: QAction,
    heatmap_action: QAction,
    blind_actions: tuple[QAction, QAction],
    panel: ReviewPanel,
    patch_view: PatchView,
    prefs: Preferences,
    model: Callable[[], ModelInfo | None],
) -> None:
    """Connect the widgets both ways and show ``view``'s options in them now.

    The state holds explanation method keys; the combo shows the ``model``'s names for them.
    """

    def method_name(key: str) -> str:
        info = model()
        return info.methods.get(key, key) if info is not None else key

    def method_key(display: str) -> str:
        info = model()
        if info is None:
            return display
        return next((k for k, v in info.methods.items() if v == display), display)

    def show(new: ViewOptions, old: ViewOptions | None = None) -> None:
        box_action.setChecked(new.box)
        heatmap_action.setChecked(new.heatmap)
        blind_actions[0].setChecked(new.hide_p)
        blind_actions[1].setChecked(new.hide_truth)
        prefs.set_flag("blind_p", new.hide_p)
        prefs.set_flag("blind_truth", new.hide_truth)
        panel.box_check.setChecked(new.box)
        panel.heat_check.setChecked(new.heatmap)
        panel.set_opacity(new.opacity)
        _show_text(panel.method_combo, method_name(new.method))
        _show_text(panel.layer_combo, new.layer)
        patch_view.set_box_visible(new.box)
        patch_view.set_heatmap_visible(new.heatmap)
        patch_view.set_opacity(new.opacity)
        if old is None or new.box != old.box:
            prefs.set_flag("show_box", new.box)
        if old is None or new.heatmap != old.heatmap:
            prefs.set_flag("show_heatmap", new.heatmap)
        if old is not None and new.opacity != old.opacity:
            prefs.overlay_opacity = new.opacity

    view.changed.connect(show)
    panel.box_toggled.connect(lambda on: view.update(box=on))
    panel.heatmap_toggled.connect(lambda on: view.update(heatmap=on))
    panel.opacity_changed.connect(lambda opacity: view.update(opacity=opacity))
    panel.method_changed.connect(
        lambda text: view.update(method=method_key(text)) if text else None
    )
    panel.layer_changed.connect(lambda layer: view.update(layer=layer) if layer else None)
    show(view.options)
