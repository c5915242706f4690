"""``pathview queue FOLDER --count N --out IDS.txt [--strategy S] [--seed S] [--model DIR] ...``.

Writes the next N unreviewed patch ids of FOLDER, one per line, most useful first (see
:mod:`pathview.triage.queue` for the strategies). This output is a stable contract that
scripts rely on: ids only, one a line, no header; ``--out -`` writes them to stdout.

Patches already reviewed in the folder's review store (by anyone; opened read-only, never
created) are skipped. The folder's cached scores are used where they are there (the score
cache of :mod:`pathview.scoring.cache`, filled by the app, ``pathview score`` and earlier
queues; ``--no-cache`` scores again) and the rest of the folder is scored first, with the one
scoring loop, with TTA for the ``tta`` strategy or ``--tta``, and with the embeddings for
``auto`` and ``diverse``.

Exit status: 0 the queue was written (also when nothing is left to review: an empty file and
the message "nothing left to review" on stderr); 1 nothing written (no patches, a count
below 1, an unknown strategy, a bad folder, model or store, an unwritable output); 3 the queue
was written but some files could not be read (they are not queued; listed on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pathview.cli._common import (
    CommandFailed,
    ProgressBar,
    add_scoring_arguments,
    check_scoring_arguments,
    exit_status,
    load_classifier,
    run_command,
    score_args_folder,
    warn,
)
from pathview.core.files import printable
from pathview.triage.queue import NEEDS_VIEWS, STRATEGIES, USES_EMBEDDINGS

STDOUT = "-"


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``queue`` sub-command."""
    parser = subparsers.add_parser(
        "queue",
        help="write the next N unreviewed patch ids to review, most useful first",
        description=(
            "Score FOLDER and write the ids of the next COUNT patches to review, one per line, "
            "most useful first, skipping patches already reviewed in the folder's review "
            "store. Exit status: 0 written (an empty file when nothing is left to review), 1 "
            "failure (nothing written), 3 written but some files were unreadable."
        ),
        epilog=(
            "Strategies: auto = uncertainty with near-duplicates deferred and one slot in ten "
            "at random (provisional); uncertainty = closest to P 0.5 first; tta = the 8 "
            "flips/rotations disagree most (scores with TTA); diverse = k-center on the "
            "network's embeddings among the 3N most uncertain; balanced = alternate the "
            "predicted classes; random = seeded shuffle. Ties go by id."
        ),
    )
    parser.add_argument("folder", type=Path, help="folder of patch files (.tif, .png, .jpg, ...)")
    parser.add_argument(
        "--count", type=int, required=True, metavar="N", help="how many ids to write (>= 1)"
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="IDS.txt",
        help="file to write, one patch id per line (- for stdout)",
    )
    parser.add_argument(
        "--strategy",
        default="auto",
        metavar="|".join(STRATEGIES),
        help="how to choose (default: auto; see below)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random choices (random, auto)"
    )
    add_scoring_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``pathview queue``; returns the exit status (see the module docstring)."""
    return run_command("queue", _queue, args)


def reviewed_ids(folder: Path) -> set[str]:
    """Ids of the patches with a review in effect in the folder's store (none without a
    store). The store is opened read-only: nothing is created or migrated."""
    from pathview.store import ReviewStore, StoreError, locate_store

    try:
        path = locate_store(folder)
    except StoreError:
        return set()  # nothing reviewed there yet
    store = ReviewStore.open_readonly(path)
    try:
        return set(store.current_states())
    finally:
        store.close()


def _queue(args: argparse.Namespace) -> int:
    from pathview.triage import next_to_review

    if args.strategy not in STRATEGIES:
        raise CommandFailed(
            f"unknown strategy {args.strategy!r}; choose one of {', '.join(STRATEGIES)}"
        )
    if args.count < 1:
        raise CommandFailed(f"--count must be at least 1, got {args.count}")
    check_scoring_arguments(args)
    reviewed = reviewed_ids(args.folder)
    if args.strategy in NEEDS_VIEWS:
        args.tta = True
    classifier = load_classifier("queue", args)
    result, _ = score_args_folder(
        args,
        classifier,
        progress=ProgressBar(sys.stderr),
        features=args.strategy in USES_EMBEDDINGS,
    )
    left = sum(1 for pid in result.ids if pid not in reviewed)
    try:
        queue = next_to_review(
            result.ids,
            result.p,
            args.count,
            strategy=args.strategy,
            reviewed=reviewed,
            views=result.views,
            embeddings=result.features,
            seed=args.seed,
        )
    except ValueError as exc:  # e.g. two files of one id in sub-folders
        raise CommandFailed(f"cannot queue {args.folder}: {exc}") from exc
    _write_ids(args.out, queue)
    to_stdout = args.out == STDOUT
    if not queue:
        warn("queue", "nothing left to review: every readable patch is reviewed")
    print(
        f"queued {len(queue)} of {left} unreviewed patches ({result.scored - left} reviewed) "
        f"by {args.strategy}{' with 8-way TTA' if args.tta else ''}"
        f"{'' if to_stdout else f'; wrote {printable(str(args.out))}'}",
        file=sys.stderr if to_stdout else sys.stdout,
    )
    return exit_status("queue", result)


def _write_ids(out: str, ids: list[str]) -> None:
    from pathview.core.files import atomic_text_writer

    text = "".join(f"{pid}\n" for pid in ids)
    if out == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        with atomic_text_writer(out) as handle:
            handle.write(text)
    except OSError as exc:
        raise CommandFailed(f"cannot write {out}: {exc}") from exc
