"""Exact and near-duplicate patches: a perceptual hash and grouping, numpy and OpenCV only.

**Exact duplicates** are patches with the same pixels: the same pixel SHA-1
(:func:`pathview.io.pixel_sha1`, which the scoring loop computes for the integrity check);
:func:`exact_groups` groups equal keys.

**Near-duplicates** are the same picture re-encoded (JPEG), flipped or rotated.
:func:`perceptual_hashes` gives each patch a 64-bit DCT hash (pHash: grey, area-resized to
32 x 32, the 8 x 8 lowest frequencies of its 2-D DCT, one bit per coefficient: above their
median or not) for each of its 8 flips/rotations, all from one DCT: flipping an image flips the
sign of its odd frequencies and transposing it transposes the coefficients, and the area
resize commutes with both, so view ``v``'s hash equals the hash of the flipped file exactly.

:func:`near_groups` joins two patches when one view's hash of the first is within
:data:`NEAR_DISTANCE` bits (Hamming distance) of the other's plain hash, and takes the
connected groups (union-find). Candidates come from multi-index hashing: the 64 bits are cut
into ``NEAR_DISTANCE + 1`` bands, and two hashes within ``NEAR_DISTANCE`` bits agree on at
least one whole band (pigeonhole), so only patches sharing a band value are compared. Sorting
each band once and a binary search per query keeps this near-linear: 220,000 patches group in
seconds. Identical hashes are collapsed first, so large sets of identical patches cost nothing.

Groups are numbered 1, 2, ... in the order of their first member; 0 means "in no group".

A blank patch (mostly background, :mod:`pathview.quality.measures`) is left out of
near-duplicate groups: its hash encodes little but a speck of tissue or the illumination, and
blank patches chain into false groups (4 of 4,961 distinct lossless Kaggle patches and 43 of
25,127 PCam JPEG patches did so, all blank). Its exact copies are still found by SHA-1.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import cv2
import numpy as np

from pathview.quality.measures import grey

#: Hashes within this many bits (of 64) are near-duplicates. Re-encoding a real patch as JPEG
#: at quality 90 or 75 moves its hash by at most 2 bits (quality 50: at most 4, 99% within 3);
#: two different real patches are 10 or more bits apart under every flip/rotation (measured on
#: the 304 fixture and demo patches). 3 keeps 16-bit bands (see :func:`near_pairs`).
NEAR_DISTANCE = 3
#: Side of the resized grey image the DCT is taken of, and of the block of frequencies kept.
HASH_SIZE = 32
LOW_FREQUENCIES = 8
#: Views per patch; view ``v`` flips the columns (bit 1 of ``v``), then the rows (bit 2), then
#: transposes (bit 4).
N_HASH_VIEWS = 8


def _dct_matrix(n: int, keep: int) -> np.ndarray:
    k = np.arange(keep)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


_DCT = _dct_matrix(HASH_SIZE, LOW_FREQUENCIES)
_SIGN = ((-1.0) ** np.arange(LOW_FREQUENCIES)).astype(np.float32)
_BITWISE_COUNT = getattr(np, "bitwise_count", None)
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _block_means(g: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """The means of the fy x fx blocks of N x H x W uint8 images (H, W multiples of fy, fx),
    float32, equal bit for bit to OpenCV's area resize of the float32 images: the block sums
    are whole numbers below 2**24, exact in any order, and OpenCV multiplies each by the
    float32 1 / (fy * fx). Summing strided slices in uint16 costs about 60% of casting the
    stack to float32 and resizing it (the sums fit: fy * fx * 255 < 2**16 for fy * fx <= 257)."""
    rows = g[:, 0::fy].astype(np.uint16)
    for i in range(1, fy):
        rows += g[:, i::fy]
    sums = rows[:, :, 0::fx].copy()
    for j in range(1, fx):
        sums += rows[:, :, j::fx]
    return sums.astype(np.float32) * np.float32(1.0 / (fy * fx))


def _resized_grey(pixels: np.ndarray, grey_levels: np.ndarray | None = None) -> np.ndarray:
    g = grey(pixels) if grey_levels is None else grey_levels
    h, w = g.shape[1:]
    fy, fx = h // HASH_SIZE, w // HASH_SIZE
    if h % HASH_SIZE == 0 and w % HASH_SIZE == 0 and fy * fx <= 257:
        # An area resize by a whole factor is a block mean (96 x 96: 3 x 3 blocks).
        return _block_means(g, fy, fx)
    return np.stack(
        [
            cv2.resize(img.astype(np.float32), (HASH_SIZE, HASH_SIZE), interpolation=cv2.INTER_AREA)
            for img in g
        ]
    )


def _pack(bits: np.ndarray) -> np.ndarray:
    """(..., 64) booleans -> (...) uint64, the first bit the highest."""
    packed = np.packbits(bits.astype(np.uint8), axis=-1)
    return packed.view(">u8")[..., 0].astype(np.uint64)


def _median_of_rows(values: np.ndarray) -> np.ndarray:
    """np.median over the last axis (keepdims), the same values: the mean of the two middle
    values of each sorted row (or the middle one). numpy's SIMD sort of short rows is about
    ten times faster than the partition np.median runs row by row."""
    k = values.shape[-1]
    ordered = np.sort(values, axis=-1)
    if k % 2:
        return ordered[..., k // 2 : k // 2 + 1]
    middle = ordered[..., k // 2 - 1] + ordered[..., k // 2]
    return (middle / middle.dtype.type(2))[..., None]


def perceptual_hashes(pixels: np.ndarray, grey_levels: np.ndarray | None = None) -> np.ndarray:
    """The 64-bit pHash of each of the 8 flips/rotations of N patches of one size
    (N x H x W x 3 uint8 RGB): uint64 (N, 8); column 0 is the patch as it is.
    ``grey_levels``: their :func:`pathview.quality.measures.grey` levels if already known."""
    small = _resized_grey(pixels, grey_levels)
    if len(small) == 0:
        return np.zeros((0, N_HASH_VIEWS), np.uint64)
    coeffs = _DCT @ small @ _DCT.T  # N x 8 x 8
    # Views 0-3 flip the columns and/or rows: signs of odd frequencies. Views 4-7 transpose
    # views 0-3, which keeps each one's median, so their bits are the transposed bits.
    flips = np.stack(
        [
            coeffs,
            coeffs * _SIGN[None, None, :],
            coeffs * _SIGN[None, :, None],
            coeffs * (_SIGN[:, None] * _SIGN[None, :])[None],
        ]
    )  # 4 x N x 8 x 8
    flat = flips.reshape(4, len(coeffs), -1)
    bits = (flat > _median_of_rows(flat)).reshape(flips.shape)
    views = np.concatenate([bits, bits.transpose(0, 1, 3, 2)])  # 8 x N x 8 x 8
    return _pack(views.reshape(N_HASH_VIEWS, len(coeffs), -1)).T.copy()


def perceptual_hashes_of(arrays: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """:func:`perceptual_hashes` over patches of any sizes, rows in the order of ``arrays``."""
    if isinstance(arrays, np.ndarray):
        return perceptual_hashes(arrays)
    out = np.zeros((len(arrays), N_HASH_VIEWS), np.uint64)
    by_size: dict[tuple[int, ...], list[int]] = {}
    for i, a in enumerate(arrays):
        by_size.setdefault(a.shape, []).append(i)
    for rows in by_size.values():
        out[rows] = perceptual_hashes(np.stack([arrays[i] for i in rows]))
    return out


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between uint64 hashes (broadcasting), as uint8."""
    x = np.bitwise_xor(np.asarray(a, np.uint64), np.asarray(b, np.uint64))
    if _BITWISE_COUNT is not None:  # numpy 2
        return np.asarray(_BITWISE_COUNT(x), dtype=np.uint8)
    x = np.ascontiguousarray(x)
    return _POPCOUNT[x.view(np.uint8).reshape(*x.shape, 8)].sum(axis=-1, dtype=np.uint8)


def _number_groups(root: np.ndarray) -> np.ndarray:
    """Per row the 1-based number of its group (groups of one are 0), numbered in the order
    of their first row."""
    _, first, inverse, counts = np.unique(
        root, return_index=True, return_inverse=True, return_counts=True
    )
    order = np.argsort(first, kind="stable")
    shared = counts[order] > 1
    number = np.zeros(len(first), np.int64)
    number[order[shared]] = np.arange(1, int(shared.sum()) + 1)
    return number[inverse.reshape(-1)]


def exact_groups(keys: Sequence[str]) -> np.ndarray:
    """Group numbers (int64, 0 = unique) of equal ``keys`` (for example pixel SHA-1s)."""
    if not keys:
        return np.zeros(0, np.int64)
    # Keys numbered in the order they first appear, by a dict in Python: the grouping runs
    # on a worker thread beside the GUI, and converting 220,025 strings to one numpy array
    # was a single call holding the interpreter lock for 20 ms and more; this loop lets
    # other threads run every few milliseconds.
    seen: dict[str, int] = {}
    first = np.fromiter((seen.setdefault(k, len(seen)) for k in keys), np.int64, len(keys))
    shared = np.bincount(first) > 1
    number = np.where(shared, np.cumsum(shared), 0)
    return number[first].astype(np.int64)


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def near_pairs(
    hashes: np.ndarray, max_distance: int = NEAR_DISTANCE, chunk: int = 65536
) -> np.ndarray:
    """Pairs (i, j), i < j, of rows of distinct hashes ``hashes`` (uint64 (N, 8), as
    :func:`perceptual_hashes` gives) where some view of one is within ``max_distance`` bits of
    the other's plain hash (column 0). int64 (P, 2), each pair once."""
    h = np.asarray(hashes, np.uint64)
    n = len(h)
    if n < 2:
        return np.zeros((0, 2), np.int64)
    n_bands = max_distance + 1
    if n_bands > 64:
        raise ValueError("max_distance must be below 64")
    edges = np.linspace(0, 64, n_bands + 1).astype(int)
    base = h[:, 0]
    found: list[np.ndarray] = []
    for lo, hi in itertools.pairwise(edges):
        width = int(hi - lo)
        mask = np.uint64((1 << width) - 1)
        shift = np.uint64(64 - hi)
        keys = (base >> shift) & mask
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        for start in range(0, n, chunk):
            q = h[start : start + chunk]
            q_keys = (q >> shift) & mask  # (c, 8)
            left = np.searchsorted(sorted_keys, q_keys.ravel(), "left")
            right = np.searchsorted(sorted_keys, q_keys.ravel(), "right")
            counts = right - left
            if not counts.any():
                continue
            q_flat = np.repeat(np.arange(q_keys.size), counts)
            offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            cand = order[np.repeat(left, counts) + offsets]
            qi = start + q_flat // N_HASH_VIEWS
            qv = q_flat % N_HASH_VIEWS
            close = (qi != cand) & (hamming(h[qi, qv], base[cand]) <= max_distance)
            pairs = np.stack([qi[close], cand[close]], axis=1)
            found.append(np.sort(pairs, axis=1))
    if not found:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.concatenate(found), axis=0).astype(np.int64)


def near_groups(
    hashes: np.ndarray, max_distance: int = NEAR_DISTANCE, include: np.ndarray | None = None
) -> np.ndarray:
    """Near-duplicate group numbers (int64 (N,), 0 = in no group) of patches with the 8-view
    hashes ``hashes`` (uint64 (N, 8)); see the module docstring. Identical plain hashes are in
    one group. With ``include`` (boolean (N,)) only those rows are grouped, the rest get 0."""
    h = np.asarray(hashes, np.uint64).reshape(-1, N_HASH_VIEWS)
    n = len(h)
    if include is not None:
        rows = np.flatnonzero(np.asarray(include, dtype=bool).reshape(n))
        out = np.zeros(n, np.int64)
        out[rows] = near_groups(h[rows], max_distance)
        return out
    if n == 0:
        return np.zeros(0, np.int64)
    # Collapse identical plain hashes: one representative each.
    _, rep_rows, inverse = np.unique(h[:, 0], return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    pairs = near_pairs(h[rep_rows], max_distance)
    parent = list(range(len(rep_rows)))
    for i, j in pairs.tolist():
        ri, rj = _find(parent, i), _find(parent, j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([_find(parent, i) for i in range(len(rep_rows))], np.int64)
    return _number_groups(roots[inverse])
