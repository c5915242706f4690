"""Triage state without Qt: the patch table, sort keys, filters, review counts and caches.

Everything the grid, the status bar and the histogram show is computed here from plain
columns, so it is testable without a screen and fast on 220,025 rows (numpy for the sorts
and masks, no per-row Python callbacks from Qt).
"""

from __future__ import annotations

import enum
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import numpy as np

from pathview.core import NATIVE_SIZE, CancelToken, PatchRef, Verdict
from pathview.io import check_integrity, pixel_sha1, read_patch
from pathview.io.integrity import Integrity
from pathview.pipeline.evaluation import N_VIEWS, instability

K = TypeVar("K")
V = TypeVar("V")


class ReviewCode(enum.IntEnum):
    """Review state of one patch as a small integer (one byte per row in the table)."""

    UNREVIEWED = 0
    AGREE = 1
    DISAGREE = 2
    UNSURE = 3

    @classmethod
    def from_verdict(cls, verdict: Verdict | str | None) -> ReviewCode:
        if verdict is None:
            return cls.UNREVIEWED
        return {"agree": cls.AGREE, "disagree": cls.DISAGREE, "unsure": cls.UNSURE}[
            Verdict(verdict).value
        ]


class FileStatus(enum.IntEnum):
    """What decoding a file taught us; UNKNOWN until its thumbnail or score was loaded."""

    UNKNOWN = 0
    OK = 1
    ODD_SIZE = 2  # decodes, but is not 96 x 96
    ALTERED = 3  # named like a Kaggle id, pixels do not hash to it
    UNREADABLE = 4


class SortKey(str, enum.Enum):
    """Orders the grid offers; every order breaks ties by name."""

    NAME = "name"
    P_TUMOUR = "P(tumour), highest first"
    UNCERTAINTY = "uncertainty (closest to 0.5)"
    TTA_SPREAD = "TTA spread, largest first"
    DISAGREEMENT = "model vs truth disagreement"
    UNSTABLE = "unstable under flips/rotations"


#: Sort keys that need per-view scores (scoring with TTA); without them they sort nothing.
NEEDS_TTA: frozenset[SortKey] = frozenset({SortKey.UNSTABLE})


class ReviewFilter(str, enum.Enum):
    ALL = "all"
    UNREVIEWED = "unreviewed"
    REVIEWED = "reviewed"


@dataclass(frozen=True)
class FilterSpec:
    """Which rows the grid shows. Defaults show everything."""

    review: ReviewFilter = ReviewFilter.ALL
    disagreements_only: bool = False
    p_min: float = 0.0
    p_max: float = 1.0
    truth: int | None = None  # 0 or 1 keeps rows with that ground truth

    @property
    def p_range_active(self) -> bool:
        return self.p_min > 0.0 or self.p_max < 1.0


@dataclass(frozen=True)
class PatchInfo:
    """What loading one file yields: pixels (or the reason there are none) and its checks."""

    patch_id: str
    pixels: np.ndarray | None
    error: str | None
    integrity: Integrity
    sha1: str | None
    file_size: int | None
    size: tuple[int, int] | None

    @property
    def status(self) -> FileStatus:
        if self.pixels is None:
            return FileStatus.UNREADABLE
        if self.integrity is Integrity.ALTERED:
            return FileStatus.ALTERED
        if self.size != (NATIVE_SIZE, NATIVE_SIZE):
            return FileStatus.ODD_SIZE
        return FileStatus.OK

    @property
    def reason(self) -> str:
        """A short human reason for a non-OK status (empty when OK)."""
        status = self.status
        if status is FileStatus.UNREADABLE:
            return self.error or "unreadable"
        if status is FileStatus.ALTERED:
            return "pixels do not match the Kaggle id (altered or re-encoded)"
        if status is FileStatus.ODD_SIZE and self.size is not None:
            return f"{self.size[0]} x {self.size[1]} px, not 96 x 96"
        return ""


def load_patch_info(root: Path, ref: PatchRef) -> PatchInfo:
    """Decode one patch and run its integrity check. Never raises for a bad file."""
    path = ref.path(root)
    decoded = read_patch(path)
    try:
        file_size: int | None = os.stat(path).st_size
    except OSError:
        file_size = None
    pixels = decoded.pixels
    return PatchInfo(
        patch_id=ref.id,
        pixels=pixels,
        error=None if decoded.error is None else str(decoded.error),
        integrity=check_integrity(ref.id, pixels),
        sha1=None if pixels is None else pixel_sha1(pixels),
        file_size=file_size,
        size=decoded.size,
    )


class RefSequence(Sequence[PatchRef]):
    """Patches of a table in a given row order, made into PatchRefs only when read.

    Scoring a 220,025-patch folder starts with the whole folder in grid order; building that
    many PatchRef objects at once took the GUI thread about 100 ms. This holds a snapshot of
    the ids and paths and an index array instead (cheap to make, safe to read from another
    thread while the table grows).
    """

    def __init__(self, ids: Sequence[str], relpaths: Sequence[str], order: np.ndarray) -> None:
        self._ids = list(ids)
        self._relpaths = list(relpaths)
        self._order = np.asarray(order, dtype=np.int64)

    def __len__(self) -> int:
        return int(self._order.size)

    def columns(self, start: int = 0, stop: int | None = None) -> tuple[list[str], list[str]]:
        """The ids and relative paths of positions ``start:stop``, as two lists."""
        rows = self._order[start:stop].tolist()
        return [self._ids[r] for r in rows], [self._relpaths[r] for r in rows]

    def __getitem__(self, index: int | slice) -> PatchRef | list[PatchRef]:  # type: ignore[override]
        if isinstance(index, slice):
            return [PatchRef(self._ids[r], self._relpaths[r]) for r in self._order[index].tolist()]
        r = int(self._order[index])
        return PatchRef(self._ids[r], self._relpaths[r])


_UNREVIEWED = int(ReviewCode.UNREVIEWED)
_UNKNOWN = int(FileStatus.UNKNOWN)


class PatchTable:
    """Column store of every patch in the open folder (one entry per file, listing order).

    Rows are addressed by their index, which never changes once a row is appended; views
    keep lists of row indices (see ``ordered_rows``).
    """

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.relpaths: list[str] = []
        self.p: list[float] = []  # NaN when not scored
        self.spread: list[float] = []  # NaN when scored without TTA
        # P(tumour) of each of the 8 flips/rotations (rows x 8, NaN without TTA); allocated
        # when the first TTA scores arrive, so plain scoring costs nothing.
        self._views: np.ndarray | None = None
        self.truth: list[int] = []  # -1 unknown, else 0/1
        # Plain ints, not the enum members: numpy converts a list of ints about 4x faster,
        # which a 220,025-row histogram refresh feels.
        self.review: list[int] = []  # ReviewCode values
        self.status: list[int] = []  # FileStatus values
        self.reasons: dict[int, str] = {}
        self._row_of: dict[str, int] = {}
        self._name_rank: np.ndarray | None = None
        self._pending_truth: dict[str, int] = {}
        self._pending_review: dict[str, int] = {}
        # numpy copies of p, spread, truth and review, kept in step by every setter (capacity
        # grows geometrically): sorting, filtering and the histogram read them without
        # converting 220,025-element lists on every refresh.
        self._np_p = np.zeros(0, np.float64)
        self._np_spread = np.zeros(0, np.float64)
        self._np_truth = np.zeros(0, np.int8)
        self._np_review = np.zeros(0, np.int8)

    def _grow_columns(self, n: int) -> None:
        cap = len(self._np_p)
        if n <= cap:
            return
        cap = max(n, 2 * cap, 1024)
        for name, fill in (
            ("_np_p", np.nan),
            ("_np_spread", np.nan),
            ("_np_truth", -1),
            ("_np_review", 0),
        ):
            old = getattr(self, name)
            new = np.full(cap, fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, patch_id: str) -> int | None:
        return self._row_of.get(patch_id)

    def ref(self, row: int) -> PatchRef:
        return PatchRef(self.ids[row], self.relpaths[row])

    def refs_in_order(self, first: Sequence[int]) -> RefSequence:
        """Every patch, the rows ``first`` in their order, then the others by row."""
        order = np.asarray(first, dtype=np.int64)
        rest = np.ones(len(self.ids), dtype=bool)
        rest[order] = False
        return RefSequence(self.ids, self.relpaths, np.concatenate([order, np.flatnonzero(rest)]))

    def extend(self, refs: Sequence[PatchRef]) -> range:
        """Append newly listed patches; known truth and reviews apply to them at once."""
        start = len(self.ids)
        for ref in refs:
            if ref.id in self._row_of:
                continue  # same id twice (e.g. a.tif and a.png): the first one wins
            self._row_of[ref.id] = len(self.ids)
            self.ids.append(ref.id)
            self.relpaths.append(ref.relpath)
            self.p.append(math.nan)
            self.spread.append(math.nan)
            self.truth.append(self._pending_truth.get(ref.id, -1))
            self.review.append(self._pending_review.get(ref.id, _UNREVIEWED))
            self.status.append(_UNKNOWN)
        self._name_rank = None
        n = len(self.ids)
        self._grow_columns(n)
        self._np_p[start:n] = np.nan
        self._np_spread[start:n] = np.nan
        self._np_truth[start:n] = self.truth[start:n]
        self._np_review[start:n] = self.review[start:n]
        return range(start, n)

    def set_truth(self, labels: Mapping[str, int]) -> list[int]:
        """Ground truth by id; also remembered for rows that are listed later."""
        self._pending_truth = dict(labels)
        changed = []
        for row, pid in enumerate(self.ids):
            value = labels.get(pid, -1)
            if self.truth[row] != value:
                self.truth[row] = value
                changed.append(row)
        self._np_truth[: len(self.ids)] = self.truth
        return changed

    @property
    def truth_labels(self) -> Mapping[str, int]:
        """The ground truth loaded (id -> 0/1), including ids not listed (yet). Replaced, never
        changed in place, by ``set_truth``: a snapshot can be read on another thread."""
        return self._pending_truth

    def set_reviews(self, verdicts: Mapping[str, Verdict | str | None]) -> list[int]:
        """Replace every review state (e.g. from the store on open); returns changed rows."""
        self._pending_review = {k: int(ReviewCode.from_verdict(v)) for k, v in verdicts.items()}
        changed = []
        for row, pid in enumerate(self.ids):
            code = self._pending_review.get(pid, _UNREVIEWED)
            if self.review[row] != code:
                self.review[row] = code
                changed.append(row)
        self._np_review[: len(self.ids)] = self.review
        return changed

    def set_review(self, patch_id: str, verdict: Verdict | str | None) -> int | None:
        code = int(ReviewCode.from_verdict(verdict))
        self._pending_review[patch_id] = code
        row = self._row_of.get(patch_id)
        if row is not None:
            self.review[row] = code
            self._np_review[row] = code
        return row

    def set_scores(
        self,
        ids: Sequence[str],
        p: Sequence[float],
        spread: Sequence[float] | None = None,
        views: np.ndarray | None = None,
    ) -> list[int]:
        """Scores by id (ids not listed are ignored); returns the changed rows.

        ``spread`` and ``views`` (len(ids) x 8 per-view P(tumour)) come with TTA scores;
        without them the rows' old spread and views are cleared.
        """
        rows = []
        picked = []
        for i, pid in enumerate(ids):
            row = self._row_of.get(pid)
            if row is None:
                continue
            self.p[row] = float(p[i])
            self.spread[row] = math.nan if spread is None else float(spread[i])
            rows.append(row)
            picked.append(i)
        if rows:
            at = np.asarray(rows, np.int64)
            self._np_p[at] = [self.p[r] for r in rows]
            self._np_spread[at] = [self.spread[r] for r in rows]
        if views is not None:
            v = np.asarray(views, dtype=np.float32)
            if v.shape != (len(ids), N_VIEWS):
                raise ValueError(f"views must be {len(ids)} x {N_VIEWS}, got {v.shape}")
            self._grow_views()[np.asarray(rows, np.int64)] = v[np.asarray(picked, np.int64)]
        elif self._views is not None and rows:
            self._views[np.asarray(rows, np.int64)] = np.nan
        return rows

    def _grow_views(self) -> np.ndarray:
        n = len(self.ids)
        if self._views is None or len(self._views) < n:
            grown = np.full((n, N_VIEWS), np.nan, dtype=np.float32)
            if self._views is not None:
                grown[: len(self._views)] = self._views
            self._views = grown
        return self._views

    def views(self) -> np.ndarray | None:
        """Per-view P(tumour), rows x 8 (NaN rows: no TTA score); None when no row has any."""
        if self._views is None:
            return None
        n = len(self.ids)
        if len(self._views) < n:
            return self._grow_views()
        return self._views[:n]

    @property
    def has_views(self) -> bool:
        """Whether any row has per-view (TTA) scores."""
        v = self.views()
        return v is not None and bool((~np.isnan(v[:, 0])).any())

    def set_status(self, row: int, status: FileStatus, reason: str = "") -> bool:
        """Record what decoding found; returns True when the row changed."""
        old = self.status[row]
        self.status[row] = int(status)
        if reason:
            self.reasons[row] = reason
        else:
            self.reasons.pop(row, None)
        return old != status

    def clear_scores(self) -> None:
        n = len(self.ids)
        self.p = [math.nan] * n
        self.spread = [math.nan] * n
        self._np_p[:] = np.nan
        self._np_spread[:] = np.nan
        self._views = None

    # --- derived columns ------------------------------------------------------------------
    def name_rank(self) -> np.ndarray:
        """Rank of every row by (id, relpath); cached until rows are appended."""
        if self._name_rank is None or len(self._name_rank) != len(self.ids):
            order = sorted(range(len(self.ids)), key=self.ids.__getitem__)
            rank = np.empty(len(order), dtype=np.int64)
            rank[np.asarray(order, dtype=np.int64)] = np.arange(len(order), dtype=np.int64)
            self._name_rank = rank
        return self._name_rank

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(p, spread, truth, review) as read-only numpy arrays (views: valid until the table
        changes; copy them to keep them)."""
        n = len(self.ids)
        out = []
        for column in (self._np_p, self._np_spread, self._np_truth, self._np_review):
            view = column[:n]
            view.flags.writeable = False
            out.append(view)
        return out[0], out[1], out[2], out[3]


def disagreement_mask(p: np.ndarray, truth: np.ndarray, review: np.ndarray) -> np.ndarray:
    """Rows where the model's call (P >= 0.5) differs from the ground truth, or the reviewer
    disagreed with the model."""
    with np.errstate(invalid="ignore"):
        call = (p >= 0.5).astype(np.int8)
    model_vs_truth = (truth >= 0) & ~np.isnan(p) & (call != truth)
    return model_vs_truth | (review == ReviewCode.DISAGREE)


Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def sort_values(
    table: PatchTable, key: SortKey, threshold: float = 0.5, columns: Columns | None = None
) -> np.ndarray:
    """Per-row sort value, ascending sorts first; NaN (no value) sorts last.

    ``threshold`` is the call threshold of ``SortKey.UNSTABLE``: the number of the 8
    flips/rotations whose call differs from the majority (see
    :func:`pathview.pipeline.evaluation.instability`), least stable first. Rows scored
    without TTA have no value.
    """
    key = SortKey(key)
    if key is SortKey.UNSTABLE:
        values = np.full(len(table), np.nan)
        views = table.views()
        if views is not None:
            known = ~np.isnan(views).any(axis=1)
            values[known] = -instability(views[known], threshold)
        return values
    if key is SortKey.NAME:
        return np.zeros(len(table), dtype=np.float64)
    p, spread, truth, _ = columns or table.arrays()
    if key is SortKey.P_TUMOUR:
        return -p
    if key is SortKey.UNCERTAINTY:
        return np.abs(p - 0.5)
    if key is SortKey.TTA_SPREAD:
        return -spread
    if key is SortKey.DISAGREEMENT:
        values = np.full(len(table), np.nan)
        known = truth >= 0
        values[known] = -np.abs(p[known] - truth[known])
        return values
    raise ValueError(key)


def filter_mask(table: PatchTable, spec: FilterSpec, columns: Columns | None = None) -> np.ndarray:
    """Boolean mask of the rows ``spec`` keeps (``columns``: ``table.arrays()`` if known)."""
    mask = np.ones(len(table), dtype=bool)
    if spec == FilterSpec():
        return mask
    p, _, truth, review = columns or table.arrays()
    review_filter = ReviewFilter(spec.review)
    if review_filter is ReviewFilter.UNREVIEWED:
        mask &= review == ReviewCode.UNREVIEWED
    elif review_filter is ReviewFilter.REVIEWED:
        mask &= review != ReviewCode.UNREVIEWED
    if spec.disagreements_only:
        mask &= disagreement_mask(p, truth, review)
    if spec.p_range_active:
        with np.errstate(invalid="ignore"):
            mask &= (p >= spec.p_min) & (p <= spec.p_max)
    if spec.truth is not None:
        mask &= truth == spec.truth
    return mask


def ordered_rows(
    table: PatchTable, key: SortKey, spec: FilterSpec, threshold: float = 0.5
) -> list[int]:
    """Row indices the grid shows, in order: filtered by ``spec``, sorted by ``key`` (at
    ``threshold`` for ``SortKey.UNSTABLE``), ties (and rows without a value, which go last)
    by name."""
    if len(table) == 0:
        return []
    key = SortKey(key)
    # The columns once for both (converting a 220,025-row table's lists takes ~35 ms).
    needs_columns = key not in (SortKey.NAME, SortKey.UNSTABLE) or spec != FilterSpec()
    columns = table.arrays() if needs_columns else None
    values = sort_values(table, key, threshold, columns)
    missing = np.isnan(values)
    if key is SortKey.NAME:
        rank = table.name_rank()  # a permutation: its inverse is the name order
        rows = np.empty_like(rank)
        rows[rank] = np.arange(len(rank), dtype=rank.dtype)
    else:
        values = np.where(missing, 0.0, values)
        rows = np.lexsort((table.name_rank(), values, missing))
    keep = filter_mask(table, spec, columns)
    return rows[keep[rows]].tolist()


def next_unreviewed(order: Sequence[int], position: int, review: Sequence[int]) -> int | None:
    """Position in ``order`` of the next unreviewed row after ``position`` (wrapping round);
    None when every row in ``order`` is reviewed."""
    n = len(order)
    for step in range(1, n + 1):
        pos = (position + step) % n
        if review[order[pos]] == ReviewCode.UNREVIEWED:
            return pos
    return None


@dataclass(frozen=True)
class ReviewCounts:
    total: int
    reviewed: int
    agree: int
    disagree: int
    unsure: int

    @property
    def agreement_rate(self) -> float | None:
        decided = self.agree + self.disagree
        return None if decided == 0 else self.agree / decided

    def summary(self) -> str:
        rate = self.agreement_rate
        rate_text = "agreement n/a" if rate is None else f"agreement {rate:.0%}"
        return (
            f"reviewed {self.reviewed:,} / {self.total:,} · {rate_text} "
            f"({self.agree:,} agree, {self.disagree:,} disagree, {self.unsure:,} unsure)"
        )


def review_counts(table: PatchTable) -> ReviewCounts:
    review = table.arrays()[3]
    agree = int(np.count_nonzero(review == ReviewCode.AGREE))
    disagree = int(np.count_nonzero(review == ReviewCode.DISAGREE))
    unsure = int(np.count_nonzero(review == ReviewCode.UNSURE))
    return ReviewCounts(len(table), agree + disagree + unsure, agree, disagree, unsure)


@dataclass
class Histogram:
    """Counts of P(tumour) per bin, split by a category (verdict or truth)."""

    edges: np.ndarray
    counts: dict[str, np.ndarray] = field(default_factory=dict)


def histogram_by(table: PatchTable, by: str = "verdict", bins: int = 20) -> Histogram:
    """Histogram of P(tumour) over scored rows, split by review verdict or by ground truth."""
    p, _, truth, review = table.arrays()
    edges = np.linspace(0.0, 1.0, bins + 1)
    scored = ~np.isnan(p)
    if by == "verdict":
        groups = {
            "unreviewed": review == ReviewCode.UNREVIEWED,
            "agree": review == ReviewCode.AGREE,
            "disagree": review == ReviewCode.DISAGREE,
            "unsure": review == ReviewCode.UNSURE,
        }
    elif by == "truth":
        groups = {"truth unknown": truth < 0, "truth 0": truth == 0, "truth 1": truth == 1}
    else:
        raise ValueError(f"unknown grouping {by!r}")
    hist = Histogram(edges)
    for name, mask in groups.items():
        hist.counts[name], _ = np.histogram(p[scored & mask], bins=edges)
    return hist


class LruCache(Generic[K, V]):
    """A bounded least-recently-used mapping."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        try:
            value = self._items[key]
        except KeyError:
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


class DwellClock:
    """Time spent on the current patch, for the review record. ``now`` is injectable."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._patch: str | None = None
        self._since = now()

    def start(self, patch_id: str | None) -> None:
        if patch_id != self._patch:
            self._patch = patch_id
            self._since = self._now()

    def restart(self) -> None:
        self._since = self._now()

    def seconds(self) -> float:
        return max(0.0, self._now() - self._since)


# --- scoring ----------------------------------------------------------------------------


class Predictor(Protocol):
    """What scoring needs of a classifier (pathview.model.Classifier fits)."""

    def predict(self, pixels: np.ndarray, tta: bool = False) -> object: ...


@dataclass(frozen=True)
class ScoreBatch:
    """Scores for one batch of patches, plus those that could not be scored and why.

    With TTA, ``spread`` and (when the classifier gives them, as
    :class:`pathview.model.Classifier` does) ``views``: float32 len(ids) x 8 per-view
    P(tumour), rows aligned with ``ids``.
    """

    ids: list[str]
    p: list[float]
    spread: list[float] | None
    failed: dict[str, str]
    done: int
    total: int
    views: np.ndarray | None = None


def iter_score_batches(
    root: Path,
    refs: Sequence[PatchRef],
    classifier: Predictor,
    tta: bool = False,
    batch_size: int = 128,
    cancel: CancelToken | None = None,
) -> Iterator[ScoreBatch]:
    """Score ``refs`` batch by batch; a caller can stop between batches (the model thread
    interleaves Grad-CAM requests this way). Unreadable files are reported, not raised."""
    total = len(refs)
    done = 0
    for start in range(0, total, batch_size):
        if cancel is not None:
            cancel.raise_if_cancelled()
        chunk = refs[start : start + batch_size]
        by_size: dict[tuple[int, ...], list[tuple[str, np.ndarray]]] = {}
        failed: dict[str, str] = {}
        for ref in chunk:
            decoded = read_patch(ref.path(root))
            if decoded.pixels is None:
                failed[ref.id] = str(decoded.error)
            else:
                by_size.setdefault(decoded.pixels.shape, []).append((ref.id, decoded.pixels))
        ids: list[str] = []
        ps: list[float] = []
        spreads: list[float] = []
        views: list[np.ndarray | None] = []
        for items in by_size.values():
            stack = np.stack([px for _, px in items])
            pred = classifier.predict(stack, tta=tta)
            p_arr = np.asarray(pred.p, dtype=np.float64).reshape(-1)  # type: ignore[attr-defined]
            spread = getattr(pred, "spread", None)
            s_arr = (
                np.full(len(items), np.nan)
                if spread is None
                else np.asarray(spread, dtype=np.float64).reshape(-1)
            )
            view_p = getattr(pred, "views", None)
            views.append(None if view_p is None else np.asarray(view_p, np.float32))
            ids.extend(pid for pid, _ in items)
            ps.extend(p_arr.tolist())
            spreads.extend(s_arr.tolist())
        done += len(chunk)
        all_views = None
        if tta and views and all(v is not None for v in views):
            all_views = np.concatenate([v for v in views if v is not None]).reshape(-1, N_VIEWS)
        yield ScoreBatch(ids, ps, spreads if tta else None, failed, done, total, all_views)
