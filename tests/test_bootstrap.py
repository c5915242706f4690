"""Paired bootstrap comparison of two models and its verdict (pathview.stats.bootstrap)."""

from __future__ import annotations

import numpy as np
import pytest

from pathview.stats import fit_temperature_to, paired_bootstrap, roc_auc, sigmoid, soft_nll
from pathview.stats.bootstrap import BETTER, NO_CHANGE, WORSE, _auc_rows


def scored(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y.astype(float) * 1.5 + rng.normal(0, 1, n), y


def test_the_row_auc_matches_the_one_auc_with_ties() -> None:
    rng = np.random.default_rng(3)
    s = rng.integers(0, 5, (4, 50)).astype(float)  # many ties
    y = rng.integers(0, 2, (4, 50))
    assert np.allclose(_auc_rows(s, y), [roc_auc(s[r], y[r]) for r in range(4)])


def test_a_model_compared_with_itself_shows_no_measurable_change() -> None:
    s, y = scored()
    d = paired_bootstrap(s, s, y, resamples=300)
    assert d.delta == 0 and d.low == 0 and d.high == 0
    assert d.verdict == NO_CHANGE


def test_a_clearly_better_model_is_better_and_the_reverse_is_worse() -> None:
    s, y = scored()
    better = s + 1.0 * y  # separates the classes further
    up = paired_bootstrap(s, better, y, resamples=500)
    down = paired_bootstrap(better, s, y, resamples=500)
    assert up.verdict == BETTER and up.low > 0 and up.delta == pytest.approx(-down.delta)
    assert down.verdict == WORSE and down.high < 0
    assert up.parent == pytest.approx(roc_auc(s, y)) and up.new == pytest.approx(roc_auc(better, y))


def test_small_noise_on_few_patches_is_no_measurable_change() -> None:
    s, y = scored(n=80)
    noisy = s + np.random.default_rng(1).normal(0, 0.05, s.size)
    assert paired_bootstrap(s, noisy, y, resamples=500).verdict == NO_CHANGE


def test_for_calibration_error_lower_is_better() -> None:
    s, y = scored()
    good = sigmoid(s * 1.2)
    bad = sigmoid(s * 6.0)  # far over-confident
    assert paired_bootstrap(bad, good, y, metric="ece", resamples=300).verdict == BETTER
    assert paired_bootstrap(good, bad, y, metric="ece_tta", resamples=300).verdict == WORSE


def test_the_interval_is_seeded_and_bad_inputs_are_refused() -> None:
    s, y = scored()
    other = s + np.random.default_rng(2).normal(0, 0.5, s.size)
    first = paired_bootstrap(s, other, y, seed=4, resamples=300)
    assert first == paired_bootstrap(s, other, y, seed=4, resamples=300)
    with pytest.raises(ValueError, match="scores"):
        paired_bootstrap(s, other[:-1], y)
    with pytest.raises(ValueError, match="unknown metric"):
        paired_bootstrap(s, other, y, metric="f1")
    with pytest.raises(ValueError, match="no patches"):
        paired_bootstrap([], [], [])


def test_a_temperature_is_fitted_to_another_models_probabilities() -> None:
    z = np.random.default_rng(0).normal(0, 3, 2000)
    target = sigmoid(z / 2.5)
    t = fit_temperature_to(z, target)
    assert t == pytest.approx(2.5, rel=1e-3)
    assert soft_nll(z, target, t) < soft_nll(z, target, 1.0)
    with pytest.raises(ValueError, match="probabilities"):
        fit_temperature_to(z[:3], [0.2, 1.5, 0.1])
