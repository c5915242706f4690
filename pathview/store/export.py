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
scripts rely on it; columns added later come last: ``view``, ``given_as``, ``gt_flag``,
``batch_id`` in schema 4). Both files are written atomically. A log written before a column
existed is still imported, the column taking its default. A label given with a label key
(``given_as`` = label) is exported like one implied by a verdict.

Both are opened in spreadsheets, so every text cell that a spreadsheet would run as a formula
(starting with ``= + - @``, a tab or a carriage return) is written with a leading ``'``, as
OWASP recommends; so is a text cell already starting with ``'``. Numbers are written as they
are (``-0.5`` stays a number). Importing a log removes that one ``'`` again, so a log
round-trips exactly.

Importing a log or another store is all-or-nothing: every row is checked first (UTF-8 text,
fields of at most ``MAX_FIELD_CHARS``, known kinds, verdicts and roles, a parseable UTC time, a
label that agrees with its verdict and P(tumour), P(tumour) in [0, 1], no control characters
in names and ids, relative paths that stay inside their folder) and a single bad row refuses
the whole source, naming the lines.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pathview.core import VIEWS, Verdict, implied_label, verdict_for_label
from pathview.core.files import (
    atomic_text_writer,
    csv_cell,
    from_spreadsheet_safe,
    printable,
    relpath_problem,
    spreadsheet_safe,
)
from pathview.store.errors import StoreError
from pathview.store.reviews import (
    EVENT_COLUMNS,
    GIVEN_AS_LABEL,
    GIVEN_AS_VERDICT,
    MAX_FIELD_CHARS,
    PatchState,
    ReviewEvent,
    ReviewStore,
    check_text_fields,
)

#: Bad rows named one by one in an import's refusal.
MAX_NAMED_ROWS = 10

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
        handle.write("id,label\n")
        for patch_id in sorted(labels):
            handle.write(f"{csv_cell(spreadsheet_safe(patch_id))},{labels[patch_id]}\n")
    return len(labels)


def _cell(value: object) -> str:
    """One log cell: numbers as numbers, text neutralised against spreadsheet formulas."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return spreadsheet_safe(str(value))


def write_log_csv(store: ReviewStore, out: str | os.PathLike[str]) -> int:
    """Write every event of the store, oldest first, in LOG_COLUMNS order; returns the count."""
    count = 0
    with atomic_text_writer(out) as handle:
        handle.write(",".join(LOG_COLUMNS) + "\n")
        for event in store.iter_events():
            handle.write(",".join(csv_cell(_cell(getattr(event, n))) for n in LOG_COLUMNS) + "\n")
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
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} is not finite")
    return value


def _check_time(text: str) -> None:
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"created_utc {text[:40]!r} is not an ISO 8601 timestamp") from None


def _event_from_mapping(values: dict[str, object]) -> ReviewEvent:
    """One event from a log row or a store row; ValueError says what is wrong with it."""

    def text(name: str) -> str:
        value = values.get(name)
        return "" if value is None else str(value)

    check_text_fields({name: text(name) for name in values})
    kind = text("kind")
    if kind not in ("review", "retract"):
        raise ValueError(f"unknown event kind {kind[:40]!r}")
    for name in _REQUIRED:
        if not text(name).strip():
            raise ValueError(f"empty {name}")
    _check_time(text("created_utc"))
    verdict_text = text("verdict")
    try:
        verdict = Verdict(verdict_text) if verdict_text else None
    except ValueError:
        raise ValueError(f"unknown verdict {verdict_text[:40]!r}") from None
    given_as = text("given_as") or GIVEN_AS_VERDICT  # logs from before label keys existed
    if given_as not in (GIVEN_AS_VERDICT, GIVEN_AS_LABEL):
        raise ValueError(f"unknown given_as {given_as[:40]!r}")
    if kind == "review" and verdict is None and given_as == GIVEN_AS_VERDICT:
        raise ValueError("a review event without a verdict")
    if kind == "retract" and not text("target_uid"):
        raise ValueError("a retract event without a target")
    role = text("role") or "reviewer"  # logs and stores from before adjudication existed
    if role not in ("reviewer", "adjudicator"):
        raise ValueError(f"unknown role {role[:40]!r}")
    label_text = text("label")
    try:
        label = int(label_text) if label_text else None
    except ValueError:
        raise ValueError(f"label {label_text[:40]!r} is not 0 or 1") from None
    if label not in (None, 0, 1):
        raise ValueError(f"label {label} is not 0 or 1")
    p_tumour = _optional_float(text("p_tumour"), "p_tumour")
    if p_tumour is not None and not 0.0 <= p_tumour <= 1.0:
        raise ValueError(f"p_tumour {p_tumour} is outside [0, 1]")
    if kind == "review" and given_as == GIVEN_AS_LABEL:
        if label is None:
            raise ValueError("a label-key review without a label")
        if verdict != verdict_for_label(label, p_tumour):
            raise ValueError(f"verdict {verdict_text or 'empty'} contradicts label {label}")
    elif kind == "review" and verdict is not None:
        expected = implied_label(verdict, p_tumour)
        if label != expected:
            raise ValueError(
                f"label {label_text or 'empty'} contradicts verdict {verdict.value} at "
                f"P(tumour) {p_tumour} (which implies {'none' if expected is None else expected})"
            )
    elif label is not None:
        raise ValueError("a retract event with a label")
    view = text("view")
    if view not in VIEWS:
        raise ValueError(f"unknown view {view[:40]!r}")
    flag_text = text("gt_flag")
    if flag_text not in ("", "0", "1"):
        raise ValueError(f"gt_flag {flag_text[:40]!r} is not 0 or 1")
    relpath = text("relpath")
    problem = relpath_problem(relpath)
    if problem is not None:
        raise ValueError(f"relpath {relpath[:80]!r} {problem}")
    return ReviewEvent(
        event_id=0,
        event_uid=text("event_uid"),
        kind=kind,
        target_uid=text("target_uid") or None,
        patch_id=text("patch_id"),
        pixel_sha1=text("pixel_sha1"),
        relpath=relpath,
        verdict=verdict,
        label=label,
        reviewer=text("reviewer"),
        created_utc=text("created_utc"),
        seconds_spent=_optional_float(text("seconds_spent"), "seconds_spent"),
        model_id=text("model_id"),
        p_tumour=p_tumour,
        explanation_method=text("explanation_method"),
        explanation_layer=text("explanation_layer"),
        centre_focus=_optional_float(text("centre_focus"), "centre_focus"),
        note=text("note"),
        origin=text("origin"),
        role=role,
        view=view,
        given_as=given_as,
        gt_flag=flag_text == "1",
        batch_id=text("batch_id"),
    )


def _refusal(source: Path, problems: list[str]) -> StoreError:
    shown = "; ".join(problems[:MAX_NAMED_ROWS])
    hidden = len(problems) - MAX_NAMED_ROWS
    more = f" ... and {hidden} more" if hidden > 0 else ""
    noun = "bad row" if len(problems) == 1 else "bad rows"
    return StoreError(f"{source}: {len(problems)} {noun}, nothing imported ({shown}{more})")


def read_log_csv(path: str | os.PathLike[str]) -> list[ReviewEvent]:
    """Parse a review log CSV written by ``write_log_csv``; all rows valid or StoreError.

    The refusal names the bad lines (a byte that is not UTF-8, a field over
    ``MAX_FIELD_CHARS``, and every row the checks of the module docstring reject).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read review log {p}: {exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _refusal(
            p, [f"line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 text"]
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    events: list[ReviewEvent] = []
    problems: list[str] = []
    try:
        fieldnames = reader.fieldnames or []
        missing = [c for c in _REQUIRED if c not in fieldnames]
        if missing:
            raise StoreError(
                f"{printable(str(p))} is not a pathview review log: missing {', '.join(missing)}"
            )
        for row in reader:
            if None in row:  # more cells than the header names
                problems.append(f"line {reader.line_num}: more cells than columns")
                continue
            values = {k: from_spreadsheet_safe(v) if v else v for k, v in row.items()}
            try:
                events.append(_event_from_mapping(values))
            except ValueError as exc:
                problems.append(f"line {reader.line_num}: {exc}")
    except csv.Error as exc:
        reason = str(exc)
        if "field larger than field limit" in reason:
            reason = f"a field is too long (over {MAX_FIELD_CHARS:,} characters)"
        problems.append(f"line {reader.line_num + 1}: {reason}")
    if problems:
        raise _refusal(p, problems)
    return events


def read_store_events(path: str | os.PathLike[str]) -> tuple[list[ReviewEvent], str]:
    """Read another store's events without modifying it or taking its write lock; returns
    (events, its store uid). A store from a newer pathview raises SchemaError; a store holding
    an invalid event is refused whole (StoreError naming the events)."""
    p = Path(path)
    with ReviewStore.open_readonly(p) as source:
        rows = source._query("SELECT * FROM events ORDER BY event_id")
        uid = source.store_uid
    events: list[ReviewEvent] = []
    problems: list[str] = []
    for row in rows:
        try:
            events.append(_event_from_mapping(dict(row)))
        except ValueError as exc:
            problems.append(f"event {row['event_id']}: {exc}")
    if problems:
        raise _refusal(p, problems)
    return events, (uid or p.name)


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
