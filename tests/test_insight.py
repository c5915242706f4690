"""Quality rows, duplicate groups and embeddings held per patch (pathview.triage.insight), the
map's pure parts (pathview.triage.projection), the embedding maths (pathview.stats.embedding),
the panel's quality texts, and the scoring pass that carries them (loop and child protocol)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.fakes import FakeClassifier, FeaturesFakeClassifier, colour_features

from pathview.core import PatchRef
from pathview.io import list_patches, pixel_sha1, read_patch
from pathview.quality import MEASURES, PatchQuality, QualityMeasures
from pathview.scoring import ScoreBatch, iter_score_batches
from pathview.scoring.loop import gives_features
from pathview.scoring.server import batch_from_message, batch_message
from pathview.stats.embedding import cosine_neighbours, kmeans, pca_2d
from pathview.triage import (
    ANY_FLAG,
    DUPLICATES,
    DuplicateGroups,
    FilterSpec,
    PatchTable,
    SortKey,
    group_conflicts,
    implied_labels,
    ordered_rows,
)
from pathview.triage.projection import (
    ColourBy,
    ViewRect,
    nearest_point,
    point_colours,
    points_in_polygon,
    points_in_rect,
    probability_rgba,
    rasterise,
)
from pathview.ui.quality_facts import format_duplicates, format_quality, quality_marks


def _quality(
    values: list[list[float]], sha1: list[str], hashes: np.ndarray | None = None
) -> PatchQuality:
    v = np.asarray(values, np.float32)
    measures = QualityMeasures(*(v[:, i] for i in range(len(MEASURES))))
    h = np.zeros((len(values), 8), np.uint64) if hashes is None else hashes
    return PatchQuality(measures, sha1, h)


# tissue, brightness, saturation, ink, sharpness
FINE = [0.9, 150.0, 80.0, 0.0, 2000.0]
BLANK = [0.02, 230.0, 10.0, 0.0, 30.0]  # blank and blurred
DARK = [0.9, 40.0, 80.0, 0.3, 2000.0]  # dark and inked


def _table(n: int) -> PatchTable:
    t = PatchTable()
    t.extend([PatchRef(f"p{i:02d}", f"p{i:02d}.tif") for i in range(n)])
    return t


def test_insight_rows_flags_and_filters() -> None:
    t = _table(5)
    t.insight.set_rows([0, 2, 3], _quality([FINE, BLANK, DARK], ["a", "b", "c"]))
    assert t.insight.known(5).tolist() == [True, False, True, True, False]
    assert t.insight.flags_of(2) == ["blank", "blurred"]
    assert t.insight.flags_of(3) == ["dark", "ink"]
    assert t.insight.flags_of(0) == [] and t.insight.flags_of(1) == []
    assert t.insight.measures_of(1) is None
    assert t.insight.measures_of(3) == pytest.approx(dict(zip(MEASURES, DARK, strict=True)))
    assert math.isnan(t.insight.measure("sharpness", 5)[1])
    assert ordered_rows(t, SortKey.NAME, FilterSpec(quality="blank")) == [2]
    assert ordered_rows(t, SortKey.NAME, FilterSpec(quality=ANY_FLAG)) == [2, 3]
    # The worst first; unmeasured rows last.
    assert ordered_rows(t, SortKey.LEAST_TISSUE, FilterSpec()) == [2, 0, 3, 1, 4]
    assert ordered_rows(t, SortKey.BLURRIEST, FilterSpec())[:1] == [2]
    assert ordered_rows(t, SortKey.DARKEST, FilterSpec())[:3] == [3, 0, 2]


def test_insight_columns_are_sized_for_the_table_at_once() -> None:
    """Given the table's length, the first rows size every column for it: a later batch
    of higher rows writes in place (no copy of the embeddings grown so far)."""
    t = _table(4000)
    feats = np.arange(6, dtype=np.float32).reshape(2, 3)
    t.insight.set_rows([10, 20], _quality([FINE, BLANK], ["a", "b"]), feats, size=len(t))
    held = t.insight._features
    assert held is not None and len(t.insight) == 4000
    t.insight.set_rows([3999], _quality([DARK], ["c"]), feats[:1] + 10, size=len(t))
    assert t.insight._features is held  # written in place
    assert t.insight.known(4000)[[10, 20, 3999]].all()
    assert t.insight.flags_of(3999) == ["dark", "ink"]
    np.testing.assert_array_equal(held[[10, 20, 3999]], [[0, 1, 2], [3, 4, 5], [10, 11, 12]])


def test_duplicate_groups_filter_sort_and_members() -> None:
    t = _table(6)
    base = np.random.default_rng(3).integers(0, 2**63, 6, dtype=np.uint64)  # far apart
    base[3] = base[0]  # row 3 is row 0's exact copy
    base[5] = base[2] ^ np.uint64(0b101)  # row 5 is 2 bits from row 2: near
    h = np.repeat(base[:, None], 8, axis=1)
    t.insight.set_rows(list(range(6)), _quality([FINE] * 6, ["x", "y", "z", "x", "w", "v"], h))
    groups = t.insight.regroup(6)
    assert groups.exact.tolist() == [1, 0, 0, 1, 0, 0]  # rows 0 and 3 share their pixels
    assert groups.near[2] == groups.near[5] > 0
    assert ordered_rows(t, SortKey.NAME, FilterSpec(quality=DUPLICATES)) == [0, 2, 3, 5]
    dup_order = ordered_rows(t, SortKey.DUPLICATE_GROUP, FilterSpec())
    assert set(dup_order[:4]) == {0, 2, 3, 5} and dup_order[4:] == [1, 4]
    assert t.insight.group_members(2, 6).tolist() == [2, 5]
    assert t.insight.group_members(4, 6).tolist() == [4]


def test_conflicts_when_reviews_disagree_or_labels_straddle() -> None:
    exact = np.array([1, 1, 2, 2, 0, 3, 3])
    groups = DuplicateGroups(exact, np.zeros(7, np.int64))
    p = np.array([0.9, 0.9, 0.2, 0.2, 0.5, 0.7, 0.7])
    review = np.array([1, 2, 1, 1, 0, 1, 0])  # group 1: agree (1) vs disagree (0)
    truth = np.array([-1, -1, -1, -1, -1, 0, 1])  # group 3 straddles the labels
    assert implied_labels(p, review).tolist() == [1, 0, 0, 0, -1, 1, -1]
    conflicts = group_conflicts(groups, implied_labels(p, review), truth)
    assert [(c.group, c.rows, c.reviews, c.truth) for c in conflicts] == [
        (1, (0, 1), True, False),
        (3, (5, 6), False, True),
    ]
    assert "reviews disagree" in conflicts[0].describe()
    text = format_duplicates(1, 0, 2, conflicts[0])
    assert text.startswith("exact copy group 1 (2 patches)") and "⚠ reviews disagree" in text


def test_quality_texts_and_tile_marks() -> None:
    measures = dict(zip(MEASURES, BLANK, strict=True))
    text = format_quality(measures)
    assert text.splitlines()[:2] == ["⚠ blank: tissue 0.02 < 0.1", "⚠ blurred: sharpness 30 < 400"]
    assert "brightness 230" in text.splitlines()[-2] and "sharpness 30" in text.splitlines()[-1]
    assert format_quality(dict(zip(MEASURES, FINE, strict=True))).startswith("no flag")
    assert format_quality(None) == "not measured yet"
    assert quality_marks(["blank", "blurred"], True) == "BF="
    assert quality_marks([], False) == ""
    assert format_duplicates(0, 0, 1) == "none"


def test_embedding_maths() -> None:
    rng = np.random.default_rng(1)
    # Three tight, well-separated blobs along the first axis.
    centres = np.array([[0, 0, 0], [10, 0, 0], [20, 1, 0]], np.float32)
    x = np.concatenate([c + rng.normal(0, 0.1, (30, 3)) for c in centres]).astype(np.float32)
    xy = pca_2d(x)
    assert xy.shape == (90, 2)
    assert np.corrcoef(xy[:, 0], x[:, 0])[0, 1] > 0.99  # the first axis is the spread one
    assert np.array_equal(pca_2d(x), xy)  # deterministic
    # Fitted on a sample, the picture is nearly the same (up to the sample's centre).
    assert np.corrcoef(pca_2d(x, fit_rows=45)[:, 0], xy[:, 0])[0, 1] > 0.999
    clusters = kmeans(x, 3, seed=0)
    assert sorted(clusters.sizes.tolist()) == [30, 30, 30]
    assert all(len(set(clusters.labels[i * 30 : (i + 1) * 30].tolist())) == 1 for i in range(3))
    assert np.array_equal(kmeans(x, 3, seed=0).labels, clusters.labels)
    rows, sims = cosine_neighbours(x + 1, 0, k=5)
    assert 0 not in rows.tolist() and len(rows) == 5 and all(r < 30 for r in rows.tolist())
    assert np.all(np.diff(sims) <= 0)
    allowed = np.zeros(90, bool)
    allowed[60:] = True
    rows, _ = cosine_neighbours(x + 1, 0, k=3, candidates=allowed)
    assert all(r >= 60 for r in rows.tolist())


def test_map_points_pick_and_draw() -> None:
    xy = np.array([[0, 0], [1, 1], [2, 0], [5, 5]], np.float32)
    assert points_in_rect(xy, 2.5, -1, -0.5, 1.5).tolist() == [True, True, True, False]
    triangle = np.array([[-1, -1], [3, -1], [1, 2]])
    assert points_in_polygon(xy, triangle).tolist() == [True, True, True, False]
    assert nearest_point(xy, 4.6, 5.2, (10.0, 10.0))[0] == 3
    colours = np.tile(np.array([[255, 0, 0, 255]], np.uint8), (4, 1))
    img = rasterise(xy, colours, ViewRect(-1, -1, 3, 3, 40, 40), dot=1)
    # (0, 0) is 10 px right of the left edge and 30 px down from the top.
    assert img[30, 10].tolist() == [255, 0, 0, 255]
    assert img[:, :, 3].astype(bool).sum() == 3  # the 4th point is outside the view
    up = rasterise(xy, colours, ViewRect(-1, -1, 3, 3, 40, 40), dot=1, bottom_up=True)
    assert up[10, 10].tolist() == [255, 0, 0, 255]  # 10 px up from the bottom
    faded = rasterise(xy, colours, ViewRect(-1, -1, 3, 3, 40, 40), 1, np.array([1, 0, 0, 0], bool))
    assert faded[30, 10, 3] == 255 and faded[20, 20, 3] == 255 // 4
    ramp = probability_rgba(np.array([0.0, 0.5, 1.0, np.nan]))
    assert ramp[0, 2] > ramp[0, 0] and ramp[2, 0] > ramp[2, 2] and ramp[3, 3] == 150
    t = _table(3)
    t.set_truth({"p00": 1, "p01": 0})
    truth = point_colours(t, np.array([0, 1, 2]), ColourBy.TRUTH)
    assert truth[0, 0] > truth[0, 2] and truth[1, 2] > truth[1, 0] and truth[2, 3] == 150


@pytest.mark.slow
def test_scoring_pass_carries_quality_and_embeddings(tmp_path: Path, data_dir: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    files = sorted((data_dir / "kaggle").glob("*.tif"))[:5]
    for f in files:
        shutil.copy(f, folder / f.name)
    shutil.copy(files[0], folder / "copy.tif")
    refs = list_patches(folder)
    assert gives_features(FeaturesFakeClassifier()) and not gives_features(FakeClassifier())
    batches = list(
        iter_score_batches(folder, refs, FeaturesFakeClassifier(), quality=True, features=True)
    )
    assert len(batches) == 1
    b = batches[0]
    assert b.quality is not None and b.features is not None
    px = [read_patch(folder / r.relpath).pixels for r in refs]
    assert b.quality.sha1 == [pixel_sha1(p) for p in px]  # type: ignore[arg-type]
    assert np.allclose(b.features, colour_features(np.stack(px)))  # type: ignore[arg-type]
    # Over the child's protocol (JSON) they arrive unchanged.
    back = batch_from_message(batch_message(7, b))
    assert back.quality is not None and back.features is not None
    assert back.quality.sha1 == b.quality.sha1
    assert np.array_equal(back.quality.hashes, b.quality.hashes)
    for m in MEASURES:
        assert np.array_equal(back.quality.measures.measure(m), b.quality.measures.measure(m))
    assert np.array_equal(back.features, b.features)
    plain = batch_from_message(batch_message(7, ScoreBatch(["a"], [0.5], None, {}, 1, 1)))
    assert plain.quality is None and plain.features is None
    # A predictor without embeddings still scores, with quality only.
    only = next(iter_score_batches(folder, refs, FakeClassifier(), quality=True, features=True))
    assert only.features is None and only.quality is not None


def test_cached_scoring_pass_answers_embeddings_and_quality(tmp_path: Path, data_dir: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    for f in sorted((data_dir / "kaggle").glob("*.tif"))[:4]:
        shutil.copy(f, folder / f.name)
    refs = list_patches(folder)
    cache = tmp_path / "scores.sqlite"
    # Scored without embeddings first: the cache has P but cannot answer an insight pass.
    list(iter_score_batches(folder, refs, FeaturesFakeClassifier(), cache=cache))
    model = FeaturesFakeClassifier()
    scored = list(iter_score_batches(folder, refs, model, cache=cache, quality=True, features=True))
    assert model.calls == 1 and len(scored) == 1
    assert scored[0].quality is not None and scored[0].features is not None
    # Now the embeddings and quality rows are cached: every patch is answered without the
    # model, with its embedding (kept as float16) and its quality rows.
    again = FeaturesFakeClassifier()
    (hit,) = iter_score_batches(folder, refs, again, cache=cache, quality=True, features=True)
    assert again.calls == 0 and hit.ids == scored[0].ids
    assert hit.quality is not None and hit.features is not None
    assert np.allclose(hit.features, scored[0].features, atol=1e-2)
    assert hit.quality.sha1 == scored[0].quality.sha1
    np.testing.assert_array_equal(hit.quality.hashes, scored[0].quality.hashes)
    np.testing.assert_array_equal(
        hit.quality.measures.measure("sharpness"), scored[0].quality.measures.measure("sharpness")
    )


def test_flipped_and_copied_patches_group_in_the_table(data_dir: Path) -> None:
    files = sorted((data_dir / "kaggle").glob("*.tif"))[:3]
    px = [read_patch(f).pixels for f in files]
    arrays = [*px, px[0].copy(), np.ascontiguousarray(px[1][:, ::-1])]  # type: ignore[index]
    q = PatchQuality.of_arrays(arrays, [pixel_sha1(a) for a in arrays])  # type: ignore[arg-type]
    t = _table(5)
    t.insight.set_rows(range(5), q)  # type: ignore[arg-type]
    groups = t.insight.regroup(5)
    assert groups.exact[0] == groups.exact[3] > 0
    assert groups.near[1] == groups.near[4] > 0 and groups.near[2] == 0
    # Re-encoded as JPEG (q90) it is still a near-duplicate.
    jpeg = cv2.imdecode(cv2.imencode(".jpg", px[2], [cv2.IMWRITE_JPEG_QUALITY, 90])[1], 1)
    q2 = PatchQuality.of_arrays([px[2], jpeg], ["a", "b"])  # type: ignore[list-item]
    t2 = _table(2)
    t2.insight.set_rows([0, 1], q2)
    assert t2.insight.regroup(2).near.tolist() == [1, 1]


def test_every_review_state_has_a_mark_in_the_similar_strip() -> None:
    from pathview.triage import ReviewCode
    from pathview.ui.similar_strip import neighbour_caption

    marks = {code: neighbour_caption(0.8, 1, int(code), 0.97) for code in ReviewCode}
    assert marks[ReviewCode.UNREVIEWED] == "P 0.80 GT1\ncos 0.97"
    assert marks[ReviewCode.LABELLED] == "P 0.80 GT1 ✎\ncos 0.97"
    assert len(set(marks.values())) == len(ReviewCode)
    assert neighbour_caption(math.nan, -1, 0, 0.5) == "P —\ncos 0.50"


def test_neighbours_from_row_norms_equal_those_from_unit_rows() -> None:
    """The similar strip keeps only the rows' lengths (row_norms), not a unit copy of the
    embeddings: the same neighbours and similarities as from unit rows."""
    from pathview.stats.embedding import row_norms, unit_rows

    rng = np.random.default_rng(6)
    x = rng.normal(0, 1, (300, 16)).astype(np.float32)
    x[5] = 0  # a zero row is never a neighbour
    norms = row_norms(x)
    np.testing.assert_allclose(norms, np.linalg.norm(x, axis=1), rtol=1e-5)
    for row in (0, 17, 299):
        want_rows, want_sims = cosine_neighbours(unit_rows(x), row, 8, unit=True)
        got_rows, got_sims = cosine_neighbours(x, row, 8, norms=norms)
        assert got_rows.tolist() == want_rows.tolist() and 5 not in got_rows.tolist()
        np.testing.assert_allclose(got_sims, want_sims, atol=1e-5)
