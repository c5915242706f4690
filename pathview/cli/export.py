"""``pathview export FOLDER_OR_STORE --labels OUT.csv [--log OUT.csv]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pathview.cli._common import run_command
from pathview.store import (
    ConsensusRule,
    ReviewStore,
    locate_store,
    write_labels_csv,
    write_log_csv,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "export",
        help="write reviewed labels and/or the review log as CSV",
        description=(
            "Write the reviewed labels (Kaggle id,label: agree keeps the model's call, disagree "
            "flips it, a label key's label is kept, unsure is left out) and/or the full review "
            "history of a folder's store (with the view and P shown, notes and ground-truth flags)."
        ),
    )
    parser.add_argument("source", type=Path, help="patch folder or review store (.sqlite)")
    parser.add_argument("--labels", type=Path, help="write id,label for reviewed patches here")
    parser.add_argument("--log", type=Path, help="write the full review history here")
    parser.add_argument(
        "--rule",
        choices=[r.value for r in ConsensusRule],
        default=ConsensusRule.LATEST.value,
        help="how several reviewers' reviews of one patch combine (default: latest)",
    )
    parser.add_argument("--reviewer", help="export only this reviewer's reviews")


def run(args: argparse.Namespace) -> int:
    """Run ``pathview export``: 0 written, 1 failed (message on stderr), 2 usage."""
    return run_command("export", _export, args)


def _export(args: argparse.Namespace) -> int:
    if args.labels is None and args.log is None:
        print("pathview export: give --labels OUT.csv and/or --log OUT.csv", file=sys.stderr)
        return 2
    # Read-only: takes no lock a reviewer's app would wait for; works in a read-only folder.
    with ReviewStore.open_readonly(locate_store(args.source)) as store:
        if args.labels is not None:
            n = write_labels_csv(store, args.labels, args.rule, args.reviewer)
            print(f"wrote {n} reviewed labels to {args.labels}")
        if args.log is not None:
            n = write_log_csv(store, args.log)
            print(f"wrote {n} review events to {args.log}")
    return 0
