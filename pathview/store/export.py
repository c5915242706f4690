"""CSV export of reviews and import of other reviewers' stores or logs.

Labels CSV (Kaggle ``id,label``): one row per reviewed patch whose reviews imply a label.
Agree keeps the model's call (P >= 0.5 is tumour), disagree flips it, unsure implies nothing and
is left out. With several reviewers, each reviewer's current (latest, not undone) review counts
once, and ``rule`` decides:

- ``latest``: the most recent review of any reviewer decides (left out if it is unsure);
- ``majority``: a strict majority of the reviewers' labels decides; a tie is left out;
- ``unanimous``: kept only when every reviewer with a label gives the same one.

An adjudication (a review made in the adjudicator role) overrides the rule for its patch: its
label is exported (an unsure adjudication leaves the patch out). ``adjudication_queue`` lists
the patches whose reviewers disagree and that no adjudication has settled yet.

Log CSV: the whole event history, one row per event, columns in ``LOG_COLUMNS`` order (fixed;
scripts rely on it). Both files are written atomically.
"""

from __future__ import annotations

import csv
import enum
import math
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pathview.core import Verdict
from pathview.core.files import atomic_text_writer
from pathview.store.reviews import (
    EVENT_COLUMNS,
    PatchState,
    ReviewEvent,
    ReviewStore,
    StoreError,
)

#: Column order of the review log CSV.
LOG_COLUMNS: tuple[str, ...] = EVENT_COLUMNS


class ConsensusRule(str, enum.Enum):
    """How the reviews of several reviewers combine into one exported label."""

    LATEST = "latest"
    MAJORITY = "majority"
    UNANIMOUS = "unanimous"


def consensus_label(states: Iterable[PatchState], rule: ConsensusRule | str) -> int | None:
    """Combine reviewers' current reviews of one patch into a label (or None: left out)."""
    rule = ConsensusRule(rule)
    ordered = sorted(states, key=lambda s: s.order)
    if not ordered:
        return None
    if rule is ConsensusRule.LATEST:
        return ordered[-1].label
    votes = [s.label for s in ordered if s.label is not None]
    if not votes:
        return None
    ones = sum(votes)
    zeros = len(votes) - ones
    if rule is ConsensusRule.MAJORITY:
        return 1 if ones > zeros else 0 if zeros > ones else None
    return votes[0] if ones == 0 or zeros == 0 else None


def reviewed_labels(
    store: ReviewStore,
    rule: ConsensusRule | str = ConsensusRule.LATEST,
    reviewer: str | None = None,
) -> dict[str, int]:
    """patch id -> exported label under ``rule`` (only ``reviewer``'s reviews if given).

    Adjudications settle their patches whatever the rule, unless a single reviewer is asked for.
    """
    labels: dict[str, int] = {}
    adjudicated = store.adjudications() if reviewer is None else {}
    for patch_id, by_reviewer in store.reviewer_states().items():
        if patch_id in adjudicated:
            continue
        states = [s for r, s in by_reviewer.items() if reviewer is None or r == reviewer]
        label = consensus_label(states, rule)
        if label is not None:
            labels[patch_id] = label
    for patch_id, final in adjudicated.items():
        if final.label is not None:
            labels[patch_id] = final.label
    return labels


def adjudication_queue(store: ReviewStore) -> list[str]:
    """Patch ids whose reviewers' current labels differ and that are not adjudicated yet."""
    adjudicated = store.adjudications()
    queue = []
    for patch_id, by_reviewer in store.reviewer_states().items():
        labels = {s.label for s in by_reviewer.values() if s.label is not None}
        if len(labels) > 1 and patch_id not in adjudicated:
            queue.append(patch_id)
    return sorted(queue)


def write_labels_csv(
    store: ReviewStore,
    out: str | os.PathLike[str],
    rule: ConsensusRule | str = ConsensusRule.LATEST,
    reviewer: str | None = None,
) -> int:
    """Write ``id,label`` for the reviewed patches, sorted by id; returns the row count."""
    labels = reviewed_labels(store, rule, reviewer)
    with atomic_text_writer(out) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "label"])
        for patch_id in sorted(labels):
            writer.writerow([patch_id, labels[patch_id]])
    return len(labels)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_log_csv(store: ReviewStore, out: str | os.PathLike[str]) -> int:
    """Write every event of the store, oldest first, in LOG_COLUMNS order; returns the count."""
    count = 0
    with atomic_text_writer(out) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LOG_COLUMNS)
        for event in store.iter_events():
            writer.writerow([_cell(getattr(event, name)) for name in LOG_COLUMNS])
            count += 1
    return count


# -- import ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ImportResult:
    source: Path
    read: int
    added: int


_REQUIRED = ("event_uid", "kind", "patch_id", "reviewer", "created_utc")


def _optional_float(text: str | None, name: str) -> float | None:
    if text is None or text == "":
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{name} is not finite")
    return value


def _event_from_mapping(values: dict[str, object]) -> ReviewEvent:
    def text(name: str) -> str:
        value = values.get(name)
        return "" if value is None else str(value)

    kind = text("kind")
    if kind not in ("review", "retract"):
        raise ValueError(f"unknown event kind {kind!r}")
    for name in _REQUIRED:
        if not text(name):
            raise ValueError(f"empty {name}")
    verdict_text = text("verdict")
    verdict = Verdict(verdict_text) if verdict_text else None
    if kind == "review" and verdict is None:
        raise ValueError("a review event without a verdict")
    if kind == "retract" and not text("target_uid"):
        raise ValueError("a retract event without a target")
    role = text("role") or "reviewer"  # logs and stores from before adjudication existed
    if role not in ("reviewer", "adjudicator"):
        raise ValueError(f"unknown role {role!r}")
    label_text = text("label")
    label = int(label_text) if label_text else None
    if label not in (None, 0, 1):
        raise ValueError(f"label {label} is not 0 or 1")
    return ReviewEvent(
        event_id=0,
        event_uid=text("event_uid"),
        kind=kind,
        target_uid=text("target_uid") or None,
        patch_id=text("patch_id"),
        pixel_sha1=text("pixel_sha1"),
        relpath=text("relpath"),
        verdict=verdict,
        label=label,
        reviewer=text("reviewer"),
        created_utc=text("created_utc"),
        seconds_spent=_optional_float(text("seconds_spent"), "seconds_spent"),
        model_id=text("model_id"),
        p_tumour=_optional_float(text("p_tumour"), "p_tumour"),
        explanation_method=text("explanation_method"),
        explanation_layer=text("explanation_layer"),
        centre_focus=_optional_float(text("centre_focus"), "centre_focus"),
        note=text("note"),
        origin=text("origin"),
        role=role,
    )


def read_log_csv(path: str | os.PathLike[str]) -> list[ReviewEvent]:
    """Parse a review log CSV written by ``write_log_csv``; all rows valid or StoreError."""
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in _REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise StoreError(f"{p} is not a pathview review log: missing {', '.join(missing)}")
            events: list[ReviewEvent] = []
            problems: list[str] = []
            for row in reader:
                try:
                    events.append(_event_from_mapping(dict(row)))
                except ValueError as exc:
                    problems.append(f"line {reader.line_num}: {exc}")
    except OSError as exc:
        raise StoreError(f"cannot read review log {p}: {exc}") from exc
    if problems:
        shown = "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
        raise StoreError(f"{p}: {len(problems)} bad rows, nothing imported ({shown})")
    return events


def read_store_events(path: str | os.PathLike[str]) -> tuple[list[ReviewEvent], str]:
    """Read another store's events without modifying it; returns (events, its store uid)."""
    p = Path(path)
    try:
        conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open review store {p}: {exc}") from exc
    try:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM events ORDER BY event_id").fetchall()
        uid_row = conn.execute("SELECT value FROM meta WHERE key = 'store_uid'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{p} is not a review store: {exc}") from exc
    finally:
        conn.close()
    try:
        events = [_event_from_mapping(dict(row)) for row in rows]
    except ValueError as exc:
        raise StoreError(f"{p} holds an invalid event: {exc}") from exc
    return events, (str(uid_row[0]) if uid_row else p.name)


def import_reviews(store: ReviewStore, source: str | os.PathLike[str]) -> ImportResult:
    """Merge another reviewer's store (.sqlite) or review log (.csv) into ``store``.

    Idempotent: events are keyed by their uid, so importing twice adds nothing the second time.
    Imported events keep their reviewer, time and uid, and record where they came from.
    """
    src = Path(source)
    if src.suffix.lower() == ".csv":
        events = read_log_csv(src)
        origin = f"log:{src.name}"
    else:
        events, uid = read_store_events(src)
        if uid == store.store_uid:
            raise StoreError("cannot import a review store into itself")
        origin = f"store:{uid}"
    added = store.add_events(events, origin)
    return ImportResult(source=src, read=len(events), added=added)
