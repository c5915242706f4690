"""pathview.evaluation and pathview.stats: ROC, confusion, reliability and disagreement bins,
reports, reviewer agreement and adjudication, TTA stability; numbers equal ``pathview score``'s."""

from __future__ import annotations

import csv
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from support.models import make_tiny_model
from support.patches import copy_balanced_patches
from support.reviews import verdict_for

from pathview.core import Verdict
from pathview.evaluation import (
    EvaluationRequest,
    build_report,
    evaluate,
    evaluate_request,
    review_labels,
    score_line,
    summarise_reviewers,
)
from pathview.model import Classifier, dihedral_view, load_model
from pathview.scoring import score_folder
from pathview.stats import (
    Confusion,
    accuracy,
    calibrated_ece_floor,
    calibration_error_from_bins,
    confusion_at,
    expected_calibration_error,
    instability,
    probability_bins,
    roc_auc,
    roc_curve_points,
    unstable_ids,
)
from pathview.store import (
    ReviewInput,
    ReviewStore,
    adjudication_queue,
    record_adjudication,
    write_labels_csv,
)

# The example of sklearn's roc_curve documentation, worked by hand below.
Y = np.array([0, 0, 1, 1])
P = np.array([0.1, 0.4, 0.35, 0.8])


# ------------------------------------------------------------------------------ hand-computed


def test_roc_points_by_hand() -> None:
    roc = roc_curve_points(P, Y)
    np.testing.assert_allclose(roc.fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(roc.tpr, [0, 0.5, 0.5, 1, 1])
    assert math.isinf(roc.thresholds[0])
    np.testing.assert_allclose(roc.thresholds[1:], [0.8, 0.4, 0.35, 0.1])
    assert roc.auc == pytest.approx(0.75) == roc_auc(P, Y)


def test_roc_ties_and_one_class() -> None:
    # Tied scores form one threshold (one diagonal step), as the AUC counts them one half.
    roc = roc_curve_points([0.5, 0.5, 0.2], [1, 0, 0], drop_intermediate=False)
    np.testing.assert_allclose(roc.fpr, [0, 0.5, 1])
    np.testing.assert_allclose(roc.tpr, [0, 1, 1])
    assert roc.auc == pytest.approx(0.75)
    single = roc_curve_points([0.2, 0.9], [1, 1])
    assert math.isnan(single.auc) and np.isnan(single.fpr).all()


def test_confusion_by_hand() -> None:
    c = confusion_at(P, Y, 0.5)  # calls 0 0 0 1
    assert (c.tp, c.fp, c.tn, c.fn) == (1, 0, 2, 1)
    assert (c.sensitivity, c.specificity, c.accuracy) == (0.5, 1.0, 0.75)
    c = confusion_at(P, Y, 0.3)  # calls 0 1 1 1
    assert (c.tp, c.fp, c.tn, c.fn) == (2, 1, 1, 0)
    assert (c.sensitivity, c.specificity, c.precision) == (1.0, 0.5, 2 / 3)
    assert confusion_at(P, Y, 0.4).fp == 1  # P >= threshold is tumour
    empty = Confusion(0.5, 0, 0, 0, 0)
    assert math.isnan(empty.sensitivity) and math.isnan(empty.accuracy)


def test_reliability_and_disagreement_bins_by_hand() -> None:
    low, high = probability_bins(P, Y, n_bins=2)
    assert (low.count, high.count) == (3, 1)
    assert low.mean_p == pytest.approx((0.1 + 0.4 + 0.35) / 3)
    assert low.positive_rate == pytest.approx(1 / 3) and high.positive_rate == 1.0
    # Calls at 0.5: the tumour patch at 0.35 is the only miss.
    assert (low.disagreements, high.disagreements) == (1, 0)
    assert low.disagreement_rate == pytest.approx(1 / 3)
    # ECE = 3/4 * |1/3 - 0.85/3| + 1/4 * |1 - 0.8| = 0.0375 + 0.05
    assert expected_calibration_error(P, Y, n_bins=2) == pytest.approx(0.0875)
    assert calibration_error_from_bins((low, high)) == pytest.approx(0.0875)
    # p = 1 falls in the last bin; an empty bin has NaN rates.
    bins = probability_bins([1.0, 0.0], [1, 0], n_bins=4)
    assert [b.count for b in bins] == [1, 0, 0, 1]
    assert math.isnan(bins[1].mean_p) and math.isnan(bins[1].disagreement_rate)


def test_evaluate_uses_the_model_metrics_on_the_labelled_ids() -> None:
    ids = ["a", "b", "c", "d", "unlabelled"]
    probs = np.array([0.1, 0.4, 0.35, 0.8, 0.99], np.float32)
    ev = evaluate("truth", ids, probs, {"a": 0, "b": 0, "c": 1, "d": 1, "other": 1})
    assert ev.ids == ("a", "b", "c", "d") and ev.n == 4 and ev.n_tumour == 2
    assert ev.auc == roc_auc(probs[:4], Y)
    assert ev.accuracy == accuracy(probs[:4], Y)
    assert ev.ece == expected_calibration_error(probs[:4], Y)
    assert ev.disagreeing_ids == ("c",)
    low = ev.at_threshold(0.3)
    assert low.confusion.fp == 1 and low.disagreeing_ids == ("b",)
    assert low.roc is ev.roc  # threshold-free parts are not recomputed


# ------------------------------------------------------------------------------ sklearn


def test_against_sklearn_on_random_data() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    for trial in range(20):
        n = int(rng.integers(5, 300))
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        s = rng.random(n).astype(np.float32)
        if trial % 2:
            s = np.round(s, 1)  # many ties
        for drop in (True, False):
            fpr, tpr, thr = metrics.roc_curve(y, s, drop_intermediate=drop)
            roc = roc_curve_points(s, y, drop_intermediate=drop)
            np.testing.assert_allclose(roc.fpr, fpr)
            np.testing.assert_allclose(roc.tpr, tpr)
            np.testing.assert_allclose(roc.thresholds[1:], thr[1:])
        assert roc.auc == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)
        t = float(rng.random())
        expected = metrics.confusion_matrix(y, (s >= t).astype(int), labels=[0, 1])
        np.testing.assert_array_equal(confusion_at(s, y, t).matrix(), expected)
        c = confusion_at(s, y, t)
        assert c.sensitivity == pytest.approx(metrics.recall_score(y, s >= t))
        assert c.accuracy == pytest.approx(metrics.accuracy_score(y, s >= t))


# ------------------------------------------------------------------------------ reports


def test_build_report_sources() -> None:
    ids = ["a", "b", "c", "d"]
    truth = {"a": 0, "b": 0, "c": 1, "d": 1}
    reviews = {"b": 1, "d": 1, "a": 0}
    both = build_report(ids, P, truth, reviews, source="both", model_id="abc")
    assert [e.reference for e in both.evaluations] == ["truth", "reviews"]
    assert both.sources == ["truth", "reviews", "both"]
    assert both.evaluation("reviews").n == 3  # type: ignore[union-attr]
    only_reviews = both.with_source("reviews")
    assert [e.reference for e in only_reviews.evaluations] == ["reviews"]
    moved = both.at_threshold(0.3)
    assert moved.threshold == 0.3 and moved.evaluation("truth").confusion.fp == 1  # type: ignore[union-attr]
    no_reviews = build_report(ids, P, truth, None, source="reviews")
    assert no_reviews.evaluations == () and "reviewed labels" in no_reviews.notes[0]
    assert no_reviews.sources == ["truth"]
    with pytest.raises(ValueError):
        build_report(ids, P, truth, source="nonsense")
    with pytest.raises(ValueError):
        build_report(ids[:3], P, truth)


# ------------------------------------------------------------------------------ reviewers


def _review(store: ReviewStore, pid: str, reviewer: str, label: int, p: float = 0.9) -> None:
    store.record(ReviewInput(pid, verdict_for(label, p), reviewer, p_tumour=p))


def test_reviewer_summary_kappa_and_queue(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        # ann 1 1 0 0, bob 1 0 0 0: p_o = 3/4, p_e = 1/2 * 1/4 + 1/2 * 3/4 = 1/2, kappa = 1/2.
        for pid, a, b in (("p1", 1, 1), ("p2", 1, 0), ("p3", 0, 0), ("p4", 0, 0)):
            _review(store, pid, "ann", a)
            _review(store, pid, "bob", b)
        _review(store, "p5", "ann", 1)  # not shared
        summary = summarise_reviewers(store)
    assert summary.reviewers == ("ann", "bob")
    assert summary.agreement is not None
    assert summary.agreement.method == "cohen" and summary.agreement.shared_patches == 4
    assert summary.agreement.kappa == pytest.approx(0.5)
    assert summary.queue == ("p2",) and summary.adjudicated == 0 and summary.pairwise == ()


def test_fleiss_for_three_and_adjudicator_is_not_a_rater(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        for pid, labels in (("p1", (1, 1, 1)), ("p2", (1, 0, 1)), ("p3", (0, 0, 0))):
            for reviewer, label in zip(("ann", "bob", "cy"), labels, strict=True):
                _review(store, pid, reviewer, label)
        record_adjudication(store, "p2", 0, "lead", p_tumour=0.9)
        summary = summarise_reviewers(store)
    assert summary.reviewers == ("ann", "bob", "cy")  # "lead" only adjudicated
    assert summary.agreement is not None and summary.agreement.method == "fleiss"
    assert summary.agreement.shared_patches == 3
    # Fleiss by hand: P_i = 1, 1/3, 1; P-bar = 7/9; p1 = 5/9, p0 = 4/9, P_e = 41/81.
    assert summary.agreement.kappa == pytest.approx((7 / 9 - 41 / 81) / (1 - 41 / 81))
    assert len(summary.pairwise) == 3 and summary.queue == () and summary.adjudicated == 1


def test_adjudication_flows_into_review_labels_and_export(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        _review(store, "x", "ann", 1, p=0.2)
        _review(store, "x", "bob", 0, p=0.2)
        _review(store, "y", "ann", 1, p=0.7)
        _review(store, "y", "bob", 0, p=0.7)
        assert adjudication_queue(store) == ["x", "y"]
        assert "x" not in review_labels(store, "majority")  # a tie is left out
        # p 0.2 -> tumour is a disagreement with the model's call; p from the reviews.
        event = record_adjudication(store, "x", 1, "lead")
        assert event.role == "adjudicator" and event.verdict is Verdict.DISAGREE
        assert event.label == 1 and event.p_tumour == 0.2
        record_adjudication(store, "y", 0, "lead", p_tumour=0.7, model_id="m")
        assert adjudication_queue(store) == []
        assert review_labels(store, "majority") == {"x": 1, "y": 0}
        write_labels_csv(store, tmp_path / "labels.csv", rule="unanimous")
        record_adjudication(store, "z", None, "lead")  # unsure needs no probability
        with pytest.raises(ValueError):
            record_adjudication(store, "w", 1, "lead")  # no probability known to express it
        with pytest.raises(ValueError):
            record_adjudication(store, "w", 2, "lead", p_tumour=0.5)
    rows = list(csv.reader((tmp_path / "labels.csv").read_text().splitlines()))
    assert rows == [["id", "label"], ["x", "1"], ["y", "0"]]


def test_evaluate_request_is_the_report_of_the_store_and_scores(tmp_path: Path) -> None:
    ids = ("a", "b", "c", "d")
    probs = P.astype(np.float32)
    truth = {"a": 0, "b": 0, "c": 1, "d": 1, "e": 1}
    views = np.array([[0.1] * 8, [0.6] * 4 + [0.4] * 4, [np.nan] * 8, [0.8] * 7 + [0.45]])
    with ReviewStore(tmp_path / "r.sqlite") as store:
        for pid, a, b in (("a", 0, 0), ("b", 0, 1), ("c", 1, 1)):
            _review(store, pid, "ann", a)
            _review(store, pid, "bob", b)
        # "e" is listed but not scored (NaN): left out, as from `pathview score`'s output.
        request = EvaluationRequest(
            (*ids, "e"),
            np.append(probs, np.float32(np.nan)),
            truth,
            store,
            np.vstack([views, np.full((1, 8), np.nan)]),
            "both",
            0.5,
        )
        report = evaluate_request(request)
        expected = build_report(
            ids, probs, truth, review_labels(store), reviewers=summarise_reviewers(store)
        )
        alone = evaluate_request(EvaluationRequest(ids, probs, {}, store, source="truth"))
    assert report.ids == ids and report.probs.dtype == np.float32
    assert report.source == "both"
    assert [e.reference for e in report.evaluations] == ["truth", "reviews"]
    for got, want in zip(report.evaluations, expected.evaluations, strict=True):
        assert (got.ids, got.auc, got.accuracy, got.ece) == (
            want.ids,
            want.auc,
            want.accuracy,
            want.ece,
        )
    assert report.reviews == {"a": 0, "b": 1, "c": 1}  # latest review, as the export
    assert report.reviewers == expected.reviewers and report.reviewers is not None
    assert report.reviewers.queue == ("b",)
    assert report.unstable == ("b", "d")  # c has no per-view scores
    # No truth: the wanted reference falls back to one with data.
    assert alone.source == "reviews" and alone.unstable is None
    bare = evaluate_request(EvaluationRequest((), np.zeros(0, np.float32), truth))
    assert bare.evaluations == () and bare.reviewers is None
    with pytest.raises(ValueError):
        evaluate_request(EvaluationRequest(ids, probs[:2], truth))


# ------------------------------------------------------------------------------ stability


def test_instability_counts_and_ids() -> None:
    views = np.array(
        [
            [0.9] * 8,  # stable tumour
            [0.1] * 8,  # stable normal
            [0.6] * 7 + [0.4],  # one view flips
            [0.6] * 4 + [0.4] * 4,  # split evenly
        ]
    )
    assert instability(views).tolist() == [0, 0, 1, 4]
    assert unstable_ids(["a", "b", "c", "d"], views) == ["d", "c"]
    assert unstable_ids(["a", "b", "c", "d"], views, threshold=0.3) == []
    with pytest.raises(ValueError):
        unstable_ids(["a"], views)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path) -> Classifier:
    return load_model(tiny_dir, device="cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 real Kaggle patches (8 tumour, 8 normal) with their labels.csv."""
    src = Path(__file__).parent / "data" / "kaggle"
    return copy_balanced_patches(src, tmp_path_factory.mktemp("patches"), 8)


def test_model_views_are_the_flipped_patches_scores(folder: Path, tiny: Classifier) -> None:
    from pathview.io import read_patch

    pixels = np.stack([read_patch(p).pixels for p in sorted(folder.glob("*.tif"))[:3]])  # type: ignore[misc]
    tta = tiny.predict(pixels, tta=True)
    assert tta.views is not None and tta.views.shape == (3, 8) and tta.views.dtype == np.float32
    nchw = torch.from_numpy(pixels).permute(0, 3, 1, 2)
    for k in range(8):
        flipped = np.ascontiguousarray(dihedral_view(nchw, k).permute(0, 2, 3, 1).numpy())
        np.testing.assert_allclose(tta.views[:, k], tiny.predict(flipped).p, atol=1e-5)
    np.testing.assert_array_equal(tta.views[:, 0], tiny.predict(pixels).p)
    np.testing.assert_allclose(tta.views.mean(axis=1), tta.p, atol=1e-6)


def test_score_folder_keeps_the_views_of_the_same_pass(
    folder: Path, tiny: Classifier, tmp_path: Path
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    for path in sorted(folder.glob("*.tif"))[:5]:
        shutil.copy(path, small / path.name)
    plain = score_folder(small, tiny, batch_size=3)
    assert plain.views is None
    result = score_folder(small, tiny, batch_size=3, views=True)
    assert result.ids == plain.ids and result.model_id == tiny.model_id
    np.testing.assert_array_equal(result.p, plain.p)  # views alone leave p the plain score
    assert result.spread is None
    assert result.views is not None and result.views.shape == (len(result.ids), 8)
    np.testing.assert_array_equal(result.views[:, 0], plain.p)
    tta = score_folder(small, tiny, batch_size=3, tta=True)
    assert tta.views is not None
    np.testing.assert_array_equal(tta.views, result.views)
    np.testing.assert_allclose(tta.views.mean(axis=1), tta.p, atol=1e-6)


# ------------------------------------------------------------------------------ = score CLI


def test_report_numbers_equal_score_cli_output(
    folder: Path,
    tiny_dir: Path,
    tiny: Classifier,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pathview.cli import main
    from pathview.io import read_labels

    labels = folder / "labels.csv"
    common = ["--model", str(tiny_dir), "--device", "cpu"]
    assert (
        main(
            [
                "score",
                str(folder),
                "--out",
                str(tmp_path / "s.csv"),
                "--labels",
                str(labels),
                *common,
            ]
        )
        == 0
    )
    score_out = capsys.readouterr().out
    expected = re.search(r"AUC \S+  accuracy \S+", score_out)
    assert expected is not None

    result = score_folder(folder, tiny)
    report = build_report(result.ids, result.p, read_labels(labels).labels, source="truth")
    assert score_line(report.evaluations[0]) == expected.group(0)

    out = tmp_path / "r.html"
    assert main(["report", str(folder), "--out", str(out), "--labels", str(labels), *common]) == 0
    report_out = capsys.readouterr().out
    assert f"truth: {expected.group(0)}  on 16 labelled patches (8 tumour)" in report_out
    auc = expected.group(0).split()[1]
    assert f"AUC {auc}" in out.read_text()


def test_calibrated_ece_floor_is_the_noise_of_a_perfect_model() -> None:
    rng = np.random.default_rng(5)
    p = rng.beta(0.3, 0.3, 1000)  # mostly confident, as a good classifier's P are
    floor = calibrated_ece_floor(p)
    # Labels drawn from P: the measured ECE of a calibrated model scatters around the floor ...
    measured = [
        expected_calibration_error(p, (rng.random(p.size) < p).astype(int)) for _ in range(50)
    ]
    assert 0.5 * floor < float(np.median(measured)) < 1.5 * floor
    # ... which shrinks with more patches (about as 1 / sqrt(n)) and is 0 for certain calls.
    assert calibrated_ece_floor(np.tile(p, 16)) < 0.5 * floor
    assert calibrated_ece_floor(np.array([0.0, 1.0, 1.0])) == 0.0
    assert math.isnan(calibrated_ece_floor(np.array([])))
    with pytest.raises(ValueError, match="draws"):
        calibrated_ece_floor(p, draws=0)
