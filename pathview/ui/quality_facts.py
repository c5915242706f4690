"""What the patch panel and the tiles say about a patch's quality and duplicates, formatted
without Qt: the measured values against their thresholds, the duplicate group, the marks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pathview.quality import THRESHOLDS
from pathview.triage import GroupConflict, InsightColumns

#: One letter per flag on a tile (the tooltip and the panel spell them out).
FLAG_MARKS: dict[str, str] = {
    "blank": "B",
    "dark": "D",
    "saturated": "S",
    "ink": "I",
    "blurred": "F",  # out of focus
}
#: The tile mark of a patch in a duplicate group.
DUPLICATE_MARK = "="

_DECIMALS = {
    "tissue_fraction": 2,
    "brightness": 0,
    "saturation": 0,
    "ink_fraction": 3,
    "sharpness": 0,
}


def quality_marks(flags: Sequence[str], duplicate: bool) -> str:
    """The tile's marks: one letter per raised flag (:data:`FLAG_MARKS`), then ``=`` for a
    duplicate; "" when there is nothing to mark."""
    return "".join(FLAG_MARKS[f] for f in flags if f in FLAG_MARKS) + (
        DUPLICATE_MARK if duplicate else ""
    )


#: Short names of the measures in the panel's one-line summary.
SHORT_NAMES = {
    "tissue_fraction": "tissue",
    "brightness": "brightness",
    "saturation": "saturation",
    "ink_fraction": "ink",
    "sharpness": "sharpness",
}


def format_quality(measures: Mapping[str, float] | None) -> str:
    """A line per raised flag with the measured value against its threshold
    ("⚠ blurred: sharpness 212 < 400"), then every measured value on one line; "not measured
    yet" without measures."""
    if measures is None:
        return "not measured yet"
    lines = []
    for t in THRESHOLDS:
        value = measures[t.measure]
        if bool(t.raised(np.array([value]))[0]):
            sign = "<" if t.below else ">"
            shown = f"{value:,.{_DECIMALS.get(t.measure, 2)}f}"
            lines.append(f"⚠ {t.flag}: {SHORT_NAMES[t.measure]} {shown} {sign} {t.value:g}")
    if not lines:
        lines.append("no flag")
    values = [
        f"{SHORT_NAMES[t.measure]} {measures[t.measure]:,.{_DECIMALS.get(t.measure, 2)}f}"
        for t in THRESHOLDS
    ]
    lines.append(" · ".join(values[:3]))  # two short lines fit the panel's width
    lines.append(" · ".join(values[3:]))
    return "\n".join(lines)


def format_duplicates(
    exact: int, near: int, members: int, conflict: GroupConflict | None = None
) -> str:
    """The duplicate group of a patch: "none", or its group numbers, how many patches share
    it and, where they conflict, why."""
    if not exact and not near:
        return "none"
    parts = []
    if near:
        parts.append(f"near-duplicate group {near}")
    if exact:
        parts.append(f"exact copy group {exact}")
    text = ", ".join(parts) + f" ({members} patches)"
    if conflict is not None:
        why = [
            w
            for w, on in (
                ("reviews disagree", conflict.reviews),
                ("the labels CSV has both classes", conflict.truth),
            )
            if on
        ]
        text += "\n⚠ " + "; ".join(why)
    return text


def patch_quality_texts(
    insight: InsightColumns, row: int, n: int, conflicts: Sequence[GroupConflict] = ()
) -> tuple[str, str]:
    """(quality, duplicates) panel texts of table row ``row`` of a table of ``n`` rows."""
    exact, near = insight.group_of(row)
    members = len(insight.group_members(row, n)) if exact or near else 1
    conflict = next((c for c in conflicts if row in c.rows), None)
    return format_quality(insight.measures_of(row)), format_duplicates(
        exact, near, members, conflict
    )
