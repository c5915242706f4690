"""What a retraining run trains and validates on: review labels matched to images, labelled
patches, and the fixed validation / held-out split (see ``training/retrain.py``).

Every function here is deterministic given its inputs, so each torchrun process can run it;
what reads or writes the run folder runs on rank 0 only (:func:`on_main`) and is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from pathview.core.files import atomic_text_writer
from pathview.io import find_labels_csv
from pathview.store import StoreError, locate_store
from pathview.training.data import (
    PatchSet,
    decode_kept,
    fit_to_native,
    index_folders,
    load_folder,
    load_labelled,
)
from pathview.training.data import merge_labels as merge_label_csvs
from pathview.training.distributed import Rank
from pathview.training.review_labels import (
    MatchedReviews,
    ReviewLabels,
    load_review_labels,
    match_reviews_to_images,
)

log = logging.getLogger("pathview.training.retrain")
T = TypeVar("T")

#: Run-folder files: the split by id, and the snapshot of the review labels.
SPLIT_FILE = "split.json"
REVIEWS_FILE = "reviews.json"
#: Written into the new model directory: the validation ids (later runs reuse them).
VALIDATION_IDS_FILE = "validation_ids.txt"


class RetrainError(Exception):
    """The input cannot be used; the message says why (exit status 2)."""


def write_text(path: Path, text: str) -> None:
    """Write a run or model file atomically (with the permissions the user's umask gives)."""
    with atomic_text_writer(path, newline="\n") as handle:
        handle.write(text)


@dataclass
class Split:
    """Which labelled, non-reviewed ids validate and which are held out (recorded by id)."""

    validation: list[str]
    validation_source: str
    holdout: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "validation": {"source": self.validation_source, "ids": self.validation},
            "holdout": {"ids": self.holdout},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Split:
        v = data["validation"]
        return cls(list(v["ids"]), str(v["source"]), list(data["holdout"]["ids"]))


@dataclass
class Inputs:
    """Everything a run trains and validates on, and where it came from."""

    train: PatchSet
    weights: np.ndarray
    holdout: PatchSet
    val: PatchSet | None
    val_description: str
    reviews: ReviewLabels
    matched: MatchedReviews
    label_csvs: list[Path]
    truth: dict[str, int]
    n_reviewed_train: int
    review_truth: dict[str, int] = field(default_factory=dict)  # reviewed id -> CSV label
    #: Unlabelled, unreviewed patches of the folders: distilled from the parent (``anchors``)
    #: and, a seeded share of them never trained on, to refit the temperature (``calibration``).
    anchors: PatchSet | None = None
    calibration: PatchSet | None = None
    #: The parent's calibrated P of the calibration patches (filled in before training).
    calibration_targets: np.ndarray | None = None

    def fingerprint(self) -> str:
        """SHA-1 of what is trained and validated on (a resume must see the same data)."""
        digest = hashlib.sha1()
        for ids in (
            self.train.ids,
            self.holdout.ids,
            self.val.ids if self.val else [],
            self.anchors.ids if self.anchors else [],
            self.calibration.ids if self.calibration else [],
        ):
            digest.update("\n".join(ids).encode())
            digest.update(b"|")
        digest.update(self.train.labels.astype(np.int64).tobytes())
        digest.update(self.weights.astype(np.float32).tobytes())
        return digest.hexdigest()


def on_main(rank: Rank, fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0 only (it reads or writes the run folder) and give every rank its
    result; a RetrainError on rank 0 is raised on every rank."""
    outcome: tuple[str, Any] = ("ok", None)
    if rank.is_main:
        try:
            outcome = ("ok", fn())
        except RetrainError as exc:
            outcome = ("error", str(exc))
    outcome = rank.broadcast(outcome)
    if outcome[0] == "error":
        raise RetrainError(outcome[1])
    return outcome[1]


def review_sources(args: argparse.Namespace) -> list[Path]:
    """--reviews (folders resolved to their store), else each --images folder's store."""
    sources: list[Path] = []
    try:
        for src in args.reviews:
            sources.append(locate_store(src) if Path(src).is_dir() else Path(src))
    except StoreError as exc:
        raise RetrainError(str(exc)) from exc
    if not args.reviews and not args.no_discover:
        for folder in args.images:
            with contextlib.suppress(StoreError):
                found = locate_store(folder)
                log.info("reviews: using the review store of %s (%s)", folder, found)
                sources.append(found)
    return sources


def label_sources(args: argparse.Namespace) -> list[Path]:
    """--labels, else each --images folder's labels.csv / train_labels.csv."""
    if args.labels or args.no_discover:
        return list(args.labels)
    found = []
    for folder in args.images:
        csv_path = find_labels_csv(folder)
        if csv_path is not None:
            log.info("labels: using %s", csv_path)
            found.append(csv_path)
    return found


def load_reviews(args: argparse.Namespace) -> ReviewLabels:
    """The review labels of this run: a snapshot in the run folder when resuming (reviews
    made since do not change a run half-way), else read from the sources and snapshotted."""
    snapshot = args.run_dir / REVIEWS_FILE
    if args.resume is not None and snapshot.is_file():
        data = json.loads(snapshot.read_text(encoding="utf-8"))
        log.info("reviews: the run's snapshot %s", snapshot)
        return ReviewLabels.from_json(data)
    sources = review_sources(args)
    if sources:
        try:
            reviews = load_review_labels(sources, args.rule)
        except StoreError as exc:
            raise RetrainError(str(exc)) from exc
    else:
        log.warning("no review sources: training on labels only")
        reviews = ReviewLabels({}, [], [], 0, 0, args.rule)
    write_text(snapshot, json.dumps(reviews.to_json(), indent=1) + "\n")
    return reviews


def mismatch_report(matched: MatchedReviews, missing_allowed: bool) -> str | None:
    """The refusal message for reviewed patches whose image changed (or is missing)."""
    lines = []
    if matched.mismatches:
        lines.append(
            f"{len(matched.mismatches)} reviewed patches do not match their image "
            "(the pixels' SHA-1 differs from the one recorded with the review, the file "
            "is unreadable, or its recorded path leaves the --images folders); refusing to "
            "train on them:"
        )
        lines += [f"  {m}" for m in matched.mismatches]
    if matched.missing and not missing_allowed:
        lines.append(
            f"{len(matched.missing)} reviewed patches have no image in the --images folders "
            "(add the folder, or pass --allow-missing to leave them out):"
        )
        lines += [f"  {pid}" for pid in matched.missing]
    return "\n".join(lines) if lines else None


def read_id_list(path: Path) -> list[str]:
    """Ids from a text file, a run's split.json or a model directory's validation_ids.txt."""
    if path.is_dir():
        path = path / VALIDATION_IDS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RetrainError(f"cannot read validation ids {path}: {exc}") from exc
    if path.suffix == ".json":
        return list(json.loads(text)["validation"]["ids"])
    return [line.strip() for line in text.splitlines() if line.strip()]


def seeded_pick(ids: Sequence[str], fraction: float, salt: str) -> list[str]:
    """The ids whose salted SHA-1 falls below ``fraction`` (about that share, sorted).

    Whether an id is picked depends on the id and the salt only, not on the other ids: the
    same seed picks the same patches when the data grows or patches get reviewed.
    """
    if fraction <= 0:
        return []
    limit = fraction * 2**32
    return sorted(
        pid
        for pid in ids
        if int.from_bytes(hashlib.sha1(f"{salt}:{pid}".encode()).digest()[:4], "big") < limit
    )


def choose_split(args: argparse.Namespace, pool: list[str], parent_dir: Path | None) -> Split:
    """Validation and held-out ids among ``pool`` (labelled, non-reviewed ids, sorted).

    A resumed run reads its split.json. Otherwise validation is --val-images (then none is
    drawn from the pool), --val-ids, the parent model's validation ids, or a seeded
    ``--val-fraction`` of the pool; the held-out ids are a seeded ``--holdout-fraction`` of
    what is left. The seeded draws go by each id's own hash (:func:`seeded_pick`), so more
    data or more reviews later leave the other ids where they were. Written to the run
    folder's split.json.
    """
    path = args.run_dir / SPLIT_FILE
    if args.resume is not None and path.is_file():
        return Split.from_json(json.loads(path.read_text(encoding="utf-8")))
    in_pool = set(pool)
    validation: list[str] = []
    if args.no_validation:
        source = "none (--no-validation)"
    elif args.val_images is not None:
        source = f"--val-images {args.val_images} (labels {args.val_labels})"
    else:
        listed: list[str] | None = None
        if args.val_ids is not None:
            listed, source = read_id_list(args.val_ids), f"--val-ids {args.val_ids}"
        elif parent_dir is not None and (parent_dir / VALIDATION_IDS_FILE).is_file():
            listed = read_id_list(parent_dir)
            source = f"the parent model's validation ids ({parent_dir / VALIDATION_IDS_FILE})"
        if listed is not None:
            validation = sorted(set(listed) & in_pool)
            left_out = len(set(listed)) - len(validation)
            if left_out:
                log.info("%d listed validation ids are reviewed or not in the data", left_out)
            if not validation and args.val_ids is None:
                log.warning("none of the parent's validation ids is in the data: drawing anew")
                listed = None
        if listed is None:
            validation = seeded_pick(pool, args.val_fraction, f"validation:{args.seed}")
            source = (
                f"a seeded ~{args.val_fraction:.0%} of the labelled, non-reviewed patches "
                f"(seed {args.seed})"
            )
    rest = sorted(in_pool - set(validation))
    holdout = seeded_pick(rest, args.holdout_fraction, f"holdout:{args.seed}")
    if len(holdout) < args.min_holdout:
        log.info(
            "holding nothing out: %d patches < --min-holdout %d; the last epoch is kept and "
            "the temperature is not refitted",
            len(holdout),
            args.min_holdout,
        )
        holdout = []
    split = Split(validation, source, holdout)
    write_text(path, json.dumps(split.to_json(), indent=1) + "\n")
    return split


#: Share of the unreviewed patches kept out of training to refit the temperature on, and the
#: fewest there must be for that (fewer: all are distilled from, the temperature is kept).
CALIBRATION_FRACTION = 0.2
MIN_CALIBRATION = 100


def _hash_order(ids: Sequence[str], salt: str) -> list[str]:
    """``ids`` in the order of their salted SHA-1 (a seeded shuffle that does not depend on
    the other ids)."""
    return sorted(ids, key=lambda pid: hashlib.sha1(f"{salt}:{pid}".encode()).digest())


def load_anchors(
    args: argparse.Namespace, exclude: set[str]
) -> tuple[PatchSet | None, PatchSet | None]:
    """The folders' unlabelled, unreviewed patches (up to ``--distil-unreviewed``, a seeded
    sample when there are more): distilled from the parent so the new model keeps what the
    parent knew where nobody said otherwise, and a seeded fifth of them (at least
    MIN_CALIBRATION) never trained on, for refitting the temperature against the parent's
    calibrated P. (None, None) when distillation is off or there are none."""
    limit = int(getattr(args, "distil_unreviewed", 0) or 0)
    if limit <= 0 or args.from_scratch:
        return None, None
    index = index_folders(args.images, args.recursive)
    ids = _hash_order([i for i in index if i not in exclude], f"anchors:{args.seed}")[:limit]
    if not ids:
        return None, None
    ids.sort()
    kept, pixels = decode_kept([index[i] for i in ids], ids, args.decode_workers)
    n = len(kept)
    labels = np.zeros(n, np.int64)  # no label: the parent's P is the target
    source = {"images": [str(f) for f in args.images], "n": n, "role": "distilled from parent"}
    anchors = PatchSet(kept, pixels, labels, np.array([""] * n, dtype=object), [source])
    calib_ids = set(seeded_pick(kept, CALIBRATION_FRACTION, f"calibration:{args.seed}"))
    if len(calib_ids) < MIN_CALIBRATION:
        log.info(
            "distilling from the parent on %d unreviewed patches (too few to refit the "
            "temperature on a share of them)",
            n,
        )
        return anchors, None
    mask = np.array([pid in calib_ids for pid in kept])
    log.info(
        "unreviewed patches: %d distilled from the parent, %d kept out to refit the temperature",
        int((~mask).sum()),
        int(mask.sum()),
    )
    return anchors.subset(~mask), anchors.subset(mask)


def prepare_inputs(args: argparse.Namespace, rank: Rank, parent_dir: Path | None) -> Inputs:
    """Reviews matched to images, labelled data, and the validation / held-out split."""
    reviews = on_main(rank, lambda: load_reviews(args))
    log.info(
        "reviews: %d events by %s from %d source(s); %d reviewed patches, %d with a label "
        "(rule %s), %d left out",
        reviews.events,
        ", ".join(reviews.reviewers) or "nobody",
        len(reviews.sources),
        reviews.reviewed_patches,
        len(reviews.labels),
        reviews.rule,
        len(reviews.excluded),
    )
    matched = match_reviews_to_images(reviews, args.images)
    report = mismatch_report(matched, args.allow_missing)
    if report is not None:
        raise RetrainError(report)
    if matched.missing:
        log.warning("%d reviewed patches without an image left out", len(matched.missing))
    reviewed_px: list[np.ndarray] = []
    reviewed_ids: list[str] = []
    reviewed_y: list[int] = []
    for pid, px, y in zip(matched.ids, matched.pixels, matched.labels, strict=True):
        fitted = fit_to_native(px)
        if fitted is None:
            log.warning("reviewed patch %s is smaller than 96x96: left out", pid)
            continue
        reviewed_ids.append(pid)
        reviewed_px.append(np.ascontiguousarray(fitted))
        reviewed_y.append(y)
    csvs = label_sources(args)
    truth, _conflicts = merge_label_csvs(csvs) if csvs else ({}, [])
    # Any patch with a review in effect trains only with its review's label (or not at all
    # when the reviews give none) and never validates.
    reviewed_all = set(reviews.labels) | set(reviews.excluded)
    labelled = load_labelled(
        args.images, truth, args.decode_workers, exclude=reviewed_all, recursive=args.recursive
    )
    pool = labelled.ids
    split = on_main(rank, lambda: choose_split(args, pool, parent_dir))
    pos = {pid: i for i, pid in enumerate(labelled.ids)}
    val_mask = np.zeros(len(labelled), bool)
    val_mask[[pos[i] for i in split.validation if i in pos]] = True
    hold_mask = np.zeros(len(labelled), bool)
    hold_mask[[pos[i] for i in split.holdout if i in pos]] = True
    if args.val_images is not None and not args.no_validation:
        external = load_folder(args.val_images, args.val_labels, args.decode_workers)
        overlap = set(external.ids) & (set(labelled.ids) | set(reviewed_ids))
        if overlap:
            raise RetrainError(
                f"{len(overlap)} --val-images patches are also training patches "
                f"(e.g. {sorted(overlap)[0]}): validation must never be trained on"
            )
        val: PatchSet | None = external
        val_description = split.validation_source
    elif val_mask.any():
        val = labelled.subset(val_mask)
        val_description = split.validation_source
    else:
        val, val_description = None, "none"
    holdout = labelled.subset(hold_mask)
    # One copy of the training pixels (the labelled set is the biggest array in memory).
    base_idx = np.flatnonzero(~val_mask & ~hold_mask)
    n_base = len(base_idx)
    pixels = np.empty((n_base + len(reviewed_ids), *labelled.pixels.shape[1:]), np.uint8)
    # mode="clip": the indices are valid, and "raise" would buffer a second copy.
    np.take(labelled.pixels, base_idx, axis=0, out=pixels[:n_base], mode="clip")
    for i, px in enumerate(reviewed_px, start=n_base):
        pixels[i] = px
    base_source = {**labelled.sources[0], "n": n_base}
    base_source["n_tumour"] = int(labelled.labels[base_idx].sum())
    train = PatchSet(
        [labelled.ids[i] for i in base_idx] + reviewed_ids,
        pixels,
        np.concatenate([labelled.labels[base_idx], np.array(reviewed_y, dtype=np.int64)]),
        np.array([""] * len(pixels), dtype=object),
        [
            {**base_source, "labels": [str(p) for p in csvs]},
            {"reviews": reviews.sources, "n": len(reviewed_ids), "n_tumour": sum(reviewed_y)},
        ],
    )
    del labelled, reviewed_px
    weights = np.concatenate(
        [np.ones(n_base, np.float32), np.full(len(reviewed_ids), args.review_weight, np.float32)]
    )
    if len(train) == 0:
        raise RetrainError(
            "nothing to train on: no reviewed patch with a label and no labelled patch found "
            "in the --images folders"
        )
    if val is None and not args.no_validation:
        raise RetrainError(
            "no validation data: give --val-images/--val-labels, labels for some non-reviewed "
            "patches (--labels), or --no-validation"
        )
    exclude = set(truth) | reviewed_all | set(val.ids if val is not None else [])
    anchors, calibration = load_anchors(args, exclude)
    log.info(
        "training on %d patches (%d reviewed, weight %g; %d labelled), held out %d, validation %s",
        len(train),
        len(reviewed_ids),
        args.review_weight,
        n_base,
        len(holdout),
        len(val) if val is not None else "none",
    )
    return Inputs(
        train=train,
        weights=weights,
        holdout=holdout,
        val=val,
        val_description=val_description,
        reviews=reviews,
        matched=matched,
        label_csvs=csvs,
        truth=truth,
        n_reviewed_train=len(reviewed_ids),
        review_truth={pid: truth[pid] for pid in reviewed_ids if pid in truth},
        anchors=anchors,
        calibration=calibration,
    )
