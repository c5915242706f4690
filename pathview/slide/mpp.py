"""A slide's microns per pixel where OpenSlide has none: TIFF resolution tags and recorded
answers.

The TIFF tags are read from the first page (level 0): ``XResolution``/``YResolution`` in
pixels per ``ResolutionUnit`` (2 = inch, 3 = centimetre). A resolution without a unit (1 =
none, what many writers leave by default) says nothing about size and is not used.

When a slide records no size at all the app asks the user once; the answer is recorded in
``.pathview/slides.json`` in the slide's folder (beside the folder's review store), keyed by
the slide's file name together with its size in bytes, so a different file saved under the
same name is asked about again. Nothing here ever guesses from the objective power.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from pathview.core.files import atomic_text_writer

#: The folder beside the slides where answers are recorded (the review store's folder).
ANSWERS_DIR = ".pathview"
ANSWERS_FILE = "slides.json"
#: Microns in one unit of TIFF's ResolutionUnit.
_UNIT_MICRONS = {2: 25_400.0, 3: 10_000.0}


def tiff_resolution_mpp(path: Path) -> float | None:
    """Level 0's microns per pixel from the TIFF resolution tags, or None (no tags, no unit,
    not a TIFF)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages[0].tags  # type: ignore[union-attr]
            unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
            x = tags["XResolution"].value if "XResolution" in tags else None
            y = tags["YResolution"].value if "YResolution" in tags else None
    except Exception:  # not a TIFF (OpenSlide's other formats) or unreadable
        return None
    if unit not in _UNIT_MICRONS or x is None or y is None:
        return None
    per_unit = [_ratio(v) for v in (x, y)]
    if any(v is None or v <= 0 for v in per_unit):
        return None
    return sum(_UNIT_MICRONS[unit] / v for v in per_unit if v is not None) / 2


def _ratio(value: Any) -> float | None:
    try:
        if isinstance(value, tuple):
            num, den = value
            return float(num) / float(den) if den else None
        return float(value)
    except (TypeError, ValueError):
        return None


def answers_path(slide: Path) -> Path:
    """Where the answers for the slides of ``slide``'s folder are recorded."""
    return slide.parent / ANSWERS_DIR / ANSWERS_FILE


def _key(slide: Path) -> str:
    return f"{slide.name}|{slide.stat().st_size}"


def _read_answers(path: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    return {}


def recorded_mpp(slide: Path) -> float | None:
    """The microns per pixel the user gave for this slide file, if recorded."""
    try:
        entry = _read_answers(answers_path(slide)).get(_key(slide))
    except OSError:
        return None
    if isinstance(entry, dict):
        value = entry.get("mpp")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


def record_mpp(slide: Path, mpp: float) -> Path:
    """Record the user's answer for ``slide`` (see the module docstring); returns the file.
    Raises ValueError for a value that is not a positive number of microns below 100, and
    OSError when the folder cannot be written."""
    if not 0 < mpp < 100:
        raise ValueError(f"microns per pixel must be between 0 and 100, got {mpp}")
    target = answers_path(slide)
    target.parent.mkdir(exist_ok=True)
    answers = _read_answers(target)
    answers[_key(slide)] = {"mpp": float(mpp), "source": "given by the user"}
    with atomic_text_writer(target) as handle:
        json.dump(answers, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return target
