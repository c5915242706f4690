"""The review queue's strategies (pathview.triage.queue): pure functions on planted pools."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pathview.triage import STRATEGIES, next_to_review
from pathview.triage.queue import AUTO_RANDOM_EVERY, k_center


def planted_pool(n: int = 200, seed: int = 1) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A pool where the model is confident and right on most patches and near 0.5 (and
    wrong) on every 20th: ids, calibrated P, truth."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    p = np.where(truth == 1, rng.uniform(0.85, 0.99, n), rng.uniform(0.01, 0.15, n))
    wrong = np.arange(0, n, 20)
    p[wrong] = np.where(truth[wrong] == 1, rng.uniform(0.40, 0.49, wrong.size), 0.55)
    ids = [f"patch-{i:04d}" for i in range(n)]
    return ids, p, truth


def test_uncertainty_puts_the_models_planted_errors_first() -> None:
    ids, p, truth = planted_pool()
    queue = next_to_review(ids, p, 10, strategy="uncertainty")
    assert len(queue) == 10
    rows = [ids.index(i) for i in queue]
    assert all(row % 20 == 0 for row in rows)  # every one a planted error
    assert all((p[r] >= 0.5) != bool(truth[r]) for r in rows)
    margins = [abs(p[r] - 0.5) for r in rows]
    assert margins == sorted(margins)  # most uncertain first


def test_reviewed_ids_are_skipped_by_every_strategy() -> None:
    ids, p, _ = planted_pool(60)
    rng = np.random.default_rng(0)
    views = np.clip(p[:, None] + rng.normal(0, 0.05, (60, 8)), 0, 1)
    emb = rng.normal(size=(60, 5))
    reviewed = set(ids[::2])
    for strategy in STRATEGIES:
        queue = next_to_review(
            ids, p, 100, strategy=strategy, reviewed=reviewed, views=views, embeddings=emb
        )
        assert sorted(queue) == sorted(set(ids) - reviewed), strategy  # all 30 others, once
    assert next_to_review(ids, p, 5, "uncertainty", reviewed=set(ids)) == []


def test_ties_are_broken_by_id_whatever_the_input_order() -> None:
    ids = ["c", "a", "d", "b"]
    p = np.array([0.4, 0.6, 0.4, 0.6])  # all four equally uncertain
    assert next_to_review(ids, p, 4, "uncertainty") == ["a", "b", "c", "d"]
    order = [3, 1, 0, 2]
    again = next_to_review([ids[i] for i in order], p[order], 4, "uncertainty")
    assert again == ["a", "b", "c", "d"]
    assert next_to_review(ids, p, 4, "balanced") == ["a", "c", "b", "d"]


def test_random_is_reproducible_with_a_seed_and_independent_of_input_order() -> None:
    ids, p, _ = planted_pool(100)
    first = next_to_review(ids, p, 20, "random", seed=7)
    assert first == next_to_review(ids, p, 20, "random", seed=7)
    assert first != next_to_review(ids, p, 20, "random", seed=8)
    rev = list(reversed(range(100)))
    assert first == next_to_review([ids[i] for i in rev], p[rev], 20, "random", seed=7)
    # Not the uncertainty order: a random sample of the pool.
    assert first != next_to_review(ids, p, 20, "uncertainty")


def test_diverse_never_queues_two_identical_embeddings_together() -> None:
    # 10 distinct tissue types, each present 3 times with identical embeddings and nearly
    # the same P: uncertainty alone would queue the copies side by side.
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(10, 16))
    emb = np.repeat(centres, 3, axis=0)
    p = np.repeat(np.linspace(0.45, 0.2, 10), 3) + np.tile([0.0, -0.001, -0.002], 10)
    ids = [f"id{i:02d}" for i in range(30)]
    plain = next_to_review(ids, p, 10, "uncertainty")
    assert plain[:3] == ["id00", "id01", "id02"]  # the three copies first
    queue = next_to_review(ids, p, 10, "diverse", embeddings=emb)
    assert queue[0] == "id00"  # the most uncertain leads
    groups = [int(i[2:]) // 3 for i in queue]
    # The candidates are the 30 most uncertain (3 x 10): each of their groups once.
    assert len(set(groups)) == len(groups)
    assert all(a != b for a, b in itertools.pairwise(groups))


def test_k_center_takes_a_duplicate_only_after_every_distinct_point() -> None:
    pts = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    order = k_center(pts, 4, np.arange(4)).tolist()
    assert order == [0, 3, 2, 1]


def test_tta_puts_views_that_disagree_first() -> None:
    ids = ["stable", "split", "wobbly", "flipped"]
    p = np.array([0.5, 0.5, 0.5, 0.5])
    views = np.array(
        [
            [0.9] * 8,  # confident, every view agrees
            [0.9] * 4 + [0.1] * 4,  # half the views on each side
            [0.8, 0.9] * 4,  # spread, but one side
            [0.9] * 7 + [0.2],  # one view on the other side
        ]
    )
    assert next_to_review(ids, p, 4, "tta", views=views) == ["split", "flipped", "wobbly", "stable"]


def test_balanced_alternates_the_predicted_classes() -> None:
    ids, p, _ = planted_pool(100)
    queue = next_to_review(ids, p, 20, "balanced")
    classes = [p[ids.index(i)] >= 0.5 for i in queue]
    assert all(a != b for a, b in itertools.pairwise(classes))
    tumour = [i for i in queue if p[ids.index(i)] >= 0.5]
    margins = [abs(p[ids.index(i)] - 0.5) for i in tumour]
    assert margins == sorted(margins)  # uncertainty within a class


def test_auto_mixes_uncertain_patches_with_a_random_share() -> None:
    ids, p, _ = planted_pool(200)
    emb = np.random.default_rng(0).normal(size=(200, 8))  # no two alike
    queue = next_to_review(ids, p, 30, "auto", embeddings=emb, seed=1)
    assert len(queue) == len(set(queue)) == 30
    assert queue == next_to_review(ids, p, 30, "auto", embeddings=emb, seed=1)
    # Nine slots in ten in uncertainty order (the planted errors lead); every tenth slot a
    # random patch from outside those 27.
    main = next_to_review(ids, p, 27, "uncertainty")
    random_slots = queue[AUTO_RANDOM_EVERY - 1 :: AUTO_RANDOM_EVERY]
    assert [i for i in queue if i not in random_slots] == main
    assert len(random_slots) == 3 and not set(random_slots) & set(main)
    assert set(queue[:9]) <= {ids[i] for i in range(0, 200, 20)}
    assert random_slots != next_to_review(ids, p, 30, "auto", embeddings=emb, seed=2)[9::10]
    # Without embeddings, and below 10 slots: uncertainty alone.
    assert next_to_review(ids, p, 9, "auto") == next_to_review(ids, p, 9, "uncertainty")


def test_auto_defers_a_near_duplicate_of_a_queued_patch() -> None:
    ids, p, _ = planted_pool(200)
    emb = np.random.default_rng(0).normal(size=(200, 8))
    plain = next_to_review(ids, p, 9, "uncertainty")
    first, second = ids.index(plain[0]), ids.index(plain[1])
    emb[second] = emb[first] * 1.01 + 1e-3  # the same tissue, re-encoded
    queue = next_to_review(ids, p, 9, "auto", embeddings=emb)
    assert queue[0] == plain[0] and plain[1] not in queue
    assert queue == [i for i in next_to_review(ids, p, 10, "uncertainty") if i != plain[1]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "smart"}, "unknown strategy 'smart'"),
        ({"count": 0}, "count must be at least 1"),
        ({"strategy": "tta"}, "score with TTA"),
        ({"strategy": "diverse"}, "needs the patches' embeddings"),
        ({"views": np.zeros((2, 8))}, "views must be 3 x 8"),
    ],
)
def test_bad_inputs_are_refused_with_the_reason(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"count": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        next_to_review(["a", "b", "c"], np.array([0.1, 0.5, 0.9]), **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique"):
        next_to_review(["a", "a"], np.array([0.1, 0.2]), 1)
