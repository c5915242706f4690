"""What the patch panel shows about the selected patch, formatted without Qt.

:func:`format_patch_facts` is a pure function of the patch's row in the table, what loading
its file yielded and its explanation; the panel only sets the strings it returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pathview.explain import Explanation
from pathview.explain.names import explanation_label
from pathview.io import PatchInfo
from pathview.triage import ReviewCode

_VERDICT_TEXT = {
    ReviewCode.UNREVIEWED: "unreviewed",
    ReviewCode.AGREE: "agreed",
    ReviewCode.DISAGREE: "disagreed",
    ReviewCode.UNSURE: "unsure",
}


@dataclass(frozen=True)
class PatchFacts:
    """Everything the panel shows about one patch, already formatted."""

    name: str = "—"
    probability: str = "—"
    p_value: float | None = None
    centre_focus: str = "—"
    truth: str = "—"
    review: str = "—"
    file: str = "—"
    integrity: str = "—"
    explanation: str = "—"
    #: The explanation's technical names (method key, layer module), for a tooltip.
    explanation_tip: str = ""
    quality: str = "—"  # measured values against thresholds (ui/quality_facts.py)
    duplicates: str = "—"


@dataclass(frozen=True)
class PatchRow:
    """One row of the patch table, as the facts need it (NaN: not scored, truth -1: unknown)."""

    relpath: str
    p: float
    spread: float
    truth: int
    review: int  # a ReviewCode value


def format_patch_facts(
    row: PatchRow | None,
    info: PatchInfo | None,
    explanation: Explanation | None,
    *,
    has_model: bool,
    heatmap_enabled: bool,
    method_names: Mapping[str, str] | None = None,
    layer_names: Mapping[str, str] | None = None,
) -> PatchFacts:
    """The panel's read-outs for ``row`` (None: nothing selected, all dashes).

    ``info`` None means the file is still loading; ``explanation`` None means there is no
    heat map yet (hidden, no model, or computing); ``method_names`` and ``layer_names`` map
    explanation method keys and layer module names to the names shown.
    """
    if row is None:
        return PatchFacts()
    p = row.p
    if math.isnan(p):
        prob = "not scored" if has_model else "no model"
    else:
        prob = f"{p:.3f}"
        if not math.isnan(row.spread):
            prob += f" ± {row.spread:.3f} (TTA spread)"
        prob += "  → tumour" if p >= 0.5 else "  → normal"
    truth = "unknown" if row.truth < 0 else ("1 (tumour)" if row.truth else "0 (normal)")
    if info is None:
        size, integrity = "loading…", "loading…"
    else:
        px = "unreadable" if info.size is None else f"{info.size[0]} × {info.size[1]} px"
        nbytes = "" if info.file_size is None else f", {info.file_size:,} bytes"
        size = px + nbytes
        integrity = info.integrity.value
        if info.reason:
            integrity += f" — {info.reason}"
    text, focus = _explanation_text(
        explanation, has_model, heatmap_enabled, method_names or {}, layer_names or {}
    )
    tip = "" if explanation is None else f"method {explanation.method}, layer {explanation.layer}"
    return PatchFacts(
        name=row.relpath,
        probability=prob,
        p_value=None if math.isnan(p) else p,
        centre_focus=focus,
        truth=truth,
        review=_VERDICT_TEXT[ReviewCode(row.review)],
        file=size,
        integrity=integrity,
        explanation=text,
        explanation_tip=tip,
    )


def _explanation_text(
    expl: Explanation | None,
    has_model: bool,
    heatmap_enabled: bool,
    method_names: Mapping[str, str],
    layer_names: Mapping[str, str],
) -> tuple[str, str]:
    if expl is None:
        if not heatmap_enabled:
            return "hidden", "—"
        return ("computing…" if has_model else "no model"), "—"
    text = explanation_label(
        method_names.get(expl.method, expl.method), layer_names.get(expl.layer, expl.layer)
    )
    if expl.map is None:
        text += f": {expl.status} ({expl.reason})"
    focus = "—"
    if expl.centre_focus is not None:
        focus = f"{expl.centre_focus:.0%} of the map inside the centre box"
    return text, focus
