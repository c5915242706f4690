"""Where a review of a folder was left: the state that comes back when the folder is opened
again (the last patch, the sort, the filter, the histogram's and the scoring's modes).

Stored as one small JSON object per folder (the app keeps it in its settings, keyed by
:func:`folder_key`). Reading is forgiving: a value it does not know (a sort key of a newer
version, a damaged entry) falls back to its default, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pathview.triage.ordering import FilterSpec, ReviewFilter, SortKey

HISTOGRAM_GROUPINGS = ("verdict", "truth")


@dataclass(frozen=True)
class FolderResume:
    """The work state of one folder.

    ``patch_id``: the patch shown last (None: the first tile); ``sort`` and ``filter``: the
    grid's order; ``histogram``: "verdict" or "truth"; ``histogram_log``: a log count axis;
    ``tta``: the folder was last scored with TTA (opening it scores with TTA again, which the
    score cache answers).
    """

    patch_id: str | None = None
    sort: SortKey = SortKey.NAME
    filter: FilterSpec = field(default_factory=FilterSpec)
    histogram: str = "verdict"
    histogram_log: bool = False
    tta: bool = False

    def to_json(self) -> str:
        """The state as one JSON object."""
        data = asdict(self)
        data["sort"] = self.sort.value
        data["filter"]["review"] = self.filter.review.value
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FolderResume:
        """The state of :meth:`to_json`; unknown or damaged values take their defaults."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        default = cls()
        patch = data.get("patch_id")
        grouping = data.get("histogram")
        return cls(
            patch_id=patch if isinstance(patch, str) and patch else None,
            sort=_enum(SortKey, data.get("sort"), default.sort),
            filter=_filter(data.get("filter")),
            histogram=grouping if grouping in HISTOGRAM_GROUPINGS else default.histogram,
            histogram_log=_bool(data.get("histogram_log"), default.histogram_log),
            tta=_bool(data.get("tta"), default.tta),
        )


def folder_key(folder: str | os.PathLike[str]) -> str:
    """A short stable key of a folder: the SHA-1 of its resolved path (16 hex digits)."""
    resolved = str(Path(folder).expanduser().resolve())
    return hashlib.sha1(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _enum(kind: Any, value: object, default: Any) -> Any:
    try:
        return kind(value)
    except ValueError:
        return default


def _bool(value: object, default: bool) -> bool:
    return value if isinstance(value, bool) else default


def _unit(value: object, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return min(1.0, max(0.0, float(value)))


def _filter(data: object) -> FilterSpec:
    if not isinstance(data, dict):
        return FilterSpec()
    default = FilterSpec()
    truth = data.get("truth")
    p_min = _unit(data.get("p_min"), default.p_min)
    p_max = _unit(data.get("p_max"), default.p_max)
    return FilterSpec(
        review=_enum(ReviewFilter, data.get("review"), default.review),
        disagreements_only=_bool(data.get("disagreements_only"), default.disagreements_only),
        p_min=min(p_min, p_max),
        p_max=max(p_min, p_max),
        truth=truth if truth in (0, 1) and not isinstance(truth, bool) else None,
    )


__all__ = ["HISTOGRAM_GROUPINGS", "FolderResume", "folder_key"]
