"""``pathview export-patches SLIDE --reviewed --out FOLDER [--store STORE] [--rule ...]``.

Writes the reviewed tiles of a slide as a Kaggle-layout patch folder (96 x 96 ``.tif`` files,
``labels.csv``, ``provenance.csv``; see :mod:`pathview.slide.export`) that
``python -m pathview.training.retrain --images FOLDER`` takes as it is. The reviews come from
the review store of the slide's folder (where the app records them) or ``--store``; a tile's
label is the store's exported label (``pathview export``'s rules). Exit status: 0 written;
1 nothing written; 3 written, but some reviewed tiles were left out (listed on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pathview.cli._common import EXIT_OK, EXIT_PARTIAL, CommandFailed, run_command, warn
from pathview.store import ConsensusRule, ReviewStore, reviewed_labels

if TYPE_CHECKING:
    from pathview.slide.export import ReviewedTile


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``export-patches`` sub-command."""
    parser = subparsers.add_parser(
        "export-patches",
        help="write a slide's reviewed tiles as a patch folder for retraining",
        description=(
            "Write the reviewed tiles of SLIDE as a Kaggle-layout patch folder: 96x96 .tif "
            "files, labels.csv (id,label) and provenance.csv (id,slide,x,y,size,level,"
            "slide_mpp,tile_mpp,pixel_sha1), ready for python -m pathview.training.retrain "
            "--images FOLDER. Exit status: 0 ok, 1 failure (nothing written), 3 written but "
            "some reviewed tiles were left out."
        ),
    )
    parser.add_argument("slide", type=Path, help="the slide file whose tiles were reviewed")
    parser.add_argument(
        "--reviewed",
        action="store_true",
        required=True,
        help="export the reviewed tiles (the one selection there is)",
    )
    parser.add_argument("--out", type=Path, required=True, help="patch folder to write")
    parser.add_argument(
        "--store", type=Path, help="review store (default: the store of the slide's folder)"
    )
    parser.add_argument(
        "--rule",
        choices=[r.value for r in ConsensusRule],
        default=ConsensusRule.LATEST.value,
        help="how several reviewers' reviews of one tile combine (default: latest)",
    )
    parser.add_argument("--mpp", type=float, help="the slide's microns per pixel, if unrecorded")


def run(args: argparse.Namespace) -> int:
    """Run ``pathview export-patches`` (see the module docstring)."""
    return run_command("export-patches", _export, args)


def reviewed_tiles(store: ReviewStore, slide_name: str, rule: str) -> list[ReviewedTile]:
    """The tiles of ``slide_name`` that have an exported label in ``store`` under ``rule``,
    each with the place and pixel SHA-1 of its latest review."""
    from pathview.slide import parse_tile_relpath
    from pathview.slide.export import ReviewedTile

    labels = reviewed_labels(store, rule)
    latest: dict[str, tuple[str, str]] = {}
    for event in store.iter_events():
        if event.kind == "review" and event.patch_id in labels:
            latest[event.patch_id] = (event.relpath, event.pixel_sha1)
    tiles = []
    for patch_id, (relpath, sha) in latest.items():
        place = parse_tile_relpath(relpath)
        if place is not None and place.slide == slide_name:
            tiles.append(ReviewedTile(patch_id, labels[patch_id], place, sha))
    return tiles


def _export(args: argparse.Namespace) -> int:
    from pathview.slide import SlideError, open_slide
    from pathview.slide.export import write_patch_folder
    from pathview.store import locate_store

    if args.out.exists() and not args.out.is_dir():
        raise CommandFailed(f"not a folder: {args.out}")
    store_path = args.store if args.store is not None else locate_store(args.slide.parent)
    with ReviewStore.open_readonly(store_path) as store:
        tiles = reviewed_tiles(store, args.slide.name, args.rule)
    if not tiles:
        raise CommandFailed(f"no reviewed tiles of {args.slide.name} in {store_path}")
    try:
        with open_slide(args.slide, args.mpp) as slide:
            result = write_patch_folder(slide, tiles, args.out)
    except SlideError as exc:
        raise CommandFailed(str(exc)) from exc
    for patch_id, reason in result.skipped:
        print(f"left out {patch_id}: {reason}", file=sys.stderr)
    print(f"wrote {len(result.written)} reviewed tiles of {args.slide.name} to {args.out}")
    if result.skipped:
        warn("export-patches", f"{len(result.skipped)} reviewed tiles left out (listed above)")
        return EXIT_PARTIAL
    return EXIT_OK
