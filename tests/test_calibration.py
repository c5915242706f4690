"""Post-hoc calibration: Platt scaling fitted on held-out logits, folded into the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pathview.model.network import PatchNet
from pathview.stats import fit_platt, fit_temperature, roc_auc, sigmoid
from pathview.training.train import ARCHITECTURES, calibrate, shift_prior


def _sample(scale: float, offset: float, n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 3.0, n)
    y = (rng.random(n) < sigmoid(scale * z + offset)).astype(np.int64)
    return z, y


def test_platt_recovers_the_generating_scale_and_offset() -> None:
    z, y = _sample(0.5, -1.0)
    a, b = fit_platt(z, y)
    assert a == pytest.approx(0.5, abs=0.03)
    assert b == pytest.approx(-1.0, abs=0.06)


def test_platt_without_offset_agrees_with_temperature_scaling() -> None:
    z, y = _sample(0.4, 0.0)
    a, b = fit_platt(z, y)
    assert b == pytest.approx(0.0, abs=0.05)
    assert 1.0 / a == pytest.approx(fit_temperature(z, y), rel=0.02)


def test_platt_needs_both_classes() -> None:
    with pytest.raises(ValueError):
        fit_platt(np.array([0.1, 2.0, 3.0]), np.array([1, 1, 1]))


def test_calibrate_folds_the_offset_into_the_network() -> None:
    torch.manual_seed(0)
    net = PatchNet(ARCHITECTURES["pv-tiny"]).eval()
    x = torch.rand(64, 3, 96, 96)
    with torch.no_grad():
        z = net(x).numpy().astype(np.float64)
    # Labels from a shifted, rescaled version of the logits: the fit must find that shift.
    rng = np.random.default_rng(1)
    centred = (z - z.mean()) / (z.std() + 1e-9)
    y = (rng.random(z.size) < sigmoid(2.0 * centred + 1.0)).astype(np.int64)
    a, b = fit_platt(z, y)
    temperature, record = calibrate(net, z, y, "platt", "test logits")
    assert temperature == pytest.approx(1.0 / a)
    assert record["offset_b"] == pytest.approx(b, abs=1e-5)
    with torch.no_grad():
        folded = net(x).numpy().astype(np.float64)
    # Every consumer computes sigmoid(logit / T): it now equals the Platt probability.
    np.testing.assert_allclose(sigmoid(folded / temperature), sigmoid(a * z + b), atol=1e-5)
    assert record["after"]["auc"] == record["before"]["auc"]  # a monotone map: same ranking


def test_temperature_method_leaves_the_weights_alone() -> None:
    torch.manual_seed(0)
    net = PatchNet(ARCHITECTURES["pv-tiny"]).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    z, y = _sample(0.5, 0.0, 500)
    temperature, record = calibrate(net, z, y, "temperature", "test logits")
    assert temperature == pytest.approx(fit_temperature(z, y))
    assert "temperature scaling" in record["method"]
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key])


def test_prior_shift_retargets_probabilities_by_bayes_rule() -> None:
    """Calibrated on balanced held-out patches, shifted to 40% tumour: the odds of every
    patch are multiplied by (0.4 / 0.6) / (pi / (1 - pi)), pi the held-out prevalence."""
    torch.manual_seed(0)
    net = PatchNet(ARCHITECTURES["pv-tiny"]).eval()
    x = torch.rand(32, 3, 96, 96)
    with torch.no_grad():
        before = net(x).numpy().astype(np.float64)
    labels = np.array([0, 1] * 16)
    temperature = 1.7
    record = shift_prior(net, temperature, before / temperature, labels, 0.4, "test")
    with torch.no_grad():
        after = net(x).numpy().astype(np.float64)
    p_before, p_after = sigmoid(before / temperature), sigmoid(after / temperature)
    odds_ratio = (p_after / (1 - p_after)) / (p_before / (1 - p_before))
    np.testing.assert_allclose(odds_ratio, (0.4 / 0.6) / 1.0, rtol=1e-4)
    assert record["from_prevalence"] == 0.5 and record["to_prevalence"] == 0.4
    assert record["logit_offset"] == pytest.approx(np.log(0.4 / 0.6), abs=1e-6)
    assert record["heldout_after"]["auc"] == pytest.approx(roc_auc(p_before, labels))
    with pytest.raises(ValueError, match="between 0 and 1"):
        shift_prior(net, temperature, before, labels, 1.0, "test")
    with pytest.raises(ValueError, match="both classes"):
        shift_prior(net, temperature, before, np.ones(32, np.int64), 0.4, "test")
