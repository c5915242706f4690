"""``pathview score SLIDE [SLIDE ...] --out tiles.csv [--mpp UM] [--ray [--ray-address A]]``.

The slide form of ``pathview score``: each slide is tiled at the model's scale (tissue tiles
only, see :mod:`pathview.slide.tiles`) and every tile scored; the CSV has the columns of
:data:`pathview.scoring.slide.TILE_COLUMNS` (``id,label,slide,x,y,size,level,mpp``). Several
slides run one after the other, or with ``--ray`` as one Ray task per slide (the ``cluster``
extra). Exit status: 0 every tile of every slide scored; 1 nothing written; 3 written, but a
slide or some tiles could not be read (listed on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pathview.cli._common import (
    EXIT_OK,
    EXIT_PARTIAL,
    CommandFailed,
    load_classifier,
    warn,
)

if TYPE_CHECKING:
    from pathview.scoring.cluster import SlideJob, SlideOutcome


def add_slide_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that only slides take."""
    group = parser.add_argument_group("slides (SLIDE.svs, .tif, .ndpi, ... instead of a folder)")
    group.add_argument(
        "more_slides", nargs="*", type=Path, metavar="SLIDE", help="more slides to score"
    )
    group.add_argument(
        "--mpp",
        type=float,
        help="the slides' microns per pixel at full resolution, for slides that do not record "
        "it (never guessed from the objective power); overrides a recorded value",
    )
    group.add_argument(
        "--min-tissue",
        type=float,
        default=None,
        metavar="FRACTION",
        help="list a tile when at least this fraction of it is tissue (default 0.25; 0: all)",
    )
    group.add_argument(
        "--ray",
        action="store_true",
        help="score one slide per Ray task (pip install 'pathview[cluster]'); a local Ray is "
        "started unless --ray-address names a cluster",
    )
    group.add_argument("--ray-address", help="Ray cluster to use with --ray (e.g. auto)")
    group.add_argument(
        "--ray-cpus", type=int, default=None, help="workers of a local Ray (default: all CPUs)"
    )


def wants_slides(args: argparse.Namespace) -> bool:
    """Whether ``pathview score`` was given slides rather than a folder."""
    from pathview.slide import is_slide_path

    return bool(args.more_slides) or is_slide_path(args.folder)


def _job(args: argparse.Namespace) -> SlideJob:
    from pathview.scoring.cluster import SlideJob
    from pathview.slide import MIN_TISSUE_FRACTION

    min_tissue = MIN_TISSUE_FRACTION if args.min_tissue is None else args.min_tissue
    return SlideJob(
        model_dir=None if args.model is None else str(args.model),
        device=args.device,
        precision=args.precision,
        tta=args.tta,
        batch_size=args.batch_size,
        mpp=args.mpp,
        min_tissue=min_tissue,
    )


def _check(args: argparse.Namespace, paths: list[Path]) -> None:
    if args.details is not None or args.labels is not None:
        raise CommandFailed("--details and --labels are for patch folders, not slides")
    if args.batch_size < 1:
        raise CommandFailed("--batch-size must be at least 1")
    if args.mpp is not None and not 0 < args.mpp < 100:
        raise CommandFailed("--mpp must be a number of microns per pixel between 0 and 100")
    if args.min_tissue is not None and not 0 <= args.min_tissue <= 1:
        raise CommandFailed("--min-tissue must be between 0 and 1")
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise CommandFailed(f"no such slide file: {missing[0]}")


def _outcomes(args: argparse.Namespace, paths: list[Path], job: SlideJob) -> list[SlideOutcome]:
    from pathview.scoring.cluster import score_slides, score_slides_on_ray

    if args.ray:
        try:
            return list(score_slides_on_ray(paths, job, args.ray_address, args.ray_cpus))
        except RuntimeError as exc:
            raise CommandFailed(str(exc)) from exc
    classifier = load_classifier("score", args)
    outcomes = []
    for outcome in score_slides(paths, job, classifier):
        outcomes.append(outcome)
        _report(outcome)
    return outcomes


def _report(outcome: SlideOutcome) -> None:
    if outcome.scores is None:
        warn("score", str(outcome.error))
        return
    s = outcome.scores
    print(
        f"{outcome.path.name}: {s.scored} tiles of {s.grid.side} px at {s.grid.slide_mpp:g} "
        f"um/px (level {s.level}) scored in {s.seconds:.1f}s",
        file=sys.stderr,
    )
    for row, reason in list(s.failed.items())[:10]:
        print(f"  unreadable tile {s.grid.id(row)}: {reason}", file=sys.stderr)
    if len(s.failed) > 10:
        print(f"  ... and {len(s.failed) - 10} more unreadable tiles", file=sys.stderr)


def score_slides_command(args: argparse.Namespace) -> int:
    """Run ``pathview score`` on slides (see the module docstring)."""
    from pathview.scoring.slide import write_tiles_csv

    paths = [args.folder, *args.more_slides]
    _check(args, paths)
    job = _job(args)
    outcomes = _outcomes(args, paths, job)
    if args.ray:
        for outcome in outcomes:
            _report(outcome)
    order = {p: i for i, p in enumerate(paths)}
    scored = sorted(
        (o for o in outcomes if o.scores is not None), key=lambda o: order.get(o.path, 0)
    )
    if not scored:
        raise CommandFailed("no slide could be scored; nothing written")
    try:
        rows = write_tiles_csv(args.out, [o.scores for o in scored if o.scores is not None])
    except OSError as exc:
        raise CommandFailed(f"cannot write {args.out}: {exc}") from exc
    print(f"scored {rows} tiles of {len(scored)} slides; wrote {args.out}")
    partial = len(scored) < len(paths) or any(o.scores and o.scores.failed for o in scored)
    return EXIT_PARTIAL if partial else EXIT_OK
