"""``pathview report FOLDER --out REPORT.html [--labels L.csv] [--model DIR] [--device ...]
[--tta] [--rule latest|majority|unanimous] [--source truth|reviews|both] [--threshold T]
[--stability]``.

Scores the folder as ``pathview score`` does and writes a self-contained HTML report: ROC with
AUC, confusion matrix, reliability diagram with ECE, disagreement per probability bin, against
the ground truth (``--labels``, else the folder's labels CSV) and/or the reviews in the
folder's store (``--rule`` combines reviewers; final verdicts override it), reviewer agreement
and the adjudication queue, with ``--stability`` the patches whose call changes across the
8 flips/rotations, and the folder summary (counts, class balance, quality flags, duplicate
groups, k-means clusters of the embeddings with mean P and review agreement, and the map).
Prints the same ``AUC ... accuracy ...`` line as ``pathview score --labels``.
Exit status: 0 written; 1 nothing written (bad folder, model, labels or output; no patches;
nothing to compare with); 3 written but some files could not be read (listed on stderr).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from pathview.cli._common import (
    CommandFailed,
    add_scoring_arguments,
    check_scoring_arguments,
    exit_status,
    load_classifier,
    read_truth_labels,
    run_command,
    score_args_folder,
)

if TYPE_CHECKING:
    from pathview.scoring import ScoreResult


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``report`` sub-command."""
    parser = subparsers.add_parser(
        "report",
        help="score a folder and write a self-contained HTML evaluation report",
        description=(
            "Score FOLDER and write a self-contained HTML report (ROC/AUC, confusion matrix, "
            "calibration, disagreement per bin, reviewer agreement, adjudication queue) against "
            "the ground truth and/or the folder's reviews. Exit status: 0 ok, 1 failure "
            "(nothing written), 3 written but some files were unreadable."
        ),
    )
    parser.add_argument("folder", type=Path, help="folder of patch files")
    parser.add_argument("--out", type=Path, required=True, help="HTML file to write")
    parser.add_argument(
        "--labels", type=Path, help="ground truth id,label (default: the folder's labels CSV)"
    )
    add_scoring_arguments(parser)
    parser.add_argument(
        "--rule",
        choices=("latest", "majority", "unanimous"),
        default="latest",
        help="how several reviewers' labels combine (final verdicts always win)",
    )
    parser.add_argument(
        "--source",
        choices=("truth", "reviews", "both"),
        default="both",
        help="compare the model with the ground truth, the reviews, or both (default)",
    )
    parser.add_argument("--threshold", type=float, default=0.5, help="P(tumour) cut-off")
    parser.add_argument(
        "--stability",
        action="store_true",
        help=(
            "list patches whose call changes across the 8 flips/rotations (scores the 8 views; "
            "no extra pass with --tta)"
        ),
    )


def run(args: argparse.Namespace) -> int:
    """Run ``pathview report``; returns the exit status (see the module docstring)."""
    return run_command("report", _report, args)


def _report(args: argparse.Namespace) -> int:
    from pathview.evaluation import build_report, review_labels, score_line, summarise_reviewers
    from pathview.evaluation.html import write_html_report
    from pathview.io import find_labels_csv
    from pathview.model.provenance import scoring_details, scoring_line
    from pathview.stats import unstable_ids
    from pathview.store import ReviewStore, StoreError, locate_store

    check_scoring_arguments(args)
    if not 0.0 <= args.threshold <= 1.0:
        raise CommandFailed("--threshold must be between 0 and 1")
    labels_path = args.labels if args.labels is not None else find_labels_csv(args.folder)
    truth: dict[str, int] = {}
    if labels_path is not None:
        truth = read_truth_labels("report", labels_path)
    reviews: dict[str, int] = {}
    summary = None
    store_path: Path | None = None
    try:
        store_path = locate_store(args.folder)
    except StoreError:
        store_path = None  # nothing reviewed here yet
    if store_path is not None:
        try:
            # Read-only: no lock a reviewer's app would wait for; fine in a read-only folder.
            with ReviewStore.open_readonly(store_path) as store:
                reviews = review_labels(store, args.rule)
                summary = summarise_reviewers(store)
        except StoreError as exc:
            raise CommandFailed(f"cannot read the review store: {exc}") from exc
    if not truth and not reviews:
        raise CommandFailed(
            f"nothing to compare with: no labels CSV and no reviews for {args.folder} "
            "(give --labels)"
        )
    classifier = load_classifier("report", args)
    result, views = score_args_folder(
        args, classifier, views=args.stability, features=True, quality=True
    )
    unstable = None if views is None else unstable_ids(result.ids, views, args.threshold)
    report = build_report(
        result.ids,
        result.p,
        truth,
        reviews,
        source=args.source,
        threshold=args.threshold,
        data_name=str(args.folder.resolve()),
        model_id=classifier.model_id,
        model_name=classifier.metadata.name or "model",
        tta=args.tta,
        reviewers=summary,
        unstable=unstable,
    )
    scored_with = scoring_details(classifier)
    details = {k: scored_with[k] for k in ("number format", "device", "input codec")}
    details["ground truth"] = str(labels_path) if labels_path else "none"
    details["reviews"] = (
        f"{store_path} ({len(reviews)} labelled patches, rule {args.rule})"
        if store_path
        else "none"
    )
    if result.failed:
        details["unreadable files"] = str(len(result.failed))
    section = _folder_summary_section(result, truth, reviews, args.threshold)
    try:
        write_html_report(args.out, report, details=details, sections=[section])
    except OSError as exc:
        raise CommandFailed(f"cannot write {args.out}: {exc}") from exc
    print(f"scored {result.scored} patches with {scoring_line(classifier)}")
    for note in report.notes:
        print(f"note: {note}")
    for ev in report.evaluations:
        print(
            f"{ev.reference}: {score_line(ev)}  on {ev.n} labelled patches ({ev.n_tumour} tumour)"
            f"; sensitivity {ev.confusion.sensitivity:.4f}  specificity "
            f"{ev.confusion.specificity:.4f}  ECE {ev.ece:.4f} at threshold {args.threshold:.2f}"
        )
    if summary is not None and summary.agreement is not None:
        from pathview.evaluation.html import agreement_text

        print(agreement_text(summary.agreement) + f"; {len(summary.queue)} to adjudicate")
    if unstable is not None:
        print(f"{len(unstable)} patches change their call across the 8 flips/rotations")
    print(f"wrote {args.out}")
    return exit_status("report", result)


def _folder_summary_section(
    result: ScoreResult, truth: dict[str, int], reviews: dict[str, int], threshold: float
) -> str:
    """The report's folder summary (counts, balance, flags, duplicates, clusters, the map)."""
    import numpy as np

    from pathview.triage import DuplicateGroups
    from pathview.triage.folder_summary import map_svg_of, summarise_folder, summary_html

    ids = result.ids
    p = np.asarray(result.p, np.float64)
    truth_col = np.array([truth.get(i, -1) for i in ids], np.int8)
    labels = np.array([reviews.get(i, -1) for i in ids], np.int8)
    quality = result.quality
    n = len(ids)
    if quality is not None and len(quality) == n:
        flags = quality.measures.flags()
        groups = DuplicateGroups(quality.exact_groups(), quality.near_groups())
        measured = np.ones(n, bool)
    else:
        flags, measured = {}, np.zeros(n, bool)
        groups = DuplicateGroups(np.zeros(n, np.int64), np.zeros(n, np.int64))
    features = result.features
    summary = summarise_folder(p, truth_col, labels, flags, measured, groups, features, threshold)
    svg = "" if features is None or not len(features) else map_svg_of(features, p)
    return summary_html(summary, map_inline=svg)
