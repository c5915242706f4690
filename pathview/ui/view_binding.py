"""Binds the widgets that show or edit the overlay options to the one :class:`ViewState`.

The View menu's toggles, the panel's check boxes, opacity slider and method/layer combos write
to the state; the state's ``changed`` signal updates every one of them, the patch view and the
preferences. No widget keeps its own copy that another has to be told about.
"""

from __future__ import annotations

from PySide6.QtGui import QAction

from pathview.ui.heat_legend import HeatLegend
from pathview.ui.patch_view import PatchView
from pathview.ui.review_panel import ReviewPanel, show_key
from pathview.ui.settings import Preferences
from pathview.ui.view_state import ViewOptions, ViewState


def options_from_preferences(prefs: Preferences) -> ViewOptions:
    """The overlay options the user left the app with."""
    return ViewOptions(
        box=prefs.flag("show_box", True),
        heatmap=prefs.flag("show_heatmap", True),
        opacity=prefs.overlay_opacity,
        heat_style="contours" if prefs.flag("heat_contours", False) else "blend",
        hide_p=prefs.flag("blind_p", False),
        hide_truth=prefs.flag("blind_truth", False),
    )


def bind_view_state(
    view: ViewState,
    box_action: QAction,
    heatmap_action: QAction,
    blind_actions: tuple[QAction, QAction],
    panel: ReviewPanel,
    patch_view: PatchView,
    prefs: Preferences,
    legend: HeatLegend | None = None,
    contours_action: QAction | None = None,
) -> None:
    """Connect the widgets both ways and show ``view``'s options in them now.

    The state holds explanation method and layer keys; the combos show readable names for
    them and hold the keys as item data.
    """

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
        show_key(panel.method_combo, new.method)
        show_key(panel.layer_combo, new.layer)
        show_key(panel.style_combo, new.heat_style)
        panel.opacity_slider.setEnabled(new.heat_style == "blend")
        patch_view.set_box_visible(new.box)
        patch_view.set_heatmap_visible(new.heatmap)
        patch_view.set_opacity(new.opacity)
        patch_view.set_heat_style(new.heat_style)
        if legend is not None:
            legend.setVisible(new.heatmap)
            legend.set_style(new.heat_style)
        if contours_action is not None:
            contours_action.setChecked(new.heat_style == "contours")
        if old is None or new.heat_style != old.heat_style:
            prefs.set_flag("heat_contours", new.heat_style == "contours")
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
    panel.method_changed.connect(lambda key: view.update(method=key) if key else None)
    panel.layer_changed.connect(lambda layer: view.update(layer=layer) if layer else None)
    panel.style_changed.connect(lambda style: view.update(heat_style=style) if style else None)
    show(view.options)
