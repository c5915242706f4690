"""Classification metrics and calibration fits in plain numpy (no sklearn at run time).

All functions take P(tumour) or tumour logits and 0/1 labels as 1-D array-likes.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def scores_and_labels(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Scores as 1-D float64 and labels as 1-D int64; ValueError unless the lengths match and
    every label is 0 or 1."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(np.int64)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return s, y


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U; tied scores count one half).

    Returns NaN when only one class is present.
    """
    s, y = scores_and_labels(scores, labels)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(s.size, dtype=np.float64)
    # Average ranks (1-based) over runs of tied scores.
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [s.size]))
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def accuracy(probs: ArrayLike, labels: ArrayLike, threshold: float = 0.5) -> float:
    """Fraction of patches whose call (P >= threshold means tumour) matches the label."""
    p, y = scores_and_labels(probs, labels)
    if y.size == 0:
        return float("nan")
    return float(((p >= threshold).astype(np.int64) == y).mean())


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> float:
    """ECE of P(tumour) over ``n_bins`` equal-width bins: sum_b |B|/N * |mean(y) - mean(p)|."""
    p, y = scores_and_labels(probs, labels)
    if y.size == 0:
        return float("nan")
    bins = np.clip((p * n_bins).astype(np.int64), 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += mask.sum() / y.size * abs(y[mask].mean() - p[mask].mean())
    return float(total)


def calibrated_ece_floor(
    probs: ArrayLike, n_bins: int = 15, draws: int = 200, seed: int = 0
) -> float:
    """The ECE a perfectly calibrated model giving these P(tumour) would still show: the mean
    ECE over ``draws`` label sets drawn as Bernoulli(P). It needs no labels, and it is how
    much of a measured ECE is the sampling noise of ``len(probs)`` patches (on 700-1,000
    patches of the bundled model it is 0.02-0.03, so a smaller ECE cannot be told apart
    there)."""
    p = np.asarray(probs, dtype=np.float64).ravel()
    if p.size == 0:
        return float("nan")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, not {draws}")
    rng = np.random.default_rng(seed)
    return float(
        np.mean(
            [
                expected_calibration_error(p, (rng.random(p.size) < p).astype(np.int64), n_bins)
                for _ in range(draws)
            ]
        )
    )


def sigmoid(x: ArrayLike) -> np.ndarray:
    """Numerically stable logistic function."""
    z = np.asarray(x, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def binary_nll(logits: ArrayLike, labels: ArrayLike, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under sigmoid(logits / temperature)."""
    z, y = scores_and_labels(logits, labels)
    z = z / temperature
    # log(1 + exp(-z)) for y=1, log(1 + exp(z)) for y=0, computed stably.
    signed = np.where(y == 1, -z, z)
    return float(np.mean(np.logaddexp(0.0, signed)))


def fit_temperature(logits: ArrayLike, labels: ArrayLike) -> float:
    """Temperature T > 0 minimising the NLL of sigmoid(logit / T) (golden-section on log T)."""
    z, y = scores_and_labels(logits, labels)
    lo, hi = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5) - 1) / 2

    def f(log_t: float) -> float:
        return binary_nll(z, y, math.exp(log_t))

    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return float(math.exp((a + b) / 2))


def soft_nll(logits: ArrayLike, targets: ArrayLike, temperature: float = 1.0) -> float:
    """Mean cross-entropy of probability targets in [0, 1] under sigmoid(logits / T)."""
    z = np.asarray(logits, dtype=np.float64).ravel() / temperature
    t = np.asarray(targets, dtype=np.float64).ravel()
    if z.shape != t.shape:
        raise ValueError(f"{z.size} logits but {t.size} targets")
    return float(np.mean(t * np.logaddexp(0.0, -z) + (1 - t) * np.logaddexp(0.0, z)))


def fit_temperature_to(logits: ArrayLike, targets: ArrayLike) -> float:
    """Temperature T minimising :func:`soft_nll` against probability targets (e.g. another
    model's calibrated P on the same patches), golden-section on log T in [0.05, 20]."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    t = np.asarray(targets, dtype=np.float64).ravel()
    if t.size and ((t < 0) | (t > 1) | ~np.isfinite(t)).any():
        raise ValueError("targets must be probabilities in [0, 1]")
    lo, hi = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = soft_nll(z, t, math.exp(c)), soft_nll(z, t, math.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = soft_nll(z, t, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = soft_nll(z, t, math.exp(d))
    return float(math.exp((a + b) / 2))


def fit_platt(logits: ArrayLike, labels: ArrayLike, iterations: int = 100) -> tuple[float, float]:
    """Platt scaling: (scale a, offset b) minimising the NLL of sigmoid(a * logit + b).

    A one-feature logistic regression fitted by Newton's method (with a tiny ridge on the
    Hessian for stability). Temperature scaling is the special case b = 0, T = 1 / a; the
    offset also corrects a model whose logits are shifted, which a temperature cannot.
    Raises ValueError unless both classes are present.
    """
    z, y = scores_and_labels(logits, labels)
    if y.min() == y.max():
        raise ValueError("Platt scaling needs both classes")

    def nll(a: float, b: float) -> float:
        s = a * z + b
        return float(np.mean(np.logaddexp(0.0, np.where(y == 1, -s, s))))

    a, b = 1.0, 0.0
    current = nll(a, b)
    for _ in range(iterations):
        p = sigmoid(a * z + b)
        w = p * (1.0 - p)
        grad = np.array([np.mean((p - y) * z), np.mean(p - y)])
        hess = np.array(
            [[np.mean(w * z * z) + 1e-9, np.mean(w * z)], [np.mean(w * z), np.mean(w) + 1e-9]]
        )
        step = np.linalg.solve(hess, grad)
        t = 1.0  # backtracking: never accept a step that raises the NLL
        while t > 1e-6 and nll(a - t * step[0], b - t * step[1]) > current:
            t /= 2
        if t <= 1e-6:
            break
        a, b = a - t * float(step[0]), b - t * float(step[1])
        new = nll(a, b)
        if current - new < 1e-12:
            current = new
            break
        current = new
    return a, b


def summarise(probs: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """AUC, accuracy at 0.5 and ECE (15 bins) in one dict, rounded for metadata."""
    return {
        "n": int(np.asarray(labels).size),
        "auc": round(roc_auc(probs, labels), 5),
        "accuracy": round(accuracy(probs, labels), 5),
        "ece": round(expected_calibration_error(probs, labels), 5),
    }
