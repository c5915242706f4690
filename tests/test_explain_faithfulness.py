"""Faithfulness of heat maps (occlusion agreement, ROAD): a map of where the model really looks
scores higher than one of where it does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from support.bench import load_benchmark
from torch import nn

from pathview.explain.faithfulness import (
    cell_means,
    explained_signs,
    occlusion_agreement,
    occlusion_drops,
    road_scores,
    spearman,
)


class TopLeftNet(nn.Module):
    """Its logit is the mean of channel 0 in the top-left quadrant (x 10) minus 1."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x[:, 0, :48, :48].mean(dim=(1, 2)) - 1.0


def inputs(n: int = 3) -> torch.Tensor:
    return torch.rand(n, 3, 96, 96, generator=torch.Generator().manual_seed(0)) + 0.5


def maps() -> tuple[np.ndarray, np.ndarray]:
    right = np.zeros((96, 96), np.float32)
    right[:48, :48] = 1.0
    wrong = np.zeros((96, 96), np.float32)
    wrong[48:, 48:] = 1.0
    return right, wrong


def test_spearman_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, 60).astype(float)
    b = a + rng.normal(0, 2, 60)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert spearman(np.ones(5), np.arange(5.0)) == 0.0


def test_occlusion_finds_where_the_model_looks() -> None:
    net, x = TopLeftNet().eval(), inputs()
    signs = explained_signs(net, x)
    assert (signs == 1.0).all()  # mean 1 x 10 - 1 > 0: tumour
    drops = occlusion_drops(net, x, signs)
    assert drops.shape == (3, 12, 12)
    assert (drops[:, :6, :6] > 0).all() and np.allclose(drops[:, 6:, :], 0.0, atol=1e-6)
    right, wrong = maps()
    assert cell_means(right).shape == (12, 12)
    good, bad = (occlusion_agreement([m] * 3, drops) for m in (right, wrong))
    assert (good > 0.5).all() and (bad < 0).all()
    assert occlusion_agreement([None], drops[:1]).tolist() == [0.0]  # no map: no credit


@pytest.mark.slow
def test_road_ranks_the_right_map_above_the_wrong_one() -> None:
    net, x = TopLeftNet().eval(), inputs(2)
    signs = explained_signs(net, x)
    right, wrong = maps()
    good = road_scores(net, x, [right, right], signs, percentiles=(25, 75))
    bad = road_scores(net, x, [wrong, None], signs, percentiles=(25, 75))
    assert (good > 0).all() and good.min() > bad.max()
    assert bad[1] == 0.0
    again = road_scores(net, x, [right, right], signs, percentiles=(25, 75))
    assert np.array_equal(good, again)  # seeded imputation noise


def test_the_benchmark_ranks_by_both_measures() -> None:
    bench = load_benchmark("bench_explain_faithfulness")
    rows = [
        {"method": "a", "layer": "x", "road": np.array([1.0]), "occlusion": np.array([0.1])},
        {"method": "b", "layer": "x", "road": np.array([0.9]), "occlusion": np.array([0.3])},
        {"method": "c", "layer": "x", "road": np.array([0.2]), "occlusion": np.array([0.2])},
    ]
    ranked = bench.ranked(rows)
    assert [r["method"] for r in ranked] == ["b", "a", "c"]
    assert [r["rank"] for r in ranked] == [1.5, 2.0, 2.5]  # ROAD 2,1,3 and occlusion 1,3,2
    tied = bench.ranked(rows[:2])  # ranks 1.5 each: the better ROAD first
    assert [r["method"] for r in tied] == ["a", "b"]
