"""Grad-CAM explanations and overlay maths for the one-logit tumour classifier (no Qt).

The GUI calls :func:`explain_patch` (or :func:`explain_batch`) on the model thread and
draws ``overlay_rgba(explanation.map, opacity)`` only when ``explanation.ok``.
"""

from pathview.explain.cam import (
    DEFAULT_METHOD,
    METHODS,
    ExplainableClassifier,
    ExplainStatus,
    Explanation,
    LogitTarget,
    cam_layer_choices,
    default_cam_layer,
    explain_batch,
    explain_patch,
    explain_tensor,
    model_lock,
    preload,
    probe_layer_sides,
)
from pathview.explain.maps import centre_focus, check_raw_map, normalise_map
from pathview.explain.overlay import (
    COLORMAPS,
    DEFAULT_COLORMAP,
    blend,
    colormap_lut,
    overlay_rgba,
)

__all__ = [
    "COLORMAPS",
    "DEFAULT_COLORMAP",
    "DEFAULT_METHOD",
    "METHODS",
    "ExplainStatus",
    "ExplainableClassifier",
    "Explanation",
    "LogitTarget",
    "blend",
    "cam_layer_choices",
    "centre_focus",
    "check_raw_map",
    "colormap_lut",
    "default_cam_layer",
    "explain_batch",
    "explain_patch",
    "explain_tensor",
    "model_lock",
    "normalise_map",
    "overlay_rgba",
    "preload",
    "probe_layer_sides",
]
