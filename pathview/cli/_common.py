"""What the headless commands share: the one place known errors become a message and an exit
status (:func:`run_command`), and for ``pathview score`` and ``pathview report`` the scoring
arguments, loading the model, reading ground truth, scoring a folder and the exit statuses.

A failure that writes nothing is raised as :class:`CommandFailed` - or is one of the known
error types of the layers below (see :func:`known_errors`) - and turned into a message on
stderr and exit status 1 by :func:`run_command`; anything else is a bug and keeps its
traceback. Heavy modules (torch via the model) are imported inside the functions, so
registering a sub-command stays cheap.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pathview.cli import DEVICE_CHOICES, DEVICE_HELP, PRECISION_CHOICES
from pathview.core.files import UnsafePathError, printable

if TYPE_CHECKING:
    import numpy as np

    from pathview.model import Classifier
    from pathview.scoring import ScoreCache, ScoreProgress, ScoreResult

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PARTIAL = 3
#: At most this many bad rows are listed one by one.
MAX_LISTED = 50


class CommandFailed(Exception):
    """Nothing was written: the message goes to stderr and the exit status is 1."""


def known_errors() -> tuple[type[BaseException], ...]:
    """The error types whose message is the whole story: the store's (StoreError, and with it
    SchemaError and StoreBusy), unreadable label tables and folders, file-system errors, and
    a refused path."""
    from pathview.io import FolderError, LabelsError
    from pathview.store import StoreError

    return (CommandFailed, StoreError, LabelsError, FolderError, UnsafePathError, OSError)


def run_command(
    command: str, body: Callable[[argparse.Namespace], int], args: argparse.Namespace
) -> int:
    """``body(args)``, or :data:`EXIT_FAILED` with ``pathview COMMAND: message`` on stderr
    when it raises one of :func:`known_errors`."""
    try:
        return body(args)
    except Exception as exc:
        if not isinstance(exc, known_errors()):
            raise
        warn(command, str(exc))
        return EXIT_FAILED


def warn(command: str, message: str) -> None:
    """``pathview COMMAND: message`` on stderr (undecodable file-name bytes shown as \\xNN)."""
    print(f"pathview {command}: {printable(message)}", file=sys.stderr)


def read_truth_labels(command: str, path: Path) -> dict[str, int]:
    """The id -> 0/1 labels of a ground-truth CSV; the rows it cannot use (bad labels, ids
    listed with both labels...) are listed on stderr by line number."""
    from pathview.io import LabelsError, read_labels

    try:
        table = read_labels(path)
    except LabelsError as exc:
        raise CommandFailed(str(exc)) from exc
    if table.problems:
        warn(command, f"{len(table.problems)} rows of {path} not used:")
        for problem in table.problems[:MAX_LISTED]:
            print(f"  {printable(str(problem))}", file=sys.stderr)
        if len(table.problems) > MAX_LISTED:
            print(f"  ... and {len(table.problems) - MAX_LISTED} more", file=sys.stderr)
    return dict(table.labels)


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say which model scores a folder, where and how."""
    parser.add_argument("--model", type=Path, help="model directory (default: bundled model)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=DEVICE_HELP)
    parser.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="auto",
        help="number format: auto = int8 on a CPU when the model has int8 weights, else float32",
    )
    parser.add_argument("--tta", action="store_true", help="average the 8 flips/rotations")
    parser.add_argument("--batch-size", type=int, default=256, help="patches per batch")
    parser.add_argument("--recursive", action="store_true", help="include sub-folders")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="score every patch again instead of reusing the folder's score cache (the scores "
        "of unchanged files from an earlier run with the same model; the cache is not updated)",
    )


def check_scoring_arguments(args: argparse.Namespace) -> None:
    """Refuse a batch size below 1 and a folder that is not one."""
    if args.batch_size < 1:
        raise CommandFailed("--batch-size must be at least 1")
    if not args.folder.is_dir():
        raise CommandFailed(f"not a folder: {args.folder}")


def load_classifier(command: str, args: argparse.Namespace) -> Classifier:
    """The model of ``--model`` on ``--device``; a device fallback is noted on stderr."""
    from pathview.model import ModelLoadError, load_model

    # The device and precision notes are logged as warnings too; with no logging set up
    # Python would print them bare on stderr, and then once more below.
    model_log = logging.getLogger("pathview.model.classifier")
    level = model_log.level
    model_log.setLevel(logging.ERROR)
    try:
        classifier = load_model(args.model, device=args.device, precision=args.precision)
    except ModelLoadError as exc:
        raise CommandFailed(f"cannot load model: {exc}") from exc
    finally:
        model_log.setLevel(level)
    for note in (classifier.device_note, classifier.precision_note):
        if note:
            warn(command, note)
    return classifier


def score_args_folder(
    args: argparse.Namespace,
    classifier: Classifier,
    views: bool = False,
    progress: ScoreProgress | None = None,
    features: bool = False,
    quality: bool = False,
) -> tuple[ScoreResult, np.ndarray | None]:
    """Score ``args.folder`` as the scoring arguments say; with ``views`` also the P(tumour) of
    each of the 8 flips/rotations (else None), from the same pass (the TTA views); with
    ``features`` ``result.features`` holds the embeddings from the same pass; with ``quality``
    ``result.quality`` the quality measures and hashes. The folder's score cache answers
    for the unchanged patches it has scores of (not with ``--no-cache``) and keeps the rest.

    Unreadable files are listed on stderr; no patch files, none readable, a folder error or
    Ctrl+C raise :class:`CommandFailed`.
    """
    command = getattr(args, "command", None) or "score"
    with _score_cache(command, args) as cache:
        result = _score(args, classifier, views, progress, features, quality, cache)
    if result.cached:
        print(
            f"{result.cached:,} of {result.total:,} patches' scores from the score cache "
            "(--no-cache scores them again)",
            file=sys.stderr,
        )
    for relpath, reason in result.failed:
        print(printable(f"unreadable: {relpath}: {reason}"), file=sys.stderr)
    if result.scored == 0:
        raise CommandFailed(f"none of the {result.total} files could be read; nothing written")
    return result, result.views if views else None


@contextlib.contextmanager
def _score_cache(command: str, args: argparse.Namespace) -> Iterator[ScoreCache | None]:
    """The folder's score cache (None with ``--no-cache``); its warnings go to stderr as
    ``pathview COMMAND: ...``."""
    from pathview.scoring import ScoreCache, ScoreCacheWarning

    if getattr(args, "no_cache", False):
        yield None
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScoreCacheWarning)
        cache = ScoreCache.for_folder(args.folder) if args.folder.is_dir() else None
        try:
            yield cache
        finally:
            if cache is not None:
                cache.close()
    for item in caught:
        if issubclass(item.category, ScoreCacheWarning):
            warn(command, str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def _score(
    args: argparse.Namespace,
    classifier: Classifier,
    views: bool,
    progress: ScoreProgress | None,
    features: bool,
    quality: bool,
    cache: ScoreCache | None,
) -> ScoreResult:
    from pathview.io import FolderError
    from pathview.scoring import score_folder

    try:
        result = score_folder(
            args.folder,
            classifier,
            tta=args.tta,
            batch_size=args.batch_size,
            progress=progress,
            recursive=args.recursive,
            views=views,
            features=features,
            quality=quality,
            cache=cache,
        )
    except FolderError as exc:
        raise CommandFailed(str(exc)) from exc
    except KeyboardInterrupt as exc:
        raise CommandFailed("interrupted; nothing written") from exc
    if result.total == 0:
        raise CommandFailed(f"no patch files in {args.folder}")
    return result


def exit_status(command: str, result: ScoreResult) -> int:
    """:data:`EXIT_PARTIAL` (with a note on stderr) when some files were unreadable."""
    if result.failed:
        warn(command, f"{len(result.failed)} files unreadable (listed above)")
        return EXIT_PARTIAL
    return EXIT_OK


class ProgressBar:
    """A one-line progress bar on a terminal; silent when the stream is not a TTY."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.width = width
        self.t0 = time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        frac = done / total if total else 1.0
        fill = int(frac * self.width)
        rate = done / max(1e-9, now - self.t0)
        self.stream.write(
            f"\rscoring [{'#' * fill}{'.' * (self.width - fill)}] {done}/{total} "
            f"{frac:4.0%} {rate:,.0f}/s"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
