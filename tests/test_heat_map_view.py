"""The heat map worth looking at: contours, readable names, the colour bar, and the maps of the
next patches computed ahead of time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pytestqt.qtbot import QtBot
from support.fakes import hot_corner_explainer
from support.ui import MakeWindow

from pathview.explain import Explanation
from pathview.explain.contours import CONTOUR_LEVELS, iso_contours
from pathview.explain.names import explanation_label, layer_label, layer_labels
from pathview.ui.explanations import PREFETCH_AHEAD
from pathview.ui.heat_legend import legend_caption
from pathview.ui.patch_view import level_colour

BUNDLED_MODULES = [
    "stem",
    "stages.0",
    "stages.0.0",
    "stages.0.0.conv2",
    "stages.1",
    "stages.1.0",
    "stages.1.0.conv2",
    "stages.1.1",
    "stages.1.1.conv2",
    "stages.2",
    "stages.2.0",
    "stages.2.0.conv2",
    "stages.2.1",
    "stages.2.1.conv2",
]


def gaussian(cx: float, cy: float, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[:96, :96]
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)


def test_contours_follow_the_map_at_each_level() -> None:
    heat = gaussian(48, 40, 15)
    contours = iso_contours(heat)
    assert [c.level for c in contours] == list(CONTOUR_LEVELS)  # one closed line per level
    for contour in contours:
        radius = 15 * np.sqrt(2 * np.log(1 / contour.level))
        dist = np.hypot(contour.points[:, 0] - 48, contour.points[:, 1] - 40)
        assert np.all(np.abs(dist - radius) < 1.0), contour.level  # within a pixel


def test_two_hot_spots_give_two_lines_and_specks_none() -> None:
    heat = np.maximum(gaussian(20, 20, 6), gaussian(75, 70, 6))
    heat[90, 5] = 1.0  # a one-pixel speck
    half = iso_contours(heat, levels=(0.5,))
    assert len(half) == 2
    centres = np.array(sorted(tuple(c.points.mean(axis=0)) for c in half))
    assert np.allclose(centres, [(20, 20), (75, 70)], atol=1.0)  # polygon vertices' mean
    assert iso_contours(np.zeros((96, 96), np.float32)) == []
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        iso_contours(heat, levels=(1.0,))


def test_layers_get_readable_names_and_keep_them_apart() -> None:
    sides = {"stem": 24, "stages.0": 24, "stages.1": 12, "stages.2": 6, "stages.2.1.conv2": 6}
    names = layer_labels(sides, BUNDLED_MODULES)
    assert names == {
        "stem": "Early layers, 24×24",
        "stages.0": "Block 1 of 3, 24×24",
        "stages.1": "Block 2 of 3, 12×12",
        "stages.2": "Last block, 6×6",
        "stages.2.1.conv2": "Last convolution, 6×6",
    }
    assert layer_label("stages.1.0.conv2", 12, BUNDLED_MODULES) == "Block 2, convolution 1, 12×12"
    assert layer_label("features.7.conv2", None) == "features.7.conv2"  # another network
    assert explanation_label("Grad-CAM", names["stages.1"]) == "Grad-CAM, block 2 of 3, 12×12"


def test_the_colour_bar_names_what_the_map_shows() -> None:
    expl = hot_corner_explainer(None, np.zeros((96, 96, 3), np.uint8), "gradcam", "stages.0")
    assert legend_caption(expl) == "evidence for\ntumour"
    assert legend_caption(None) == "no map"
    agnostic = Explanation(**{**_fields(expl), "class_specific": False})
    assert legend_caption(agnostic) == "activation\n(either class)"


def _fields(expl: Explanation) -> dict[str, Any]:
    return {name: getattr(expl, name) for name in expl.__dataclass_fields__}


def open_and_explain(qtbot: QtBot, window: Any, folder: Path) -> None:
    s = window.session
    with qtbot.waitSignal(s.scoring_finished, timeout=30000):
        window.open_folder(folder)
    s.select_position(0)
    qtbot.waitUntil(lambda: s.explanation is not None and s.current_info is not None, timeout=15000)


@pytest.mark.slow
def test_the_patch_view_has_a_colour_bar_beside_it(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(explainer=hot_corner_explainer)
    open_and_explain(qtbot, window, kaggle_folder)
    legend = window.heat_legend
    assert legend.isVisible() and legend.caption == "evidence for\ntumour"
    view_box = window.patch_view.geometry()
    assert legend.geometry().left() >= view_box.right()  # beside, not over, the patch
    # The bar is painted in the heat map's colours: peak at the top, 0 at the bottom.
    image = legend.grab().toImage()
    bar = legend.bar_rect()
    x = int(bar.center().x())
    top, bottom = (
        image.pixelColor(x, int(bar.top()) + 3),
        image.pixelColor(x, int(bar.bottom()) - 3),
    )
    assert abs(top.red() - level_colour(1.0).red()) < 30
    assert bottom.red() < 40 and bottom.green() < 40  # inferno's near-black zero
    window.action_map["toggle_heatmap"].trigger()  # no heat map, no colour bar
    assert not legend.isVisible()


@pytest.mark.slow
def test_contour_mode_draws_outlines_instead_of_the_blend(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    window = make_window(explainer=hot_corner_explainer)
    open_and_explain(qtbot, window, kaggle_folder)
    view = window.patch_view
    qtbot.waitUntil(lambda: view.heatmap is not None, timeout=5000)
    assert view.heat_style == "blend" and view.contours_shown == 0
    window.action_map["toggle_contours"].trigger()  # View ▸ Heat map as outlines (O)
    assert window.session.view.options.heat_style == "contours"
    assert window.review_panel.style_combo.currentData() == "contours"
    assert view.contours_shown == len(CONTOUR_LEVELS) and view.heatmap_shown
    assert not view._heat_item.isVisible()  # the tissue is not tinted
    assert window.heat_legend.levels == CONTOUR_LEVELS  # marked on the colour bar
    # The hot corner is the top-left 24 x 24 square: every line runs around it.
    for item in view.contour_items():
        box = item.path().boundingRect()
        assert box.right() <= 25 and box.bottom() <= 25 and box.width() > 18
    # The lines are drawn in the colour bar's colour for their level, over the patch pixels.
    window.repaint()
    line = view.contour_items()[-1]
    assert line.pen().color() == level_colour(line.data(0))
    grab = view.viewport().grab().toImage()
    x, y = view.image_to_view(24, 12)
    colours = {grab.pixelColor(x + dx, y).rgb() for dx in range(-6, 7)}
    assert {level_colour(level).rgb() for level in CONTOUR_LEVELS} & colours
    window.review_panel.style_combo.setCurrentIndex(0)  # back to the blend from the panel
    assert view.heat_style == "blend" and view.contours_shown == 0
    assert not window.action_map["toggle_contours"].isChecked()


@pytest.mark.slow
def test_the_panel_names_layers_readably_with_the_module_in_a_tooltip(
    qtbot: QtBot, make_window: MakeWindow
) -> None:
    window = make_window()
    combo = window.review_panel.layer_combo
    texts = [combo.itemText(i) for i in range(combo.count())]
    keys = [combo.itemData(i) for i in range(combo.count())]
    assert keys == list(window.session.model_info.layers)  # type: ignore[union-attr]
    assert "stages.0" in keys and not any(t == k for t, k in zip(texts, keys, strict=True))
    assert combo.currentData() == "stages.0" and "stages.0" in combo.toolTip()
    combo.setCurrentIndex(keys.index("stem"))
    assert window.session.view.options.layer == "stem"  # the state holds the module name
    method = window.review_panel.method_combo
    assert method.currentText() == "Grad-CAM" and method.currentData() == "gradcam"


class CountingExplainer:
    """hot_corner_explainer, counting the patches it explains (on the model thread)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, classifier: Any, pixels: np.ndarray, method: str, layer: str) -> Any:
        self.calls.append(int(pixels.sum()))
        return hot_corner_explainer(classifier, pixels, method, layer)


@pytest.mark.slow
def test_the_next_patches_maps_are_computed_ahead_and_shown_at_once(
    qtbot: QtBot, make_window: MakeWindow, kaggle_folder: Path
) -> None:
    explainer = CountingExplainer()
    window = make_window(explainer=explainer)
    open_and_explain(qtbot, window, kaggle_folder)
    s = window.session
    ex = s.explanations
    upcoming = [ref.id for ref in s.selection.upcoming(PREFETCH_AHEAD)]
    assert len(upcoming) == PREFETCH_AHEAD
    qtbot.waitUntil(
        lambda: all(ex.key(pid) in ex.cache for pid in upcoming), timeout=15000
    )  # fmt: skip
    assert s.model_worker.prefetching == 0
    asked = len(explainer.calls)
    s.select_position(1)  # the next patch: its map is there before any event is processed
    assert s.current_id == upcoming[0]
    assert s.explanation is not None and s.explanation.map is not None
    assert ex.cache.get(ex.key(upcoming[0])) is s.explanation  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: ex.key(s.selection.upcoming(3)[-1].id) in ex.cache, timeout=15000)
    assert len(explainer.calls) == asked + 1  # only the one new patch further on
    # Another layer is another map: nothing cached is shown for it.
    s.view.update(layer="stem")
    assert s.explanation is None
    with qtbot.waitSignal(ex.explanation_changed, timeout=15000, check_params_cb=bool):
        pass
    assert s.explanation is not None and s.explanation.layer == "stem"


def test_a_region_at_the_edge_is_not_outlined_along_the_edge() -> None:
    heat = gaussian(0, 48, 12)  # centred on the left edge
    (line,) = iso_contours(heat, levels=(0.5,))
    runs = line.runs(96, 96)
    assert len(runs) == 1  # one open arc into the patch and back
    arc = runs[0]
    assert arc[:, 0].max() > 12 and not np.all(arc[:, 0] < 0.25)
    inner = arc[1:-1]
    assert (inner[:, 0] > 0.25).all()  # no point of the drawn arc but its ends on the edge
    (inside,) = iso_contours(gaussian(48, 48, 10), levels=(0.5,))
    (closed,) = inside.runs(96, 96)
    assert np.array_equal(closed[0], closed[-1])  # a line clear of the edge stays closed
