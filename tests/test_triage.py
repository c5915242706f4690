"""Pure triage logic: table, sort keys, filters, counts, caches, scoring batches. No Qt."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from support.fakes import FakeClassifier
from support.patches import make_folder

from pathview.core import Cancelled, CancelToken, LruCache, PatchRef, Verdict
from pathview.io import FileStatus, list_patches, load_patch_info
from pathview.io.integrity import Integrity
from pathview.scoring import iter_score_batches
from pathview.triage import (
    DwellClock,
    FilterSpec,
    PatchTable,
    ReviewCode,
    ReviewFilter,
    SortKey,
    histogram_by,
    next_unreviewed,
    ordered_rows,
    review_counts,
)


def _table() -> PatchTable:
    t = PatchTable()
    t.extend([PatchRef(i, f"{i}.tif") for i in ("e", "b", "d", "a", "c")])
    #                  e    b    d     a    c
    t.set_scores(["e", "b", "d", "a"], [0.9, 0.45, 0.1, 0.62], [0.01, 0.2, 0.05, 0.3])
    t.set_truth({"e": 1, "b": 1, "d": 1, "a": 0})
    return t


def ids(t: PatchTable, rows: list[int]) -> list[str]:
    return [t.ids[r] for r in rows]


def test_extend_skips_duplicate_ids_and_applies_known_truth_and_reviews() -> None:
    t = PatchTable()
    t.set_truth({"x": 1})
    t.set_review("y", Verdict.AGREE)
    rows = t.extend([PatchRef("x", "x.tif"), PatchRef("y", "y.tif"), PatchRef("x", "x.png")])
    assert list(rows) == [0, 1] and len(t) == 2
    assert t.truth == [1, -1]
    assert t.review == [ReviewCode.UNREVIEWED, ReviewCode.AGREE]
    assert math.isnan(t.p[0])


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (SortKey.NAME, ["a", "b", "c", "d", "e"]),
        (SortKey.P_TUMOUR, ["e", "a", "b", "d", "c"]),  # c unscored: last
        (SortKey.UNCERTAINTY, ["b", "a", "d", "e", "c"]),  # |p-0.5|: .05 .12 .4 .4 (d<e by name)
        (SortKey.TTA_SPREAD, ["a", "b", "d", "e", "c"]),
        (SortKey.DISAGREEMENT, ["d", "a", "b", "e", "c"]),  # |p-truth|: .9 .62 .55 .1; c no truth
    ],
)
def test_sort_orders(key: SortKey, expected: list[str]) -> None:
    t = _table()
    assert ids(t, ordered_rows(t, key, FilterSpec())) == expected


def test_filters() -> None:
    t = _table()
    t.set_review("e", Verdict.AGREE)
    t.set_review("a", Verdict.UNSURE)
    by_name = SortKey.NAME
    assert ids(t, ordered_rows(t, by_name, FilterSpec(review=ReviewFilter.UNREVIEWED))) == [
        "b",
        "c",
        "d",
    ]
    assert ids(t, ordered_rows(t, by_name, FilterSpec(review=ReviewFilter.REVIEWED))) == ["a", "e"]
    # Model call vs truth: a (0.62 vs 0), b (0.45 vs 1), d (0.1 vs 1) disagree.
    assert ids(t, ordered_rows(t, by_name, FilterSpec(disagreements_only=True))) == ["a", "b", "d"]
    assert ids(t, ordered_rows(t, by_name, FilterSpec(p_min=0.4, p_max=0.7))) == ["a", "b"]
    assert ids(t, ordered_rows(t, by_name, FilterSpec(truth=0))) == ["a"]
    t.set_review("c", Verdict.DISAGREE)  # a reviewer's disagreement counts too
    assert "c" in ids(t, ordered_rows(t, by_name, FilterSpec(disagreements_only=True)))


def test_next_unreviewed_wraps_and_stops_when_all_done() -> None:
    review = [0, 1, 0, 1]
    order = [3, 2, 1, 0]
    assert next_unreviewed(order, 0, review) == 1  # row 2
    assert next_unreviewed(order, 1, review) == 3  # row 0
    assert next_unreviewed(order, 3, review) == 1  # wraps round
    assert next_unreviewed(order, 0, [1, 1, 1, 1]) is None


def test_review_counts_and_agreement_rate() -> None:
    t = _table()
    counts = review_counts(t)
    assert (counts.total, counts.reviewed, counts.agreement_rate) == (5, 0, None)
    t.set_review("e", Verdict.AGREE)
    t.set_review("a", Verdict.AGREE)
    t.set_review("b", Verdict.DISAGREE)
    t.set_review("d", Verdict.UNSURE)
    counts = review_counts(t)
    assert (counts.reviewed, counts.agree, counts.disagree, counts.unsure) == (4, 2, 1, 1)
    assert counts.agreement_rate == pytest.approx(2 / 3)
    assert "reviewed 4 / 5" in counts.summary() and "67%" in counts.summary()


def test_histogram_by_verdict_and_truth() -> None:
    t = _table()
    t.set_review("e", Verdict.AGREE)
    hist = histogram_by(t, "verdict", bins=10)
    assert sum(int(c.sum()) for c in hist.counts.values()) == 4  # c is unscored
    assert int(hist.counts["agree"][9]) == 1
    truth = histogram_by(t, "truth", bins=10)
    assert int(truth.counts["truth 1"].sum()) == 3 and int(truth.counts["truth 0"].sum()) == 1


def test_lru_cache_is_bounded() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and "a" in cache and len(cache) == 2


def test_dwell_clock() -> None:
    now = [100.0]
    clock = DwellClock(lambda: now[0])
    clock.start("x")
    now[0] = 104.5
    clock.start("x")  # same patch: keeps counting
    assert clock.seconds() == pytest.approx(4.5)
    clock.start("y")
    assert clock.seconds() == 0.0


def test_load_patch_info_statuses(data_dir: Path, tmp_path: Path) -> None:
    good = next((data_dir / "kaggle").glob("*.tif"))
    info = load_patch_info(good.parent, PatchRef(good.stem, good.name))
    assert info.status is FileStatus.OK and info.integrity is Integrity.VERIFIED
    assert info.sha1 == good.stem and info.size == (96, 96) and info.file_size
    odd = [p for p in (data_dir / "formats").iterdir() if "100x80" in p.name or "odd" in p.name]
    for path in odd:
        assert load_patch_info(path.parent, PatchRef(path.stem, path.name)).status in (
            FileStatus.ODD_SIZE,
            FileStatus.ALTERED,
        )
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not an image")
    info = load_patch_info(tmp_path, PatchRef("bad", "bad.tif"))
    assert info.status is FileStatus.UNREADABLE and info.reason and info.pixels is None


def test_altered_fixture_is_marked(data_dir: Path) -> None:
    statuses = {
        ref.relpath: load_patch_info(data_dir / "formats", ref).status
        for ref in list_patches(data_dir / "formats")
    }
    assert FileStatus.ALTERED in statuses.values()


def test_iter_score_batches_reports_corrupt_files_and_cancels(
    data_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "f"
    make_folder(folder, data_dir / "kaggle", 5, corrupt=1)
    refs = list_patches(folder)
    batches = list(iter_score_batches(folder, refs, FakeClassifier(), tta=True, batch_size=4))
    assert [b.done for b in batches] == [4, 6]
    scored = [pid for b in batches for pid in b.ids]
    failed = {pid: why for b in batches for pid, why in b.failed.items()}
    assert len(scored) == 5 and list(failed) == ["zz_corrupt_0"]
    assert all(b.spread is not None for b in batches)
    assert all(0.0 <= p <= 1.0 for b in batches for p in b.p)
    token = CancelToken()
    gen = iter_score_batches(folder, refs, FakeClassifier(), batch_size=2, cancel=token)
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        next(gen)


def test_unstable_sort_key_uses_the_per_view_scores() -> None:
    t = _table()
    assert not t.has_views and t.views() is None
    # Without per-view scores the key has no value for any row: name order.
    assert ids(t, ordered_rows(t, SortKey.UNSTABLE, FilterSpec())) == ["a", "b", "c", "d", "e"]
    views = np.array(
        [
            [0.9] * 8,  # e: stable
            [0.6] * 4 + [0.4] * 4,  # b: split evenly (4 of 8 disagree with the majority)
            [0.6] * 7 + [0.25],  # a: one view flips, at 0.5 and at 0.3
        ]
    )
    t.set_scores(["e", "b", "a"], [0.9, 0.5, 0.59], [0.0, 0.1, 0.08], views)
    assert t.has_views
    stored = t.views()
    assert stored is not None and stored.shape == (5, 8)
    assert np.isnan(stored[t.row_of("d")]).all()  # d was scored without TTA
    assert ids(t, ordered_rows(t, SortKey.UNSTABLE, FilterSpec())) == ["b", "a", "e", "c", "d"]
    # At 0.3 every view of b is called tumour: only a is unstable.
    at_03 = ordered_rows(t, SortKey.UNSTABLE, FilterSpec(), threshold=0.3)
    assert ids(t, at_03) == ["a", "b", "e", "c", "d"]
    # Scoring again without TTA forgets the views of those rows.
    t.set_scores(["b"], [0.5])
    stored = t.views()
    assert stored is not None and np.isnan(stored[t.row_of("b")]).all()
    assert ids(t, ordered_rows(t, SortKey.UNSTABLE, FilterSpec())) == ["a", "e", "b", "c", "d"]
    with pytest.raises(ValueError):
        t.set_scores(["a"], [0.5], [0.1], np.zeros((1, 3)))


def test_score_batches_carry_the_views_with_tta(tmp_path: Path, data_dir: Path) -> None:
    from support.fakes import ViewsFakeClassifier

    folder = tmp_path / "p"
    make_folder(folder, data_dir / "kaggle", 5, corrupt=1)
    refs = list_patches(folder)
    (plain,) = iter_score_batches(folder, refs, ViewsFakeClassifier())
    assert plain.views is None and plain.spread is None
    (batch,) = iter_score_batches(folder, refs, ViewsFakeClassifier(), tta=True)
    assert batch.views is not None and batch.views.shape == (5, 8)
    np.testing.assert_allclose(batch.views.mean(axis=1), batch.p, atol=1e-6)
    assert list(batch.failed) == ["zz_corrupt_0"]
    (no_views,) = iter_score_batches(folder, refs, FakeClassifier(), tta=True)
    assert no_views.views is None and no_views.spread is not None  # a classifier without them


@pytest.mark.slow
def test_ordered_rows_on_220k_rows_sorts_by_uncertainty() -> None:
    """The Kaggle train folder's size: every row is kept and the order is right (the speed is
    measured by benchmarks/bench_gui_responsiveness.py, not asserted here)."""
    t = PatchTable()
    n = 220_025
    t.extend([PatchRef(f"{i:040x}", f"{i:040x}.tif") for i in range(n)])
    rng = np.random.default_rng(0)
    p = rng.random(n)
    t.set_scores(t.ids, p.tolist())
    t.name_rank()  # cached once per listing
    rows = np.asarray(
        ordered_rows(t, SortKey.UNCERTAINTY, FilterSpec(review=ReviewFilter.UNREVIEWED))
    )
    assert sorted(rows.tolist()) == list(range(n))
    distance = np.abs(p[rows] - 0.5)
    assert np.all(np.diff(distance) >= 0)


def test_refs_in_order_puts_the_given_rows_first_and_builds_refs_lazily() -> None:
    t = PatchTable()
    t.extend([PatchRef(f"p{i}", f"p{i}.tif") for i in range(6)])
    refs = t.refs_in_order([4, 1])
    assert len(refs) == 6
    assert [r.id for r in refs] == ["p4", "p1", "p0", "p2", "p3", "p5"]
    assert refs[1] == PatchRef("p1", "p1.tif")
    assert [r.relpath for r in refs[2:4]] == ["p0.tif", "p2.tif"]
    t.extend([PatchRef("late", "late.tif")])  # a snapshot: later rows are not in it
    assert len(refs) == 6 and "late" not in [r.id for r in refs]


def test_numpy_columns_follow_every_change_of_the_table() -> None:
    """arrays() is kept in step by the setters (not converted from the lists each time)."""
    from pathview.core import PatchRef
    from pathview.triage import PatchTable

    table = PatchTable()
    table.set_truth({"b": 1, "z": 0})
    table.extend([PatchRef(pid, f"{pid}.tif") for pid in "abc"])
    table.set_review("c", "agree")
    for batch in range(3):  # grows past the first capacity
        table.extend([PatchRef(f"{batch}-{i}", f"{batch}-{i}.tif") for i in range(700)])
    table.set_scores(["a", "c", "0-5"], [0.1, 0.9, 0.5], [0.01, 0.02, 0.03])
    table.set_scores(["a"], [0.2])  # without TTA: the spread is cleared
    table.set_reviews({"a": "disagree", "2-699": "unsure"})
    table.set_truth({"c": 0, "1-1": 1})

    def check() -> None:
        p, spread, truth, review = table.arrays()
        np.testing.assert_array_equal(p, np.asarray(table.p, dtype=np.float64))
        np.testing.assert_array_equal(spread, np.asarray(table.spread, dtype=np.float64))
        np.testing.assert_array_equal(truth, np.asarray(table.truth, dtype=np.int8))
        np.testing.assert_array_equal(review, np.asarray(table.review, dtype=np.int8))
        assert len(p) == len(table) == 2103 and not p.flags.writeable

    check()
    assert table.arrays()[0][0] == pytest.approx(0.2) and np.isnan(table.arrays()[1][0])
    table.clear_scores()
    check()


def test_the_table_keeps_the_label_each_review_fixed() -> None:
    t = _table()
    t.set_review("e", Verdict.DISAGREE, 0)
    t.set_review("a", None, 1)  # a label key with no model: labelled, no verdict
    t.set_review("b", Verdict.UNSURE)
    row = {pid: t.row_of(pid) for pid in "eab"}
    assert [t.review[row[p] or 0] for p in "eab"] == [
        ReviewCode.DISAGREE,
        ReviewCode.LABELLED,
        ReviewCode.UNSURE,
    ]
    assert [t.review_label[row[p] or 0] for p in "eab"] == [0, 1, -1]
    t.set_scores(["e"], [0.1])  # a new score changes neither
    assert t.review_label[row["e"] or 0] == 0 and t.review[row["e"] or 0] == ReviewCode.DISAGREE
    counts = review_counts(t)
    assert (counts.reviewed, counts.labelled) == (3, 1) and "1 labelled" in counts.summary()
    hist = histogram_by(t, "verdict", bins=10)
    assert int(hist.counts["labelled"].sum()) == 1  # "a" is scored in _table
    changed = t.set_reviews({"a": (None, 0), "c": ("agree", 1), "late": (None, 1)})
    assert t.review_label[row["a"] or 0] == 0 and t.review[row["e"] or 0] == ReviewCode.UNREVIEWED
    assert len(changed) == 4  # e and b cleared, a relabelled, c reviewed
    t.extend([PatchRef("late", "late.tif")])  # listed after its review was read
    late = t.row_of("late")
    assert late is not None and (t.review[late], t.review_label[late]) == (ReviewCode.LABELLED, 1)


def test_a_bulk_plan_leaves_reviewed_and_unscored_patches_and_says_why() -> None:
    from pathview.triage.bulk import BULK_ACTIONS, plan_bulk

    p = np.array([0.9, np.nan, 0.2, 0.7])
    reviewed = np.array([True, False, False, False])
    agree = plan_bulk(np.array([0, 1, 2]), BULK_ACTIONS["agree"], p, reviewed)
    assert agree.rows.tolist() == [2] and agree.picked == 3
    assert "1 you have reviewed already; 1 not scored yet" in agree.summary()
    label = plan_bulk(np.array([0, 1, 2]), BULK_ACTIONS["tumour"], p, reviewed)
    assert label.rows.tolist() == [1, 2]  # a label needs no call
    none = plan_bulk(np.array([0, 1]), BULK_ACTIONS["agree"], p, reviewed)
    assert len(none) == 0
    assert none.refusal == (
        "Nothing to record: 1 you have reviewed already; 1 not scored yet (no call to agree with)."
    )
    hidden = plan_bulk(np.array([2]), BULK_ACTIONS["disagree"], p, reviewed, "blind")
    assert hidden.refusal == "blind" and len(hidden) == 0
    assert plan_bulk(np.array([2]), BULK_ACTIONS["unsure"], p, reviewed, "blind").rows.tolist() == [
        2
    ]
