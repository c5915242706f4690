"""Embedding maths, numpy only: a 2-D projection (PCA), k-means clusters and cosine nearest
neighbours of the network's penultimate features (one row per patch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Rows PCA fits its axes on at most (a seeded sample); every row is projected. 20,000 rows
#: of 128 features pin the two leading axes as well as all 220,025 do, in a tenth of the time.
PCA_FIT_ROWS = 20000


def pca_2d(x: np.ndarray, fit_rows: int = PCA_FIT_ROWS, seed: int = 0) -> np.ndarray:
    """Project the rows of ``x`` (N x C) onto their two leading principal axes (numpy SVD of
    the centred rows, fitted on a seeded sample of ``fit_rows`` rows when there are more):
    float32 (N, 2). Each axis's sign is fixed (its largest loading positive), so the same data
    always gives the same picture. Fewer than two rows or features give zeros in the missing
    columns."""
    a = np.asarray(x, dtype=np.float32)
    n = len(a)
    out = np.zeros((n, 2), np.float32)
    if n < 2 or a.ndim != 2 or a.shape[1] == 0:
        return out
    fit = a
    if n > fit_rows:
        pick = np.random.default_rng(seed).choice(n, fit_rows, replace=False)
        fit = a[np.sort(pick)]
    mean = fit.mean(axis=0, dtype=np.float64).astype(np.float32)
    _, _, vt = np.linalg.svd(fit - mean, full_matrices=False)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    axes = axes * np.where(signs == 0, 1, signs)[:, None]
    out[:, : len(axes)] = (a - mean) @ axes.T.astype(np.float32)
    return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32; a zero row stays zero)."""
    a = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return np.divide(a, norms, out=np.zeros_like(a), where=norms > 0)


def row_norms(x: np.ndarray) -> np.ndarray:
    """The Euclidean length of each row (float32), without a squared copy of ``x``."""
    a = np.asarray(x, dtype=np.float32)
    return np.sqrt(np.einsum("ij,ij->i", a, a))


def cosine_neighbours(
    x: np.ndarray,
    row: int,
    k: int = 8,
    candidates: np.ndarray | None = None,
    unit: bool = False,
    norms: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``x`` most similar to row ``row`` by cosine similarity, most similar
    first, ``row`` itself left out; ``candidates`` (boolean (N,)) limits the rows considered.
    ``unit``: the rows are already :func:`unit_rows` (one matrix-vector product then, which
    a caller asking many times should prepare once); ``norms``: the rows' :func:`row_norms`,
    when known (the same products without a unit copy of ``x``). Returns (rows int64, similarities
    float32). Ties go to the lower row."""
    a = np.asarray(x, dtype=np.float32)
    if unit:
        sims = a @ a[row]
    else:
        q = unit_rows(a[row : row + 1])[0]
        norms = row_norms(a) if norms is None else np.asarray(norms, np.float32)
        sims = np.divide(a @ q, norms, out=np.full(len(a), -np.inf, np.float32), where=norms > 0)
    sims[row] = -np.inf
    if candidates is not None:
        sims[~np.asarray(candidates, bool)] = -np.inf
    k = min(k, int(np.isfinite(sims).sum()))
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    top = np.argpartition(-sims, k - 1)[:k]
    order = np.lexsort((top, -sims[top]))
    rows = top[order].astype(np.int64)
    return rows, sims[rows].astype(np.float32)


@dataclass(frozen=True)
class Clusters:
    """k-means of N rows: ``labels`` int64 (N,) in 0..k-1 (numbered by size, largest first),
    ``centres`` float32 (k, C), ``sizes`` int64 (k,)."""

    labels: np.ndarray
    centres: np.ndarray
    sizes: np.ndarray


def _nearest(a: np.ndarray, centres: np.ndarray, chunk: int = 65536) -> np.ndarray:
    c2 = (centres * centres).sum(axis=1)
    out = np.empty(len(a), np.int64)
    for s in range(0, len(a), chunk):
        part = a[s : s + chunk]
        out[s : s + chunk] = (c2[None, :] - 2.0 * part @ centres.T).argmin(axis=1)
    return out


#: Rows k-means fits its centres on at most (a seeded sample); every row is then assigned.
KMEANS_FIT_ROWS = 20000


def kmeans(
    x: np.ndarray,
    k: int,
    seed: int = 0,
    iterations: int = 30,
    fit_rows: int = KMEANS_FIT_ROWS,
) -> Clusters:
    """Lloyd's k-means of the rows of ``x`` (N x C) with k-means++ seeding from a
    ``seed``-ed generator, at most ``iterations`` rounds (it stops when no row moves), fitted
    on a seeded sample of ``fit_rows`` rows when there are more (then every row goes to its
    nearest centre). ``k`` is capped at the number of distinct rows; an empty cluster takes the
    row farthest from its centre. Clusters are renumbered by size, largest first."""
    a = np.asarray(x, dtype=np.float32)
    n = len(a)
    if n == 0 or k <= 0:
        return Clusters(
            np.zeros(n, np.int64), np.zeros((0, a.shape[-1]), np.float32), np.zeros(0, np.int64)
        )
    rng = np.random.default_rng(seed)
    fit = a if n <= fit_rows else a[np.sort(rng.choice(n, fit_rows, replace=False))]
    k = int(min(k, len(np.unique(fit, axis=0))))
    centres = _lloyd(fit, k, rng, iterations)
    labels = _nearest(a, centres)
    sizes = np.bincount(labels, minlength=k)
    order = np.lexsort((np.arange(k), -sizes))
    rank = np.empty(k, np.int64)
    rank[order] = np.arange(k)
    return Clusters(rank[labels], centres[order], sizes[order].astype(np.int64))


def _lloyd(a: np.ndarray, k: int, rng: np.random.Generator, iterations: int) -> np.ndarray:
    n = len(a)
    centres = np.empty((k, a.shape[1]), np.float32)
    centres[0] = a[rng.integers(n)]
    d2 = ((a - centres[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        total = float(d2.sum())
        pick = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centres[j] = a[pick]
        d2 = np.minimum(d2, ((a - centres[j]) ** 2).sum(axis=1))
    labels = _nearest(a, centres)
    for _ in range(iterations):
        sums = np.zeros_like(centres, dtype=np.float64)
        np.add.at(sums, labels, a)
        counts = np.bincount(labels, minlength=k)
        for j in np.flatnonzero(counts == 0).tolist():  # empty: take the worst-fitting row
            far = int(((a - centres[labels]) ** 2).sum(axis=1).argmax())
            sums[j], counts[j] = a[far], 1
            labels[far] = j
        centres = (sums / counts[:, None]).astype(np.float32)
        new = _nearest(a, centres)
        if np.array_equal(new, labels):
            break
        labels = new
    return centres
