"""The review queue: which unreviewed patches to review next, most useful first (no Qt).

Pure functions over per-patch arrays: calibrated P(tumour), optionally the 8 TTA views'
P(tumour) and the penultimate-layer embeddings (``Classifier.predict(..., features=True)``).
:func:`next_to_review` is the entry point of ``pathview queue`` and of the app's suggestion;
each strategy ranks the unreviewed patches and every tie is broken by patch id, so the same
inputs always give the same queue.

Strategies (:data:`STRATEGIES`):

``uncertainty``
    closest to P = 0.5 first (the maximum entropy of the calibrated P: entropy falls
    monotonically with ``|P - 0.5|``).
``tta``
    disagreement between the 8 flips/rotations: the largest share of views on the other side
    of 0.5 from the patch's mean P first, then the largest standard deviation of the views,
    then uncertainty. Needs the views (scoring with TTA).
``diverse``
    k-center greedy on the L2-normalised embeddings among the 3N most uncertain candidates:
    the most uncertain first, then each time the candidate farthest from all those already
    queued, so near-duplicates are not queued together. Needs the embeddings.
``balanced``
    alternates between the predicted classes (P >= 0.5 and P < 0.5), each ranked by
    uncertainty, starting with the class whose best candidate is more uncertain.
``random``
    a seeded shuffle of the unreviewed patches (sorted by id first, so the input order does
    not matter): reproducible with the same seed.
``auto``
    see :func:`auto_queue`: uncertainty order with near-duplicates (by embedding, when there
    are any) deferred, and one slot in ten drawn at random. Provisional until the
    review-loop benchmark of issue 17 picks the mix.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

STRATEGIES = ("auto", "uncertainty", "tta", "diverse", "balanced", "random")
#: Strategies that need the 8 views' P(tumour) (scoring with TTA).
NEEDS_VIEWS = frozenset({"tta"})
#: Strategies that use the embeddings (``auto`` falls back to uncertainty without them).
USES_EMBEDDINGS = frozenset({"diverse", "auto"})
#: ``diverse`` (and ``auto``) choose among this many times N of the most uncertain patches.
CANDIDATE_FACTOR = 3
#: ``auto`` defers a candidate closer than this fraction of the candidates' median pairwise
#: embedding distance to a patch already queued (a near-duplicate).
DUPLICATE_FRACTION = 0.1
#: ``auto`` fills every AUTO_RANDOM_EVERY-th slot (the 10th, 20th, ...) with a random patch.
AUTO_RANDOM_EVERY = 10


def next_to_review(
    ids: Sequence[str],
    p: np.ndarray | Sequence[float],
    count: int,
    strategy: str = "auto",
    reviewed: Collection[str] = (),
    views: np.ndarray | None = None,
    embeddings: np.ndarray | None = None,
    seed: int = 0,
) -> list[str]:
    """The next ``count`` unreviewed patch ids, most useful first, by ``strategy``.

    ``ids`` and the rows of ``p`` (calibrated P(tumour)), ``views`` (N x 8 per-view P) and
    ``embeddings`` (N x C) are aligned; ids in ``reviewed`` are never queued. Returns fewer
    than ``count`` ids when fewer are left (none: an empty list). Raises ValueError for an
    unknown strategy, a count below 1, misaligned arrays, duplicate ids, or a strategy whose
    inputs are missing (``tta`` without views, ``diverse`` without embeddings).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    probs = np.asarray(p, dtype=np.float64).reshape(-1)
    n = len(ids)
    if probs.shape[0] != n:
        raise ValueError(f"{n} ids but {probs.shape[0]} probabilities")
    if len(set(ids)) != n:
        raise ValueError("patch ids must be unique")
    if views is not None:
        views = np.asarray(views, dtype=np.float64)
        if views.ndim != 2 or views.shape[0] != n:
            raise ValueError(f"views must be {n} x 8, got {views.shape}")
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or embeddings.shape[0] != n:
            raise ValueError(f"embeddings must have {n} rows, got {embeddings.shape}")
    if strategy in NEEDS_VIEWS and views is None:
        raise ValueError("the tta strategy needs the 8 views' P(tumour): score with TTA")
    if strategy == "diverse" and embeddings is None:
        raise ValueError("the diverse strategy needs the patches' embeddings")
    done = set(reviewed)
    pool = np.array([i for i in range(n) if ids[i] not in done], dtype=np.int64)
    if pool.size == 0:
        return []
    tiebreak = id_ranks(ids)
    if strategy == "uncertainty":
        rows = by_uncertainty(probs, pool, tiebreak)[:count]
    elif strategy == "tta":
        assert views is not None
        rows = by_disagreement(views, pool, tiebreak)[:count]
    elif strategy == "diverse":
        assert embeddings is not None
        rows = diverse(probs, embeddings, pool, tiebreak, count)
    elif strategy == "balanced":
        rows = balanced(probs, pool, tiebreak)[:count]
    elif strategy == "random":
        rows = shuffled(pool, tiebreak, seed)[:count]
    else:
        rows = auto_queue(probs, pool, tiebreak, count, embeddings, seed)
    return [ids[int(i)] for i in rows]


def id_ranks(ids: Sequence[str]) -> np.ndarray:
    """Each id's position in sorted order: the tie-break of every ranking."""
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
    return ranks


def uncertainty(p: np.ndarray) -> np.ndarray:
    """``|P - 0.5|``: 0 is the most uncertain; a non-finite P counts as the least (inf)."""
    margin = np.abs(np.asarray(p, dtype=np.float64) - 0.5)
    return np.where(np.isfinite(margin), margin, np.inf)


def by_uncertainty(p: np.ndarray, pool: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """The rows ``pool``, closest to P = 0.5 first, ties by id."""
    return pool[np.lexsort((tiebreak[pool], uncertainty(p[pool])))]


def by_disagreement(views: np.ndarray, pool: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """The rows ``pool`` by disagreement of the 8 views: the share of views on the other side
    of 0.5 from the mean first (most first), then the views' standard deviation (largest
    first), then the mean's uncertainty, then id."""
    v = views[pool]
    mean = v.mean(axis=1)
    above = (v >= 0.5).mean(axis=1)
    minority = np.where(mean >= 0.5, 1.0 - above, above)
    std = v.std(axis=1)
    order = np.lexsort((tiebreak[pool], uncertainty(mean), -std, -minority))
    return pool[order]


def diverse(
    p: np.ndarray,
    embeddings: np.ndarray,
    pool: np.ndarray,
    tiebreak: np.ndarray,
    count: int,
) -> np.ndarray:
    """``count`` rows of ``pool`` by k-center greedy on the embeddings among the
    :data:`CANDIDATE_FACTOR` x ``count`` most uncertain: the most uncertain first, then each
    time the candidate farthest (Euclidean, L2-normalised embeddings) from every row already
    chosen; equal distances go to the more uncertain, then by id. An exact duplicate of a
    chosen patch is at distance 0, so it comes only after every distinct candidate."""
    candidates = by_uncertainty(p, pool, tiebreak)[: CANDIDATE_FACTOR * count]
    return k_center(embeddings[candidates], count, candidates)


def k_center(points: np.ndarray, count: int, rows: np.ndarray) -> np.ndarray:
    """Greedy k-center order of ``points`` (rows already in preference order): the first,
    then repeatedly the one farthest from those chosen (ties: the earlier). Returns the
    chosen entries of ``rows``, at most ``count``."""
    k = min(count, len(rows))
    if k == 0:
        return rows[:0]
    x = _unit_rows(points)
    chosen = [0]
    nearest = np.linalg.norm(x - x[0], axis=1)
    nearest[0] = -1.0  # never chosen twice
    for _ in range(1, k):
        nxt = int(np.argmax(nearest))  # argmax keeps the first of equal distances
        chosen.append(nxt)
        nearest = np.minimum(nearest, np.linalg.norm(x - x[nxt], axis=1))
        nearest[chosen] = -1.0
    return rows[np.asarray(chosen)]


def balanced(
    p: np.ndarray, pool: np.ndarray, tiebreak: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    """The rows ``pool`` alternating between predicted tumour (P >= ``threshold``) and
    predicted normal, each ranked by uncertainty; the class whose first patch is more
    uncertain (then the one whose first id sorts first) leads, and when one class runs out the
    other continues."""
    ranked = by_uncertainty(p, pool, tiebreak)
    tumour = ranked[p[ranked] >= threshold]
    normal = ranked[~(p[ranked] >= threshold)]
    if len(tumour) == 0 or len(normal) == 0:
        return ranked
    lead, other = tumour, normal
    key_t = (uncertainty(p[tumour[:1]])[0], tiebreak[tumour[0]])
    key_n = (uncertainty(p[normal[:1]])[0], tiebreak[normal[0]])
    if key_n < key_t:
        lead, other = normal, tumour
    out: list[int] = []
    for i in range(max(len(lead), len(other))):
        if i < len(lead):
            out.append(int(lead[i]))
        if i < len(other):
            out.append(int(other[i]))
    return np.asarray(out, dtype=np.int64)


def shuffled(pool: np.ndarray, tiebreak: np.ndarray, seed: int) -> np.ndarray:
    """The rows ``pool`` in a random order fixed by ``seed`` (and not by the input order)."""
    by_id = pool[np.argsort(tiebreak[pool], kind="stable")]
    return by_id[np.random.default_rng(seed).permutation(len(by_id))]


def deduplicated(
    p: np.ndarray,
    embeddings: np.ndarray,
    pool: np.ndarray,
    tiebreak: np.ndarray,
    count: int,
) -> np.ndarray:
    """``count`` rows of ``pool`` in uncertainty order, skipping near-duplicates: among the
    :data:`CANDIDATE_FACTOR` x ``count`` most uncertain, a candidate closer (Euclidean, on
    L2-normalised embeddings) to one already chosen than :data:`DUPLICATE_FRACTION` of the
    candidates' median pairwise distance is deferred to after the others. Where too few are
    left, the deferred ones follow in uncertainty order, then the rest of the pool."""
    ranked = by_uncertainty(p, pool, tiebreak)
    candidates = ranked[: CANDIDATE_FACTOR * count]
    x = _unit_rows(embeddings[candidates])
    limit = DUPLICATE_FRACTION * median_distance(x)
    chosen: list[int] = []
    deferred: list[int] = []
    nearest = np.full(len(x), np.inf)
    for i in range(len(x)):
        if len(chosen) == count:
            break
        if nearest[i] < limit:
            deferred.append(i)
            continue
        chosen.append(i)
        nearest = np.minimum(nearest, np.linalg.norm(x - x[i], axis=1))
    order = candidates[np.asarray(chosen + deferred, dtype=np.int64)]
    return np.concatenate([order, ranked[len(candidates) :]])[:count]


def median_distance(x: np.ndarray, max_pairs: int = 200_000) -> float:
    """The median Euclidean distance between the rows of ``x`` (over every pair, or a fixed
    sample of ``max_pairs`` pairs for many rows); 0 for fewer than two rows."""
    n = len(x)
    if n < 2:
        return 0.0
    if n * (n - 1) // 2 <= max_pairs:
        sq = np.einsum("ij,ij->i", x, x)
        d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
        upper = d2[np.triu_indices(n, 1)]
        return float(np.sqrt(np.maximum(np.median(upper), 0.0)))
    a, b = np.random.default_rng(0).integers(0, n, (2, max_pairs))
    keep = a != b
    return float(np.median(np.linalg.norm(x[a[keep]] - x[b[keep]], axis=1)))


def _unit_rows(points: np.ndarray) -> np.ndarray:
    x = np.asarray(points, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def auto_queue(
    p: np.ndarray,
    pool: np.ndarray,
    tiebreak: np.ndarray,
    count: int,
    embeddings: np.ndarray | None,
    seed: int,
) -> np.ndarray:
    """The default queue, a provisional mix until the review-loop benchmark of issue 17
    measures the strategies against each other and picks one.

    Nine slots in ten go to the most uncertain patches with near-duplicates (by embedding)
    deferred (:func:`deduplicated`; plain :func:`by_uncertainty` when there are no
    embeddings). Every :data:`AUTO_RANDOM_EVERY`-th slot (the 10th, 20th, ...) holds a patch
    drawn at random (seeded) from the rest of the pool, so that the reviews are not all
    borderline patches: a queue of borderline patches alone is a biased sample to retrain on.
    A queue shorter than 10 has no random slot.
    """
    n_random = count // AUTO_RANDOM_EVERY
    n_main = count - n_random
    if embeddings is not None:
        main = deduplicated(p, embeddings, pool, tiebreak, n_main)
    else:
        main = by_uncertainty(p, pool, tiebreak)[:n_main]
    rest = np.setdiff1d(pool, main, assume_unique=True)
    extra = shuffled(rest, tiebreak, seed)[:n_random]
    out: list[int] = []
    main_left, extra_left = iter(main.tolist()), iter(extra.tolist())
    for slot in range(1, len(main) + len(extra) + 1):
        first, second = (
            (extra_left, main_left) if slot % AUTO_RANDOM_EVERY == 0 else (main_left, extra_left)
        )
        nxt = next(first, None)
        out.append(nxt if nxt is not None else next(second))
    return np.asarray(out[:count], dtype=np.int64)
