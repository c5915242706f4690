"""What scoring learns about each patch beyond P(tumour), held per table row without Qt:
its quality measures and flags (:mod:`pathview.quality`), its exact and near-duplicate group
and its embedding (the network's penultimate features).

Rows are the :class:`pathview.triage.PatchTable`'s rows. A row not scored yet has NaN
measures, no flags, no group and no embedding. The duplicate groups need every row's hashes
at once, so they are recomputed by :meth:`InsightColumns.regroup` (the app does it off the GUI
thread when scoring ends) rather than batch by batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pathview.quality import FLAGS, MEASURES, THRESHOLDS, PatchQuality, exact_groups, near_groups
from pathview.quality.duplicates import N_HASH_VIEWS

#: Quality filter values besides a flag's name: any flag raised; in a duplicate group.
ANY_FLAG = "any flag"
DUPLICATES = "duplicates"


@dataclass(frozen=True)
class DuplicateGroups:
    """Exact and near-duplicate group numbers per row (int64, 0 = in none)."""

    exact: np.ndarray
    near: np.ndarray

    def any(self) -> np.ndarray:
        """Rows in some group."""
        return (self.exact > 0) | (self.near > 0)

    def combined(self) -> np.ndarray:
        """One group number per row (0 = none): its near group, which holds its exact copies
        too, or for an exact copy in no near group (a blank patch) a number after them."""
        out = self.near.copy()
        exact_only = (self.near == 0) & (self.exact > 0)
        out[exact_only] = int(self.near.max(initial=0)) + self.exact[exact_only]
        return out


@dataclass(frozen=True)
class GroupConflict:
    """A duplicate group whose reviews disagree (``reviews``: the labels reviewers' verdicts
    imply differ) or whose ground truth straddles both classes (``truth``)."""

    group: int  # the :meth:`DuplicateGroups.combined` number
    rows: tuple[int, ...]
    reviews: bool
    truth: bool

    def describe(self) -> str:
        """'Duplicate group 3 (4 patches): reviews disagree; labels CSV has both classes'."""
        why = [
            w
            for w, on in (
                ("reviews disagree", self.reviews),
                ("the labels CSV has both classes", self.truth),
            )
            if on
        ]
        return f"Duplicate group {self.group} ({len(self.rows)} patches): " + "; ".join(why)


def implied_labels(p: np.ndarray, review: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The label each row's review implies (int8: 1 tumour, 0 normal, -1 none): agreeing
    with the model's call (P >= ``threshold``) gives the call, disagreeing the other class;
    unsure, unreviewed or unscored rows give none."""
    with np.errstate(invalid="ignore"):
        call = (np.asarray(p) >= threshold).astype(np.int8)
    scored = ~np.isnan(np.asarray(p, dtype=np.float64))
    review = np.asarray(review)
    out = np.full(len(call), -1, np.int8)
    agree = scored & (review == 1)
    disagree = scored & (review == 2)
    out[agree] = call[agree]
    out[disagree] = 1 - call[disagree]
    return out


def group_conflicts(
    groups: DuplicateGroups, labels: np.ndarray, truth: np.ndarray
) -> list[GroupConflict]:
    """The duplicate groups whose members' review labels (-1 none, 0, 1; for example
    :func:`implied_labels`) differ, or whose ground truth (-1 unknown, 0, 1) has both classes,
    in group order."""
    number = groups.combined()
    rows = np.flatnonzero(number > 0)
    if not len(rows):
        return []
    lab = np.asarray(labels)[rows]
    t = np.asarray(truth)[rows]
    out = []
    order = np.argsort(number[rows], kind="stable")
    keys = number[rows][order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    for lo, hi in zip(starts, np.r_[starts[1:], len(keys)], strict=True):
        members = order[lo:hi]
        reviews = bool((lab[members] == 0).any() and (lab[members] == 1).any())
        straddles = bool((t[members] == 0).any() and (t[members] == 1).any())
        if reviews or straddles:
            out.append(
                GroupConflict(int(keys[lo]), tuple(rows[members].tolist()), reviews, straddles)
            )
    return out


def group_rows(
    known: np.ndarray, sha1: Sequence[str], hashes: np.ndarray, blank: np.ndarray
) -> DuplicateGroups:
    """Duplicate groups of the rows where ``known`` is True (the others get 0): exact by
    ``sha1``, near by the 8-view ``hashes`` (blank rows in no near group). Pure: the app runs it
    on a worker thread with copies of the columns."""
    n = len(known)
    exact = np.zeros(n, np.int64)
    near = np.zeros(n, np.int64)
    rows = np.flatnonzero(known)
    if len(rows):
        exact[rows] = exact_groups([sha1[r] for r in rows.tolist()])
        near[rows] = near_groups(hashes[rows], include=~blank[rows])
    return DuplicateGroups(exact, near)


class InsightColumns:
    """Quality measures, hashes, duplicate groups and embeddings of every table row."""

    def __init__(self) -> None:
        self._measures = np.zeros((0, len(MEASURES)), np.float32)
        self._hashes = np.zeros((0, N_HASH_VIEWS), np.uint64)
        self._known = np.zeros(0, bool)
        self._sha1: list[str] = []
        self._features: np.ndarray | None = None
        self._has_features = np.zeros(0, bool)
        self.groups = DuplicateGroups(np.zeros(0, np.int64), np.zeros(0, np.int64))
        #: Bumped on every change, so views (the map, the summary) know to refresh.
        self.version = 0

    def __len__(self) -> int:
        return len(self._known)

    def _grow(self, n: int, size: int = 0) -> None:
        """Room for rows 0..n-1, and for ``size`` rows when it grows at all (the table's
        length: a first batch of rows scattered over a 220,025-row table would otherwise
        size the columns to its largest row, and the next batch copy them all, 113 MB of
        embeddings included)."""
        old = len(self._known)
        if n <= old:
            return
        cap = max(n, size, 2 * old, 1024)
        measures = np.full((cap, len(MEASURES)), np.nan, np.float32)
        measures[:old] = self._measures
        hashes = np.zeros((cap, N_HASH_VIEWS), np.uint64)
        hashes[:old] = self._hashes
        known = np.zeros(cap, bool)
        known[:old] = self._known
        has_features = np.zeros(cap, bool)
        has_features[:old] = self._has_features
        self._measures, self._hashes, self._known = measures, hashes, known
        self._has_features = has_features
        self._sha1 += [""] * (cap - old)
        if self._features is not None:
            features = np.zeros((cap, self._features.shape[1]), np.float32)
            features[:old] = self._features
            self._features = features
        groups = DuplicateGroups(np.zeros(cap, np.int64), np.zeros(cap, np.int64))
        groups.exact[: len(self.groups.exact)] = self.groups.exact
        groups.near[: len(self.groups.near)] = self.groups.near
        self.groups = groups

    def set_rows(
        self,
        rows: Sequence[int],
        quality: PatchQuality | None = None,
        features: np.ndarray | None = None,
        size: int = 0,
    ) -> None:
        """Store the quality rows and/or embeddings of table ``rows`` (aligned); ``size``:
        the table's length, to size the columns for it at once."""
        if not len(rows):
            return
        at = np.asarray(rows, np.int64)
        self._grow(int(at.max()) + 1, size)
        if quality is not None:
            if len(quality) != len(at):
                raise ValueError(f"{len(at)} rows but {len(quality)} quality rows")
            m = quality.measures
            self._measures[at] = np.stack([m.measure(name) for name in MEASURES], axis=1)
            self._hashes[at] = quality.hashes
            self._known[at] = True
            for r, digest in zip(at.tolist(), quality.sha1, strict=True):
                self._sha1[r] = digest
        if features is not None:
            f = np.asarray(features, np.float32).reshape(len(at), -1)
            if self._features is None or self._features.shape[1] != f.shape[1]:
                self._features = np.zeros((len(self._known), f.shape[1]), np.float32)
                self._has_features[:] = False
            self._features[at] = f
            self._has_features[at] = True
        self.version += 1

    def clear_features(self) -> None:
        """Forget the embeddings (a new model gives others)."""
        self._features = None
        self._has_features[:] = False
        self.version += 1

    # ------------------------------------------------------------------ reading
    def known(self, n: int) -> np.ndarray:
        """Rows 0..n-1 whose quality is measured."""
        self._grow(n)
        return self._known[:n]

    def measure(self, name: str, n: int) -> np.ndarray:
        """The measure ``name`` of rows 0..n-1 (float32, NaN where not measured)."""
        self._grow(n)
        return self._measures[:n, MEASURES.index(name)]

    def flags(self, n: int) -> dict[str, np.ndarray]:
        """Flag name -> boolean (n,) (False where not measured), in :data:`FLAGS` order."""
        self._grow(n)
        out = {}
        for t in THRESHOLDS:
            values = self._measures[:n, MEASURES.index(t.measure)]
            with np.errstate(invalid="ignore"):
                out[t.flag] = t.raised(values) & self._known[:n]
        return out

    def flag_mask(self, name: str, n: int) -> np.ndarray:
        """Rows with flag ``name`` raised, any flag (:data:`ANY_FLAG`) or in a duplicate group
        (:data:`DUPLICATES`)."""
        if name == DUPLICATES:
            self._grow(n)
            return self.groups.any()[:n]
        flags = self.flags(n)
        if name == ANY_FLAG:
            return np.logical_or.reduce(list(flags.values()))
        if name not in flags:
            raise KeyError(name)
        return flags[name]

    def flags_of(self, row: int) -> list[str]:
        """The flags raised for one row, in :data:`FLAGS` order (plain floats: the grid asks
        for every tile it paints)."""
        if row >= len(self._known) or not self._known[row]:
            return []
        values = self._measures[row].tolist()  # MEASURES is in THRESHOLDS order
        return [
            t.flag
            for t, v in zip(THRESHOLDS, values, strict=True)
            if (v < t.value if t.below else v > t.value)
        ]

    def sha1_of(self, row: int) -> str:
        """The pixel SHA-1 of one row ("" when its quality was not measured)."""
        return self._sha1[row] if row < len(self._sha1) else ""

    def measures_of(self, row: int) -> dict[str, float] | None:
        """Measure name -> value of one row (None when not measured)."""
        self._grow(row + 1)
        if not self._known[row]:
            return None
        return {name: float(self._measures[row, i]) for i, name in enumerate(MEASURES)}

    def group_of(self, row: int) -> tuple[int, int]:
        """(exact group, near group) of one row, 0 = none."""
        if row >= len(self.groups.exact):
            return 0, 0
        return int(self.groups.exact[row]), int(self.groups.near[row])

    def group_members(self, row: int, n: int) -> np.ndarray:
        """The rows in the same exact or near-duplicate group as ``row`` (itself included;
        just itself when in none)."""
        exact, near = self.group_of(row)
        self._grow(n)
        mask = np.zeros(n, bool)
        mask[row] = True
        if exact:
            mask |= self.groups.exact[:n] == exact
        if near:
            mask |= self.groups.near[:n] == near
        return np.flatnonzero(mask)

    def features(self, n: int) -> tuple[np.ndarray | None, np.ndarray]:
        """(embeddings of rows 0..n-1 or None when no row has any, which rows have one)."""
        self._grow(n)
        if self._features is None:
            return None, self._has_features[:n]
        return self._features[:n], self._has_features[:n]

    @property
    def has_features(self) -> bool:
        return bool(self._has_features.any())

    # ------------------------------------------------------------------ groups
    def grouping_inputs(self, n: int) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
        """Copies of what :func:`group_rows` needs for rows 0..n-1.

        Another thread may take them once the columns hold n rows (they only ever grow, so
        they are not resized under it): the app's grouping worker does. A row written while
        it copies may come out old or new; whoever writes rows regroups when done (the end of
        scoring does)."""
        blank = self.flags(n)[FLAGS[0]].copy()
        return self._known[:n].copy(), self._sha1[:n], self._hashes[:n].copy(), blank

    def set_groups(self, groups: DuplicateGroups) -> None:
        """Store groups computed by :func:`group_rows` for rows 0..len-1."""
        n = len(groups.exact)
        self._grow(n)
        self.groups.exact[:] = 0
        self.groups.near[:] = 0
        self.groups.exact[:n] = groups.exact
        self.groups.near[:n] = groups.near
        self.version += 1

    def regroup(self, n: int) -> DuplicateGroups:
        """Recompute the duplicate groups of rows 0..n-1 here (tests; the app uses a worker)."""
        groups = group_rows(*self.grouping_inputs(n))
        self.set_groups(groups)
        return groups
