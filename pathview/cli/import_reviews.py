"""``pathview import SOURCE [SOURCE ...] --into FOLDER_OR_STORE``: merge colleagues' reviews."""

from __future__ import annotations

import argparse
from pathlib import Path

from pathview.cli._common import run_command
from pathview.store import ReviewStore, import_reviews, locate_store
from pathview.store.reviews import open_store_for_folder


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "import",
        help="merge other reviewers' stores (.sqlite) or review logs (.csv) into a store",
        description="Idempotent: importing the same source twice adds nothing the second time.",
    )
    parser.add_argument("sources", type=Path, nargs="+", help="review stores or review log CSVs")
    parser.add_argument(
        "--into", type=Path, required=True, help="patch folder or review store to merge into"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``pathview import``: 0 merged, 1 failed (message on stderr; that source added
    nothing, the ones before it stay merged)."""
    return run_command("import", _import, args)


def _import(args: argparse.Namespace) -> int:
    target: Path = args.into
    store = (
        open_store_for_folder(target)
        if target.is_dir()
        else ReviewStore(locate_store(target), create=False)
    )
    with store:
        for source in args.sources:
            result = import_reviews(store, source)
            print(f"{source}: {result.read} events read, {result.added} new")
    return 0
