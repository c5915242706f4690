"""Reviewer agreement against textbook examples and a store."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pathview.core import Verdict
from pathview.stats import cohen_kappa, fleiss_kappa
from pathview.store import ReviewInput, ReviewStore
from pathview.store.agreement import reviewer_agreement


def test_cohen_kappa_textbook() -> None:
    # 50 proposals, two readers: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> kappa 0.4.
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


@pytest.mark.slow
def test_cohen_kappa_against_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    a = [0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1]
    b = [0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1]
    assert cohen_kappa(a, b) == pytest.approx(metrics.cohen_kappa_score(a, b))


def test_cohen_kappa_edge_cases() -> None:
    assert cohen_kappa([1, 0, 1], [1, 0, 1]) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa([1, 1], [1, 1]))
    with pytest.raises(ValueError):
        cohen_kappa([1], [1, 0])


def test_fleiss_kappa_textbook() -> None:
    # Fleiss (1971)-style worked example: 10 subjects, 14 raters, 5 categories -> 0.210.
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)
    with pytest.raises(ValueError):
        fleiss_kappa([[1, 1], [2, 1]])


def test_reviewer_agreement_from_a_store(tmp_path: Path) -> None:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        for pid, ann, bob in [("a", 1, 1), ("b", 0, 0), ("c", 1, 0), ("d", 0, 0)]:
            store.record(
                ReviewInput(pid, Verdict.AGREE if ann else Verdict.DISAGREE, "ann", p_tumour=0.9)
            )
            store.record(
                ReviewInput(pid, Verdict.AGREE if bob else Verdict.DISAGREE, "bob", p_tumour=0.9)
            )
        store.record(ReviewInput("e", Verdict.AGREE, "ann", p_tumour=0.9))  # bob never saw it
        store.record(ReviewInput("f", Verdict.UNSURE, "ann", p_tumour=0.9))
        store.record(ReviewInput("f", Verdict.AGREE, "bob", p_tumour=0.9))
        result = reviewer_agreement(store)
        assert result.reviewers == ("ann", "bob") and result.method == "cohen"
        assert result.shared_patches == 4
        assert result.observed_agreement == pytest.approx(0.75)
        assert result.kappa == pytest.approx(cohen_kappa([1, 0, 1, 0], [1, 0, 0, 0]))
        store.record(ReviewInput("a", Verdict.AGREE, "cat", p_tumour=0.9))
        store.record(ReviewInput("b", Verdict.AGREE, "cat", p_tumour=0.9))
        three = reviewer_agreement(store)
        assert three.method == "fleiss" and three.shared_patches == 2
        assert three.kappa == pytest.approx(fleiss_kappa([[0, 3], [2, 1]]))
