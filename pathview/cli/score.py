"""``pathview score FOLDER --out SCORES.csv [--details DETAILS.csv] [--labels L.csv] [--tta]
[--device ...] [--model DIR]``.

Writes the Kaggle submission format (``id,label`` with label = P(tumour)). With ``--details``
also a second CSV, one row per scored patch, in this fixed column order (see
:mod:`pathview.scoring.details`): ``id,p_tumour[,tta_spread],blank,tissue_fraction,dark,
brightness,saturated,saturation,ink,ink_fraction,blurred,sharpness,exact_duplicate_group,
near_duplicate_group`` (``tta_spread`` only with ``--tta``; each flag 0/1 followed by the value
it was decided on; a duplicate group is a number shared by the group's patches, empty for none;
blank patches are in no near-duplicate group).
With ground truth (``--labels``, else the folder's own labels CSV) it prints AUC, accuracy and
ECE. Exit status: 0 all patches scored; 1 nothing written (bad folder, model, labels or output
path; no patches; cancelled); 3 the CSV was written but some files could not be read (listed on
stderr).

``pathview score SLIDE [SLIDE ...] --out tiles.csv`` scores slides instead (see
:mod:`pathview.cli.score_slides`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pathview.cli._common import (
    CommandFailed,
    ProgressBar,
    add_scoring_arguments,
    check_scoring_arguments,
    exit_status,
    load_classifier,
    read_truth_labels,
    run_command,
    score_args_folder,
)
from pathview.cli.score_slides import add_slide_arguments, score_slides_command, wants_slides

if TYPE_CHECKING:
    from pathview.quality import PatchQuality


#: The details CSV's columns as ``--help`` lists them (tests check them against
#: :func:`pathview.scoring.details_columns`; not imported here, to keep ``--help`` light).
DETAILS_HELP = (
    "id, p_tumour, tta_spread (with --tta only), blank, tissue_fraction, dark, brightness, "
    "saturated, saturation, ink, ink_fraction, blurred, sharpness, exact_duplicate_group, "
    "near_duplicate_group (flags 0/1, each followed by the value it was decided on; "
    "thresholds: blank tissue_fraction < 0.1, dark brightness < 60, saturated saturation > 190, "
    "ink ink_fraction > 0.02, blurred sharpness < 400; duplicate groups numbered from 1, "
    "empty for none; blank patches are in no near-duplicate group)"
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``score`` sub-command."""
    parser = subparsers.add_parser(
        "score",
        help="score every patch of a folder (or every tissue tile of slides), write a CSV",
        description=(
            "Score every patch in FOLDER headlessly and write the Kaggle submission format "
            "(id,label with label = calibrated P(tumour)). Given slides instead (SLIDE.svs ...), "
            "score their tissue tiles at the model's scale and write id,label,slide,x,y,size,"
            "level,mpp. Exit status: 0 ok, 1 failure (nothing written), 3 written but some "
            "files, slides or tiles were unreadable."
        ),
    )
    parser.add_argument(
        "folder",
        type=Path,
        help="folder of patch files (.tif, .png, .jpg, ...), or a slide (see 'slides' below)",
    )
    parser.add_argument("--out", type=Path, required=True, help="CSV to write (id,label)")
    parser.add_argument(
        "--details",
        type=Path,
        metavar="DETAILS.csv",
        help="also write one row per patch with P(tumour), quality flags and duplicate groups, "
        f"columns in this order: {DETAILS_HELP}",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        help="ground truth id,label: print AUC, accuracy, ECE (default: the folder's own "
        "labels.csv or train_labels.csv, as the app and `pathview report` use)",
    )
    add_scoring_arguments(parser)
    add_slide_arguments(parser)


def quality_summary(quality: PatchQuality) -> str:
    """One line: how many patches each flag raised and how many are in duplicate groups."""
    from pathview.quality import THRESHOLDS

    flags = quality.measures.flags()
    counts = ", ".join(f"{int(flags[t.flag].sum())} {t.flag}" for t in THRESHOLDS)
    parts = []
    for name, groups in (("exact", quality.exact_groups()), ("near", quality.near_groups())):
        parts.append(
            f"{int((groups > 0).sum())} patches in {int(groups.max(initial=0))} {name}-duplicate "
            "groups"
        )
    return f"quality flags: {counts}; {'; '.join(parts)}"


def run(args: argparse.Namespace) -> int:
    """Run ``pathview score``; returns the exit status (see the module docstring)."""
    return run_command("score", _score, args)


def _score(args: argparse.Namespace) -> int:
    if wants_slides(args):
        return score_slides_command(args)
    from pathview.io import find_labels_csv
    from pathview.scoring import write_details_csv, write_scores_csv
    from pathview.stats import accuracy, expected_calibration_error, roc_auc

    check_scoring_arguments(args)
    labels = None
    labels_path = args.labels if args.labels is not None else find_labels_csv(args.folder)
    if labels_path is not None:
        labels = read_truth_labels("score", labels_path)
    classifier = load_classifier("score", args)
    details = args.details is not None
    result, _ = score_args_folder(
        args, classifier, progress=ProgressBar(sys.stderr), quality=details
    )
    if details:  # first, so that a failure leaves neither file
        assert result.quality is not None
        try:
            write_details_csv(args.details, result.ids, result.p, result.quality, result.spread)
        except OSError as exc:
            raise CommandFailed(f"cannot write {args.details}: {exc}") from exc
    try:
        write_scores_csv(args.out, result.ids, result.p)
    except OSError as exc:
        if details:
            args.details.unlink(missing_ok=True)
        raise CommandFailed(f"cannot write {args.out}: {exc}") from exc
    name = classifier.metadata.name or "model"
    rate = result.scored / max(result.seconds, 1e-9)
    codec = getattr(classifier, "codec", None)
    print(
        f"scored {result.scored} patches{' with 8-way TTA' if args.tta else ''}"
        f"{f' ({result.cached:,} from the score cache)' if result.cached else ''} in "
        f"{result.seconds:.1f}s ({rate:,.0f}/s) with {name} {classifier.model_id[:12]} on "
        f"{classifier.device} in {classifier.precision}"
        f"{f', inputs through {codec.describe()}' if codec else ''}; wrote {args.out}"
    )
    if details:
        assert result.quality is not None
        print(f"{quality_summary(result.quality)}; wrote {args.details}")
    if labels is not None:
        found = "" if args.labels is not None else " (found with the folder; --labels overrides)"
        print(f"labels: {labels_path}{found}")
        known = [i for i, pid in enumerate(result.ids) if pid in labels]
        if known:
            y = np.array([labels[result.ids[i]] for i in known])
            p = result.p[known]
            auc = roc_auc(p, y)
            acc = accuracy(p, y)
            ece = expected_calibration_error(p, y)
            print(
                f"AUC {auc:.4f}  accuracy {acc:.4f}  ECE {ece:.4f}  on {len(known)} labelled "
                "patches "
                f"({int(y.sum())} tumour); {result.scored - len(known)} scored patches "
                "have no label"
            )
        else:
            print("no scored patch has a label in the labels file", file=sys.stderr)
    return exit_status("score", result)
