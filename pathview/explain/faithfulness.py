"""How faithful a heat map is to the model: does the model's evidence really sit where the map
is hot? Two measures, both on preprocessed inputs of a single-logit network (no Qt).

Occlusion agreement (:func:`occlusion_drops`, :func:`occlusion_agreement`)
    The patch is cut into ``cell`` x ``cell`` squares (12 x 12 squares of 8 pixels on a 96 px
    patch); each square in turn is replaced by the normalised input's zero (the training
    set's mean colour) and the drop in the explained logit (``sign * logit``, sign fixed by
    the unoccluded prediction) is measured. A faithful map ranks the squares as the drops do:
    the score is the Spearman rank correlation between the map's mean per square and the
    drop, in [-1, 1] (1: the map orders the squares exactly as occluding them hurts).

ROAD (:func:`road_scores`)
    pytorch-grad-cam's ``ROADCombined`` (Rong et al., "A Consistent and Efficient Evaluation
    Strategy for Attribution Methods", ICML 2022): the pixels the map ranks highest
    (MoRF) or lowest (LeRF) are removed at several percentiles and filled in by noisy linear
    imputation, so the removal itself carries little information; the score is
    ``(LeRF change - MoRF change) / 2`` of the explained logit, higher is better (removing
    what the map calls important hurts more than removing what it calls unimportant).

A map with no localised evidence (:class:`pathview.explain.ExplainStatus.NO_EVIDENCE`) scores
0 on both: it tells the reviewer nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from pathview.explain.cam import LogitTarget, model_lock

#: Side of an occluded square on a 96 px patch: 8 px gives 12 x 12 squares.
OCCLUSION_CELL = 8
#: Percentiles ROAD removes at (pytorch-grad-cam's default is 10..90 in steps of 10; four
#: levels keep the benchmark to minutes on a 2-core CPU).
ROAD_PERCENTILES = (20, 40, 60, 80)


def explained_signs(network: nn.Module, inputs: torch.Tensor) -> np.ndarray:
    """+1 where the network calls tumour (logit >= 0), -1 for normal: the class a map with
    target "predicted" explains."""
    with model_lock(network), torch.inference_mode():
        logits = network(inputs).reshape(len(inputs), -1)[:, 0]
    return np.where(logits.cpu().numpy() >= 0, 1.0, -1.0)


def occlusion_drops(
    network: nn.Module,
    inputs: torch.Tensor,
    signs: Sequence[float],
    cell: int = OCCLUSION_CELL,
    batch_size: int = 144,
) -> np.ndarray:
    """Per patch, the drop in ``sign * logit`` when each ``cell`` x ``cell`` square is set to 0
    (the normalised mean colour): N x (H / cell) x (W / cell), positive where occluding hurts
    the explained class."""
    n, _, h, w = inputs.shape
    if h % cell or w % cell:
        raise ValueError(f"a {h} x {w} input does not divide into {cell} px squares")
    gh, gw = h // cell, w // cell
    out = np.zeros((n, gh, gw), dtype=np.float64)
    with model_lock(network), torch.inference_mode():
        base = network(inputs).reshape(n, -1)[:, 0].double().cpu().numpy()
        for i in range(n):
            variants = inputs[i].unsqueeze(0).repeat(gh * gw, 1, 1, 1)
            for k in range(gh * gw):
                y, x = divmod(k, gw)
                variants[k, :, y * cell : (y + 1) * cell, x * cell : (x + 1) * cell] = 0.0
            logits = torch.cat(
                [
                    network(variants[s : s + batch_size]).reshape(-1)
                    for s in range(0, len(variants), batch_size)
                ]
            )
            occluded = logits.double().cpu().numpy().reshape(gh, gw)
            out[i] = float(signs[i]) * (base[i] - occluded)
    return out


def cell_means(heatmap: np.ndarray, cell: int = OCCLUSION_CELL) -> np.ndarray:
    """The map's mean over each ``cell`` x ``cell`` square."""
    h, w = heatmap.shape
    return heatmap.reshape(h // cell, cell, w // cell, cell).mean(axis=(1, 3))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equal-sized arrays (average ranks for ties); 0 when
    either is constant."""
    ra, rb = _ranks(a.ravel()), _ranks(b.ravel())
    ra -= ra.mean()
    rb -= rb.mean()
    denom = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return 0.0 if denom == 0.0 else float((ra * rb).sum() / denom)


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    # Ties share their average rank.
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def occlusion_agreement(
    heatmaps: Sequence[np.ndarray | None], drops: np.ndarray, cell: int = OCCLUSION_CELL
) -> np.ndarray:
    """Per patch, the Spearman correlation between the map's square means and the occlusion
    drops (0 for a patch without a map)."""
    return np.array(
        [
            0.0 if m is None else spearman(cell_means(m, cell), d)
            for m, d in zip(heatmaps, drops, strict=True)
        ]
    )


def road_scores(
    network: nn.Module,
    inputs: torch.Tensor,
    heatmaps: Sequence[np.ndarray | None],
    signs: Sequence[float],
    percentiles: Sequence[int] = ROAD_PERCENTILES,
    seed: int = 0,
) -> np.ndarray:
    """Per patch, pytorch-grad-cam's ROAD combined score of the map for the explained logit
    (0 for a patch without a map); seeded (the imputation adds noise)."""
    from pytorch_grad_cam.metrics.road import ROADCombined

    scores = np.zeros(len(heatmaps), dtype=np.float64)
    rows = [i for i, m in enumerate(heatmaps) if m is not None]
    if not rows:
        return scores
    cams = np.stack([np.asarray(heatmaps[i], dtype=np.float32) for i in rows])
    targets = [LogitTarget(float(signs[i])) for i in rows]
    torch.manual_seed(seed)
    with model_lock(network), torch.inference_mode(), warnings.catch_warnings():
        # pytorch-grad-cam 1.5 passes a torch tensor to np.argwhere, which NumPy 2 deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        combined = ROADCombined(percentiles=list(percentiles))
        got = combined(inputs[rows], cams, targets, network)
    scores[rows] = np.asarray(got, dtype=np.float64).reshape(-1)
    return scores
