"""The patch table: every patch of the open folder as plain columns, without Qt.

Everything the grid, the status bar and the histogram show is computed from these columns
(:mod:`pathview.triage.ordering`, :mod:`pathview.triage.summary`), so it is testable without a
screen and fast on 220,025 rows (numpy for the sorts and masks, no per-row Python callbacks
from Qt).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence

import numpy as np

from pathview.core import N_VIEWS, PatchRef, RefSequence, Verdict
from pathview.core.arrays import str_array
from pathview.io import FileStatus
from pathview.triage.insight import InsightColumns


class ReviewCode(enum.IntEnum):
    """Review state of one patch as a small integer (one byte per row in the table)."""

    UNREVIEWED = 0
    AGREE = 1
    DISAGREE = 2
    UNSURE = 3
    LABELLED = 4  # a label given with a label key and no model: no verdict

    @classmethod
    def from_verdict(cls, verdict: Verdict | str | None, label: int | None = None) -> ReviewCode:
        """The code of a review with ``verdict`` (None with a ``label``: labelled, else none)."""
        if verdict is None:
            return cls.UNREVIEWED if label is None else cls.LABELLED
        return {"agree": cls.AGREE, "disagree": cls.DISAGREE, "unsure": cls.UNSURE}[
            Verdict(verdict).value
        ]


#: A review in the table: its verdict (None: a label given with no model) and the label it
#: fixed when it was made (None: unsure).
ReviewMark = tuple[Verdict | str | None, int | None]


_UNREVIEWED = int(ReviewCode.UNREVIEWED)


def _mark(value: Verdict | str | ReviewMark | None) -> ReviewMark:
    """A (verdict, label) mark from a bare verdict (no label known) or a mark."""
    if isinstance(value, tuple):
        return value
    return (value, None)


_UNKNOWN = int(FileStatus.UNKNOWN)


def name_rank_of(ids: Sequence[str]) -> np.ndarray:
    """The rank (int64) of each of ``ids`` in name order; equal ids keep their order. The
    same as Python's stable sort by code points, but numpy sorts the names without holding
    the interpreter lock, and they become an array a chunk at a time
    (:func:`pathview.core.arrays.str_array`): run on a worker thread, the GUI thread goes on
    meanwhile (220,025 names: about 20 ms of conversion in short steps and 50 ms of sorting,
    against 75 ms of ``sorted`` holding the lock)."""
    n = len(ids)
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(str_array(ids), kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    return rank


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
        # The label each review fixed when it was made: -1 none (unreviewed or unsure), 0, 1.
        # Never derived again from the current P, so re-scoring cannot flip it.
        self.review_label: list[int] = []
        self.status: list[int] = []  # FileStatus values
        self.reasons: dict[int, str] = {}
        self._row_of: dict[str, int] = {}
        self._name_rank: np.ndarray | None = None
        self._pending_truth: dict[str, int] = {}
        self._pending_review: dict[str, int] = {}
        self._pending_label: dict[str, int] = {}
        # numpy copies of p, spread, truth and review, kept in step by every setter (capacity
        # grows geometrically): sorting, filtering and the histogram read them without
        # converting 220,025-element lists on every refresh.
        self._np_p = np.zeros(0, np.float64)
        self._np_spread = np.zeros(0, np.float64)
        self._np_truth = np.zeros(0, np.int8)
        self._np_review = np.zeros(0, np.int8)
        # Quality measures, duplicate groups and embeddings (filled while scoring).
        self.insight = InsightColumns()

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
            self.review_label.append(self._pending_label.get(ref.id, -1))
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

    def set_reviews(self, reviews: Mapping[str, Verdict | str | ReviewMark | None]) -> list[int]:
        """Replace every review state (e.g. from the store on open): patch id -> a verdict or
        a (verdict, label) :data:`ReviewMark`; returns the changed rows."""
        marks = {k: _mark(v) for k, v in reviews.items()}
        self._pending_review = {k: int(ReviewCode.from_verdict(*m)) for k, m in marks.items()}
        self._pending_label = {k: -1 if m[1] is None else int(m[1]) for k, m in marks.items()}
        changed = []
        for row, pid in enumerate(self.ids):
            code = self._pending_review.get(pid, _UNREVIEWED)
            label = self._pending_label.get(pid, -1)
            if self.review[row] != code or self.review_label[row] != label:
                self.review[row] = code
                self.review_label[row] = label
                changed.append(row)
        self._np_review[: len(self.ids)] = self.review
        return changed

    def set_review(
        self, patch_id: str, verdict: Verdict | str | None, label: int | None = None
    ) -> int | None:
        """One patch's review: its verdict and the label it fixed (see ``review_label``)."""
        code = int(ReviewCode.from_verdict(verdict, label))
        self._pending_review[patch_id] = code
        self._pending_label[patch_id] = -1 if label is None else int(label)
        row = self._row_of.get(patch_id)
        if row is not None:
            self.review[row] = code
            self.review_label[row] = self._pending_label[patch_id]
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
        """Rank of every row by id (rows with the same id in table order), as
        :func:`name_rank_of` gives it; cached until rows are appended."""
        if self._name_rank is None or len(self._name_rank) != len(self.ids):
            self._name_rank = name_rank_of(self.ids)
        return self._name_rank

    def set_name_rank(self, rank: np.ndarray) -> bool:
        """Take a :func:`name_rank_of` of this table's ids computed elsewhere (the app sorts
        a large folder's names on a worker thread); False, and nothing kept, when the table
        has since changed length."""
        rank = np.asarray(rank, np.int64)
        if rank.shape != (len(self.ids),):
            return False
        self._name_rank = rank
        return True

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
