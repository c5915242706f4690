"""The details CSV of ``pathview score --details``: one row per scored patch with its
P(tumour), quality flags and duplicate groups, beside the Kaggle ``id,label`` file.

Columns, in this fixed order (:func:`details_columns`):

- ``id``: the patch id (a text cell a spreadsheet would run as a formula gets a leading ``'``);
- ``p_tumour``: calibrated P(tumour), 6 decimals;
- ``tta_spread``: the spread of P(tumour) over the 8 flips/rotations, 6 decimals (only with
  TTA);
- per quality flag, in the order of :data:`pathview.quality.THRESHOLDS`, the flag as ``0``/``1``
  and then the value it was decided on: ``blank``, ``tissue_fraction`` (4 decimals); ``dark``,
  ``brightness`` (2); ``saturated``, ``saturation`` (2); ``ink``, ``ink_fraction`` (4);
  ``blurred``, ``sharpness`` (1);
- ``exact_duplicate_group``: patches with the same pixels (pixel SHA-1) share a number
  (1, 2, ... in row order); empty for a patch with no exact copy;
- ``near_duplicate_group``: patches whose perceptual hashes are within
  :data:`pathview.quality.NEAR_DISTANCE` bits under some flip/rotation share a number (exact
  copies included); empty for a patch with none and for a blank patch (see
  :mod:`pathview.quality.duplicates`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from pathview.core.files import atomic_text_writer, csv_cell, spreadsheet_safe
from pathview.quality import THRESHOLDS, PatchQuality

#: Decimals each measure is written with.
MEASURE_DECIMALS: dict[str, int] = {
    "tissue_fraction": 4,
    "brightness": 2,
    "saturation": 2,
    "ink_fraction": 4,
    "sharpness": 1,
}
GROUP_COLUMNS = ("exact_duplicate_group", "near_duplicate_group")


def details_columns(tta: bool = False) -> list[str]:
    """The header of the details CSV (see the module docstring)."""
    columns = ["id", "p_tumour"] + (["tta_spread"] if tta else [])
    for t in THRESHOLDS:
        columns += [t.flag, t.measure]
    return columns + list(GROUP_COLUMNS)


def _group_cell(number: int) -> str:
    return str(number) if number > 0 else ""


def write_details_csv(
    path: str | os.PathLike[str],
    ids: Sequence[str],
    p: Sequence[float] | np.ndarray,
    quality: PatchQuality,
    spread: Sequence[float] | np.ndarray | None = None,
) -> int:
    """Write the details CSV (one row per id, see the module docstring) atomically; with
    ``spread`` (TTA) the ``tta_spread`` column is included. Returns the number of rows."""
    n = len(ids)
    if len(p) != n or len(quality) != n or (spread is not None and len(spread) != n):
        raise ValueError(f"{n} ids but {len(p)} scores and {len(quality)} quality rows")
    flags = quality.measures.flags()
    measured = {t.measure: quality.measures.measure(t.measure).tolist() for t in THRESHOLDS}
    raised = {t.flag: flags[t.flag].tolist() for t in THRESHOLDS}
    exact = quality.exact_groups().tolist()
    near = quality.near_groups().tolist()
    probs = np.asarray(p, dtype=np.float64).tolist()
    spreads = None if spread is None else np.asarray(spread, dtype=np.float64).tolist()
    with atomic_text_writer(path) as handle:
        handle.write(",".join(details_columns(spread is not None)) + "\n")
        for i, pid in enumerate(ids):
            cells = [csv_cell(spreadsheet_safe(pid)), f"{probs[i]:.6f}"]
            if spreads is not None:
                cells.append(f"{spreads[i]:.6f}")
            for t in THRESHOLDS:
                cells.append("1" if raised[t.flag][i] else "0")
                cells.append(f"{measured[t.measure][i]:.{MEASURE_DECIMALS[t.measure]}f}")
            cells += [_group_cell(exact[i]), _group_cell(near[i])]
            handle.write(",".join(cells) + "\n")
    return n
