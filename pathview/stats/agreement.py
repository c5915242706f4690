"""Agreement between raters: Cohen's kappa (two raters) and Fleiss' kappa (several)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa for two raters' paired categorical ratings.

    kappa = (p_o - p_e) / (1 - p_e). When chance agreement is total (p_e == 1, both raters
    always gave one and the same category) kappa is undefined: NaN is returned.
    """
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    n = len(a)
    if n == 0:
        raise ValueError("no items rated by both raters")
    categories = set(a) | set(b)
    p_o = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    p_e = sum((list(a).count(c) / n) * (list(b).count(c) / n) for c in categories)
    if p_e == 1.0:
        return float("nan")
    return (p_o - p_e) / (1.0 - p_e)


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa from a subjects x categories table of rating counts.

    Every row must sum to the same number of raters (at least two). NaN when chance agreement
    is total.
    """
    if not counts:
        raise ValueError("no subjects")
    raters = sum(counts[0])
    if raters < 2 or any(sum(row) != raters for row in counts):
        raise ValueError("every subject needs the same number (>= 2) of ratings")
    n_subjects = len(counts)
    n_categories = len(counts[0])
    p_j = [sum(row[j] for row in counts) / (n_subjects * raters) for j in range(n_categories)]
    p_i = [(sum(c * c for c in row) - raters) / (raters * (raters - 1)) for row in counts]
    p_bar = sum(p_i) / n_subjects
    p_e = sum(p * p for p in p_j)
    if p_e == 1.0:
        return float("nan")
    return (p_bar - p_e) / (1.0 - p_e)
