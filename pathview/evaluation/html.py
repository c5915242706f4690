"""A self-contained HTML evaluation report: the numbers and plots of an EvaluationReport.

The plots are inline SVG drawn here (no plotting library, no script, no external URL), so the
file opens offline anywhere and can be mailed as is. It names the data and the model the
numbers were measured on. Written atomically (``pathview.core.files.atomic_text_writer``).
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence

from pathview.core.files import atomic_text_writer
from pathview.evaluation.report import Evaluation, EvaluationReport
from pathview.stats import ProbabilityBin
from pathview.store.agreement import Agreement

#: Colour of each reference in every plot and table.
REFERENCE_COLOURS = {"truth": "#1f6fb4", "reviews": "#c8402c"}
REFERENCE_NAMES = {"truth": "ground truth", "reviews": "reviews"}
#: Longest id list written out in full (adjudication queue, unstable patches).
MAX_LISTED = 500

_W, _H = 320, 300  # SVG size in px
_L, _R, _T, _B = 46, 12, 12, 40  # margins: left, right, top, bottom

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;
color:#222;max-width:1100px}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:18px}figure{margin:0}figcaption{font-size:.9em;color:#444}
.meta td{text-align:left;border:none;padding:1px 10px 1px 0}.note{color:#8a5a00}
.ids{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;columns:2}
"""


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


# ------------------------------------------------------------------------------ SVG


def _px(x: float, y: float) -> tuple[float, float]:
    """Data coordinates in [0, 1] x [0, 1] -> SVG pixels."""
    return (_L + x * (_W - _L - _R), _H - _B - y * (_H - _T - _B))


def _thin(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Pixel coordinates, dropping points that land on the same half-pixel as the last one
    kept (a 220,000-point ROC curve stays a few hundred points)."""
    out: list[tuple[float, float]] = []
    last: tuple[float, float] | None = None
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        px, py = _px(x, y)
        key = (round(px * 2) / 2, round(py * 2) / 2)
        if key != last:
            out.append((px, py))
            last = key
    return out


def _polyline(points: Sequence[tuple[float, float]], colour: str, width: float = 2) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return (
        f'<polyline points="{coords}" fill="none" stroke="{colour}" '
        f'stroke-width="{width}" stroke-linejoin="round"/>'
    )


def _frame(x_label: str, y_label: str, diagonal: bool) -> list[str]:
    parts = [f'<rect x="0" y="0" width="{_W}" height="{_H}" fill="#fff"/>']
    for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        x0 = _px(t, 0)[0]
        y1 = _px(0, t)[1]
        parts.append(
            f'<line x1="{x0:.1f}" y1="{_T}" x2="{x0:.1f}" y2="{_H - _B}" stroke="#eee"/>'
            f'<line x1="{_L}" y1="{y1:.1f}" x2="{_W - _R}" y2="{y1:.1f}" stroke="#eee"/>'
            f'<text x="{x0:.1f}" y="{_H - _B + 14}" font-size="10" text-anchor="middle">'
            f"{t:.1f}</text>"
            f'<text x="{_L - 5}" y="{y1 + 3:.1f}" font-size="10" text-anchor="end">{t:.1f}</text>'
        )
    parts.append(
        f'<rect x="{_L}" y="{_T}" width="{_W - _L - _R}" height="{_H - _T - _B}" fill="none" '
        'stroke="#888"/>'
    )
    if diagonal:
        (ax, ay), (bx, by) = _px(0, 0), _px(1, 1)
        parts.append(
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="#999" '
            'stroke-dasharray="4 4"/>'
        )
    cx = (_L + _W - _R) / 2
    cy = (_T + _H - _B) / 2
    parts.append(
        f'<text x="{cx:.1f}" y="{_H - 8}" font-size="11" text-anchor="middle">{_e(x_label)}</text>'
        f'<text x="12" y="{cy:.1f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {cy:.1f})">{_e(y_label)}</text>'
    )
    return parts


def _svg(parts: list[str], title: str) -> str:
    # Inline SVG in HTML needs no xmlns (and so names no URL at all).
    return (
        f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="{_e(title)}" font-family="sans-serif">'
        f"<title>{_e(title)}</title>{''.join(parts)}</svg>"
    )


def roc_svg(evaluations: Sequence[Evaluation]) -> str:
    """ROC curves (one per reference) with the operating point at the threshold marked."""
    parts = _frame("false positive rate (1 - specificity)", "sensitivity", diagonal=True)
    for ev in evaluations:
        colour = REFERENCE_COLOURS.get(ev.reference, "#333")
        pts = list(zip(ev.roc.fpr.tolist(), ev.roc.tpr.tolist(), strict=True))
        parts.append(_polyline(_thin(pts), colour))
        c = ev.confusion
        if not (math.isnan(c.specificity) or math.isnan(c.sensitivity)):
            x, y = _px(1 - c.specificity, c.sensitivity)
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}" stroke="#fff"/>'
            )
    return _svg(parts, "ROC curve")


def reliability_svg(evaluations: Sequence[Evaluation]) -> str:
    """Reliability diagram: fraction tumour against mean P(tumour) per bin; dot area ~ count."""
    parts = _frame("mean P(tumour) in bin", "fraction tumour", diagonal=True)
    for ev in evaluations:
        colour = REFERENCE_COLOURS.get(ev.reference, "#333")
        used = [b for b in ev.reliability if b.count]
        pts = [_px(b.mean_p, b.positive_rate) for b in used]
        if len(pts) > 1:
            parts.append(_polyline(pts, colour, 1.5))
        biggest = max((b.count for b in used), default=1)
        for b, (x, y) in zip(used, pts, strict=True):
            r = 2.0 + 5.0 * math.sqrt(b.count / biggest)
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}" '
                f'fill-opacity="0.75"><title>{b.lo:.2f}-{b.hi:.2f}: {b.count} patches, '
                f"{_fmt(b.positive_rate, 3)} tumour</title></circle>"
            )
    return _svg(parts, "Reliability diagram")


def disagreement_svg(evaluations: Sequence[Evaluation]) -> str:
    """Disagreement rate (model call vs reference) per P(tumour) bin, bars side by side."""
    parts = _frame("P(tumour)", "disagreement rate", diagonal=False)
    n_refs = max(1, len(evaluations))
    for i, ev in enumerate(evaluations):
        colour = REFERENCE_COLOURS.get(ev.reference, "#333")
        for b in ev.disagreement:
            if not b.count:
                continue
            width = (b.hi - b.lo) * 0.85 / n_refs
            x_lo = b.lo + (b.hi - b.lo) * 0.075 + i * width
            (x0, y0), (x1, y1) = _px(x_lo, b.disagreement_rate), _px(x_lo + width, 0)
            parts.append(
                f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{max(0.5, x1 - x0):.1f}" '
                f'height="{max(0.0, y1 - y0):.1f}" fill="{colour}" fill-opacity="0.8">'
                f"<title>{b.lo:.1f}-{b.hi:.1f}: {b.disagreements} of {b.count}</title></rect>"
            )
    return _svg(parts, "Disagreement rate per probability bin")


# ------------------------------------------------------------------------------ tables


def _summary_table(evaluations: Sequence[Evaluation], threshold: float) -> str:
    head = (
        "<tr><th class=l>reference</th><th>patches</th><th>tumour</th><th>AUC</th>"
        f"<th>accuracy @ {threshold:.2f}</th><th>sensitivity</th><th>specificity</th>"
        "<th>ECE (15 bins)</th></tr>"
    )
    rows = "".join(
        f"<tr><td class=l>{_e(REFERENCE_NAMES.get(ev.reference, ev.reference))}</td>"
        f"<td>{ev.n}</td><td>{ev.n_tumour}</td><td>{_fmt(ev.auc)}</td>"
        f"<td>{_fmt(ev.accuracy)}</td><td>{_fmt(ev.confusion.sensitivity)}</td>"
        f"<td>{_fmt(ev.confusion.specificity)}</td><td>{_fmt(ev.ece)}</td></tr>"
        for ev in evaluations
    )
    return f'<table class="summary">{head}{rows}</table>'


def _confusion_table(ev: Evaluation) -> str:
    c = ev.confusion
    name = _e(REFERENCE_NAMES.get(ev.reference, ev.reference))
    return (
        f'<table class="confusion"><caption>{name}, threshold {c.threshold:.2f}</caption>'
        "<tr><th></th><th>called normal</th><th>called tumour</th></tr>"
        f"<tr><th class=l>{name}: normal</th><td>{c.tn}</td><td>{c.fp}</td></tr>"
        f"<tr><th class=l>{name}: tumour</th><td>{c.fn}</td><td>{c.tp}</td></tr></table>"
    )


def _bins_table(ev: Evaluation, bins: Sequence[ProbabilityBin], rate: str) -> str:
    head = (
        "<tr><th>P(tumour) bin</th><th>patches</th><th>mean P</th><th>fraction tumour</th>"
        "<th>disagreements</th><th>disagreement rate</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{b.lo:.3f}-{b.hi:.3f}</td><td>{b.count}</td><td>{_fmt(b.mean_p, 3)}</td>"
        f"<td>{_fmt(b.positive_rate, 3)}</td><td>{b.disagreements}</td>"
        f"<td>{_fmt(b.disagreement_rate, 3)}</td></tr>"
        for b in bins
    )
    name = _e(REFERENCE_NAMES.get(ev.reference, ev.reference))
    return f"<details><summary>{name}: {rate}</summary><table>{head}{rows}</table></details>"


def _id_list(ids: Sequence[str]) -> str:
    shown = "".join(f"<li>{_e(pid)}</li>" for pid in ids[:MAX_LISTED])
    more = f"<p>... and {len(ids) - MAX_LISTED} more.</p>" if len(ids) > MAX_LISTED else ""
    return f'<ul class="ids">{shown}</ul>{more}'


def _reviewers_section(report: EvaluationReport) -> str:
    summary = report.reviewers
    if summary is None:
        return ""
    parts = ["<h2>Reviewers</h2>"]
    if not summary.reviewers:
        parts.append("<p>No reviews yet.</p>")
        return "".join(parts)
    parts.append(f"<p>Reviewers: {_e(', '.join(summary.reviewers))}.</p>")
    agreement = summary.agreement
    if agreement is None:
        parts.append("<p>Agreement needs at least two reviewers.</p>")
    else:
        parts.append(f'<p class="agreement">{_e(agreement_text(agreement))}</p>')
    if summary.pairwise:
        rows = "".join(
            f"<tr><td class=l>{_e(' / '.join(a.reviewers))}</td><td>{a.shared_patches}</td>"
            f"<td>{_fmt(a.kappa, 3)}</td><td>{_fmt(a.observed_agreement, 3)}</td></tr>"
            for a in summary.pairwise
        )
        parts.append(
            "<table><tr><th class=l>pair</th><th>shared patches</th><th>Cohen's kappa</th>"
            f"<th>observed agreement</th></tr>{rows}</table>"
        )
    parts.append(
        f"<p>Adjudication queue: {len(summary.queue)} patches the reviewers disagree on without "
        f"a final verdict; {summary.adjudicated} patches have a final verdict.</p>"
    )
    if summary.queue:
        parts.append(_id_list(summary.queue))
    return "".join(parts)


def agreement_text(agreement: Agreement) -> str:
    """One line for an agreement: the kappa, its kind, who, and on how many shared patches."""
    kind = "Cohen's" if agreement.method == "cohen" else "Fleiss'"
    kappa = _fmt(agreement.kappa, 3)
    shared = agreement.shared_patches
    observed = _fmt(agreement.observed_agreement * 100, 1)
    who = ", ".join(agreement.reviewers)
    return (
        f"{kind} kappa {kappa} between {who} on {shared} shared patches "
        f"(observed agreement {observed}%)"
    )


# ------------------------------------------------------------------------------ page


def render_html(
    report: EvaluationReport,
    title: str = "pathview evaluation report",
    details: Mapping[str, str] | None = None,
    generated_utc: str | None = None,
    sections: Sequence[str] = (),
) -> str:
    """The whole report as one HTML page (inline CSS and SVG, no script, no external URL).

    ``details`` adds rows (name -> value) to the header, e.g. the labels file used;
    ``sections`` are HTML sections appended at the end (e.g. the folder summary).
    """
    when = generated_utc or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from pathview import __version__

    meta_rows: list[tuple[str, str]] = [
        ("data", report.data_name or "(unnamed)"),
        ("patches scored", str(len(report.ids))),
        (
            "model",
            f"{report.model_name or 'model'} {report.model_id[:12]}"
            + (f" (weights sha256 {report.model_id})" if report.model_id else ""),
        ),
        ("test-time augmentation", "8 flips/rotations averaged" if report.tta else "off"),
        ("threshold", f"P(tumour) >= {report.threshold:.2f} is called tumour"),
        ("compared with", report.source),
        *(details or {}).items(),
        ("generated", f"{when} by pathview {__version__}"),
    ]
    meta = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in meta_rows)
    body = [f"<h1>{_e(title)}</h1>", f'<table class="meta">{meta}</table>']
    body.extend(f'<p class="note">{_e(note)}</p>' for note in report.notes)
    evs = report.evaluations
    if evs:
        body.append("<h2>Model performance</h2>")
        body.append(_summary_table(evs, report.threshold))
        body.append("".join(_confusion_table(ev) for ev in evs))
        legend = " ".join(
            f'<span style="color:{REFERENCE_COLOURS.get(ev.reference, "#333")}">&#9632; '
            f"{_e(REFERENCE_NAMES.get(ev.reference, ev.reference))} (n={ev.n})</span>"
            for ev in evs
        )
        aucs = ", ".join(
            f"{REFERENCE_NAMES.get(ev.reference, ev.reference)} AUC {_fmt(ev.auc)}" for ev in evs
        )
        eces = ", ".join(
            f"{REFERENCE_NAMES.get(ev.reference, ev.reference)} ECE {_fmt(ev.ece)}" for ev in evs
        )
        body.append(
            f"<p>{legend}</p><div class=plots>"
            f"<figure>{roc_svg(evs)}<figcaption>ROC curve: {_e(aucs)}; dot = threshold"
            "</figcaption></figure>"
            f"<figure>{reliability_svg(evs)}<figcaption>Reliability (calibration): {_e(eces)}"
            "</figcaption></figure>"
            f"<figure>{disagreement_svg(evs)}<figcaption>Model call vs reference, per "
            "P(tumour) bin</figcaption></figure></div>"
        )
        for ev in evs:
            body.append(_bins_table(ev, ev.reliability, "reliability bins"))
            body.append(_bins_table(ev, ev.disagreement, "disagreement per bin"))
    body.append(_reviewers_section(report))
    if report.unstable is not None:
        body.append("<h2>Stability under the 8 flips/rotations</h2>")
        body.append(
            f"<p>{len(report.unstable)} of {len(report.ids)} patches change their call "
            f"(at {report.threshold:.2f}) across the views.</p>"
        )
        if report.unstable:
            body.append(_id_list(report.unstable))
    body.extend(sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def write_html_report(
    path: str | os.PathLike[str],
    report: EvaluationReport,
    title: str = "pathview evaluation report",
    details: Mapping[str, str] | None = None,
    sections: Sequence[str] = (),
) -> None:
    """Render the report and write it atomically (the old file stays on failure)."""
    page = render_html(report, title, details, sections=sections)
    with atomic_text_writer(path) as handle:
        handle.write(page)


__all__ = [
    "agreement_text",
    "disagreement_svg",
    "reliability_svg",
    "render_html",
    "roc_svg",
    "write_html_report",
]
