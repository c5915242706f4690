"""The folder summary, without Qt: counts, class balance against the labels CSV, how many
patches each quality flag holds, duplicate groups, clusters of the embeddings (k-means,
seeded) with their mean P(tumour) and review agreement, and the map as a PNG.

One function of plain columns (:func:`summarise_folder`) serves the app (View ▸ Folder
summary, from the patch table) and ``pathview report`` (from a scoring run); :func:`summary_html`
renders it for both (the report inlines the map as a data URI).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

from pathview.quality import FLAGS
from pathview.stats.embedding import kmeans, pca_2d
from pathview.triage.insight import DuplicateGroups, group_conflicts, implied_labels
from pathview.triage.projection import ViewRect, probability_rgba, rasterise
from pathview.triage.table import PatchTable

#: Clusters of the summary (fewer when there are fewer distinct embeddings).
N_CLUSTERS = 8
CLUSTER_SEED = 0
MAP_SIZE = (480, 360)


@dataclass(frozen=True)
class ClusterRow:
    """One k-means cluster: its size, mean P(tumour) (NaN: none scored), how many of its
    patches have a review label and the share of those agreeing with the model's call, and
    the share of ground truth 1 among its labelled patches (NaN: none labelled)."""

    cluster: int
    size: int
    mean_p: float
    reviewed: int
    agreement: float
    truth_tumour: float


@dataclass(frozen=True)
class FolderSummary:
    """The numbers of the folder summary (see the module docstring)."""

    patches: int
    scored: int
    truth: dict[str, int]  # "normal", "tumour", "no label"
    called: dict[str, int]  # "normal", "tumour" at ``threshold``
    reviewed: dict[str, int]  # review labels: "normal", "tumour"
    measured: int
    flagged: dict[str, int]  # per flag, then "any flag"
    exact_groups: int
    exact_patches: int
    near_groups: int
    near_patches: int
    conflicts: int
    clusters: list[ClusterRow] = field(default_factory=list)
    threshold: float = 0.5


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


def _clusters(
    features: np.ndarray,
    p: np.ndarray,
    truth: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    k: int,
    seed: int,
) -> list[ClusterRow]:
    found = kmeans(features, k, seed=seed)
    rows = []
    with np.errstate(invalid="ignore"):
        calls = (p >= threshold).astype(np.int8)
    for c in range(len(found.sizes)):
        members = found.labels == c
        scored = members & ~np.isnan(p)
        reviewed = scored & (labels >= 0)
        known = members & (truth >= 0)
        rows.append(
            ClusterRow(
                cluster=c + 1,
                size=int(members.sum()),
                mean_p=_mean(p[scored]),
                reviewed=int(reviewed.sum()),
                agreement=_mean((labels[reviewed] == calls[reviewed]).astype(np.float64)),
                truth_tumour=_mean((truth[known] == 1).astype(np.float64)),
            )
        )
    return rows


def summarise_folder(
    p: np.ndarray,
    truth: np.ndarray,
    labels: np.ndarray,
    flags: Mapping[str, np.ndarray],
    measured: np.ndarray,
    groups: DuplicateGroups,
    features: np.ndarray | None = None,
    threshold: float = 0.5,
    k: int = N_CLUSTERS,
    seed: int = CLUSTER_SEED,
    feature_rows: np.ndarray | None = None,
) -> FolderSummary:
    """Summarise N patches: ``p`` P(tumour) (NaN unscored), ``truth`` and ``labels`` (the
    review labels) as -1/0/1, ``flags`` per quality flag (boolean (N,)), ``measured`` which
    rows have quality measures, ``groups`` their duplicate groups, ``features`` the embeddings
    of the rows ``feature_rows`` (default: every row) clustered with ``k`` and ``seed``
    (None: no clusters)."""
    p = np.asarray(p, np.float64)
    truth = np.asarray(truth)
    labels = np.asarray(labels)
    n = len(p)
    with np.errstate(invalid="ignore"):
        tumour_call = p >= threshold
    scored = ~np.isnan(p)
    any_flag = np.zeros(n, bool)
    flagged: dict[str, int] = {}
    for name in FLAGS:
        mask = np.asarray(flags.get(name, np.zeros(n, bool)), bool)
        flagged[name] = int(mask.sum())
        any_flag |= mask
    flagged["any flag"] = int(any_flag.sum())
    exact, near = groups.exact, groups.near
    clusters: list[ClusterRow] = []
    if features is not None and len(features):
        at = np.arange(n) if feature_rows is None else np.asarray(feature_rows, np.int64)
        if len(at) != len(features):
            raise ValueError(f"{len(features)} embeddings for {len(at)} rows")
        clusters = _clusters(features, p[at], truth[at], labels[at], threshold, k, seed)
    return FolderSummary(
        patches=n,
        scored=int(scored.sum()),
        truth={
            "normal": int((truth == 0).sum()),
            "tumour": int((truth == 1).sum()),
            "no label": int((truth < 0).sum()),
        },
        called={
            "normal": int((scored & ~tumour_call).sum()),
            "tumour": int((scored & tumour_call).sum()),
        },
        reviewed={"normal": int((labels == 0).sum()), "tumour": int((labels == 1).sum())},
        measured=int(np.asarray(measured, bool).sum()),
        flagged=flagged,
        exact_groups=len(np.unique(exact[exact > 0])),
        exact_patches=int((exact > 0).sum()),
        near_groups=len(np.unique(near[near > 0])),
        near_patches=int((near > 0).sum()),
        conflicts=len(group_conflicts(groups, labels, truth)),
        clusters=clusters,
        threshold=threshold,
    )


def map_png(xy: np.ndarray, p: np.ndarray, size: tuple[int, int] = MAP_SIZE) -> bytes:
    """The map's points (``xy`` M x 2, coloured by their P(tumour) ``p``) as a PNG."""
    w, h = size
    if len(xy):
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        pad = np.maximum((hi - lo) * 0.05, 1e-6)
        view = ViewRect(lo[0] - pad[0], lo[1] - pad[1], hi[0] + pad[0], hi[1] + pad[1], w, h)
        dot = 4 if len(xy) < 2000 else 2
        img = rasterise(xy, probability_rgba(p), view, dot)
    else:
        img = np.zeros((h, w, 4), np.uint8)
    background = np.full((h, w, 3), (34, 30, 30), np.uint8)  # BGR of the app's #1e1e22
    alpha = img[..., 3:4].astype(np.float32) / 255
    bgr = img[..., 2::-1].astype(np.float32)
    out = (bgr * alpha + background * (1 - alpha)).astype(np.uint8)
    ok, encoded = cv2.imencode(".png", out)
    if not ok:
        raise ValueError("the map could not be encoded as PNG")
    return bytes(encoded.tobytes())


def map_of(features: np.ndarray, p: np.ndarray) -> bytes:
    """:func:`map_png` of the PCA projection of ``features`` (rows aligned with ``p``)."""
    return map_png(pca_2d(features), p)


def map_svg_of(features: np.ndarray, p: np.ndarray) -> str:
    """:func:`map_svg` of the PCA projection of ``features`` (rows aligned with ``p``)."""
    return map_svg(pca_2d(features), p)


def map_svg(xy: np.ndarray, p: np.ndarray, cells: tuple[int, int] = (96, 72)) -> str:
    """The map as inline SVG for the report (no image file, no URL): the points binned into
    ``cells`` squares, each coloured by its points' mean P(tumour) (the map's ramp) and more
    opaque the more points it holds; at most 96 x 72 rectangles however many points."""
    cw, ch = cells
    w, h = MAP_SIZE
    sx, sy = w / cw, h / ch
    parts = [
        f'<svg width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img"><title>embedding map</title>'
        f'<rect width="{w}" height="{h}" fill="#1e1e22"/>'
    ]
    if len(xy):
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        span = np.maximum(hi - lo, 1e-9)
        cx = np.minimum(((xy[:, 0] - lo[0]) / span[0] * cw).astype(np.int64), cw - 1)
        cy = np.minimum(((hi[1] - xy[:, 1]) / span[1] * ch).astype(np.int64), ch - 1)
        cell = cy * cw + cx
        count = np.bincount(cell, minlength=cw * ch)
        pv = np.asarray(p, np.float64)
        known = ~np.isnan(pv)
        p_sum = np.bincount(cell[known], pv[known], minlength=cw * ch)
        p_n = np.bincount(cell[known], minlength=cw * ch)
        top = float(np.log1p(count.max()))
        for c in np.flatnonzero(count).tolist():
            mean = p_sum[c] / p_n[c] if p_n[c] else math.nan
            r, g, b, _ = probability_rgba(np.array([mean]))[0].tolist()
            alpha = 0.35 + 0.65 * float(np.log1p(count[c])) / max(top, 1e-9)
            x, y = (c % cw) * sx, (c // cw) * sy
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{sx:.1f}" height="{sy:.1f}" '
                f'fill="rgb({r},{g},{b})" fill-opacity="{alpha:.2f}"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _groups(groups: int, patches: int) -> str:
    return f"{groups:,} group{'' if groups == 1 else 's'} ({patches:,} patches)"


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.0%}"


def _p(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.3f}"


def summary_html(summary: FolderSummary, map_src: str = "", map_inline: str = "") -> str:
    """The summary as an HTML section (``<h2>`` onwards) with the map: ``map_src`` an image
    name the viewer resolves (the app's window), or ``map_inline`` inline SVG
    (:func:`map_svg`, the report); neither: no map."""
    s = summary
    e = html.escape

    def table(rows: list[tuple[str, str]]) -> str:
        cells = "".join(f"<tr><td>{e(a)}</td><td>{e(b)}</td></tr>" for a, b in rows)
        return f'<table class="meta">{cells}</table>'

    parts = ["<h2>Folder summary</h2>"]
    parts.append(
        table(
            [
                ("patches", f"{s.patches:,}"),
                ("scored", f"{s.scored:,}"),
                (
                    "labels CSV",
                    f"{s.truth['normal']:,} normal, {s.truth['tumour']:,} tumour, "
                    f"{s.truth['no label']:,} without a label",
                ),
                (
                    f"model calls (P >= {s.threshold:.2f})",
                    f"{s.called['normal']:,} normal, {s.called['tumour']:,} tumour",
                ),
                (
                    "review labels",
                    f"{s.reviewed['normal']:,} normal, {s.reviewed['tumour']:,} tumour",
                ),
                ("quality measured", f"{s.measured:,}"),
                *((f"flag: {k}", f"{v:,}") for k, v in s.flagged.items()),
                ("exact duplicates", _groups(s.exact_groups, s.exact_patches)),
                ("near-duplicates", _groups(s.near_groups, s.near_patches)),
                ("duplicate groups in conflict", f"{s.conflicts:,}"),
            ]
        )
    )
    if s.clusters:
        head = "".join(
            f"<th>{h}</th>"
            for h in (
                "cluster",
                "patches",
                "mean P",
                "reviewed",
                "review agrees",
                "truth tumour",
            )
        )
        body = "".join(
            f"<tr><td>{c.cluster}</td><td>{c.size:,}</td><td>{_p(c.mean_p)}</td>"
            f"<td>{c.reviewed:,}</td><td>{_pct(c.agreement)}</td>"
            f"<td>{_pct(c.truth_tumour)}</td></tr>"
            for c in s.clusters
        )
        parts.append(
            f"<h3>Clusters of the embeddings (k-means, k={len(s.clusters)}, seed "
            f"{CLUSTER_SEED})</h3><table><tr>{head}</tr>{body}</table>"
        )
    caption = (
        "<figcaption>The map: a PCA projection of the embeddings, coloured by P(tumour) "
        "(blue 0, grey 0.5, red 1)</figcaption>"
    )
    if map_inline:
        parts.append(f"<figure>{map_inline}{caption}</figure>")
    elif map_src:
        parts.append(
            f'<figure><img src="{e(map_src)}" alt="embedding map" width="{MAP_SIZE[0]}">'
            f"{caption}</figure>"
        )
    return "\n".join(parts)


@dataclass(frozen=True)
class SummaryInputs:
    """Copies of a patch table's columns for :func:`summarise_folder` (safe on a worker)."""

    p: np.ndarray
    truth: np.ndarray
    labels: np.ndarray
    flags: dict[str, np.ndarray]
    measured: np.ndarray
    groups: DuplicateGroups
    features: np.ndarray | None
    feature_rows: np.ndarray
    threshold: float

    def summarise(self) -> FolderSummary:
        """:func:`summarise_folder` of these columns."""
        return summarise_folder(
            self.p,
            self.truth,
            self.labels,
            self.flags,
            self.measured,
            self.groups,
            self.features,
            self.threshold,
            feature_rows=self.feature_rows,
        )

    def map(self) -> bytes | None:
        """The map PNG of the rows with embeddings (None without any)."""
        if self.features is None:
            return None
        return map_of(self.features, self.p[self.feature_rows])


def table_inputs(table: PatchTable, threshold: float = 0.5) -> SummaryInputs:
    """What :func:`summarise_folder` needs from the app's table (review labels implied by the
    verdicts at ``threshold``); the clusters cover the patches with embeddings."""
    n = len(table)
    p, _, truth, review = table.arrays()
    insight = table.insight
    measured = insight.known(n).copy()
    features, has = insight.features(n)
    groups = DuplicateGroups(insight.groups.exact[:n].copy(), insight.groups.near[:n].copy())
    rows = np.flatnonzero(has)
    keep = features is not None and len(rows) > 0
    return SummaryInputs(
        p.copy(),
        truth.copy(),
        implied_labels(p, review, threshold),
        {k: v.copy() for k, v in insight.flags(n).items()},
        measured,
        groups,
        None if not keep or features is None else features[rows].copy(),
        rows,
        threshold,
    )
