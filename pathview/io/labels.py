"""Ground-truth label tables in the Kaggle form (``id,label``).

Tolerated: a header row (detected when the label cell is not a number), extra columns (``split``
and the like; with a header the ``id`` and ``label`` columns are found by name), ids written with
an image extension (``<id>.tif``), surrounding whitespace, a UTF-8 byte-order mark and blank lines.
Reported by line number, never raised: rows with too few cells, empty ids, labels other than 0/1,
rows the CSV parser cannot read (a field over 128 KiB), and ids listed twice with different
labels (such ids are dropped, both rows reported).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from pathview.core import IMAGE_EXTENSIONS

#: Names a labels table is looked for under, in the folder and then in its parent.
LABEL_FILE_NAMES = ("labels.csv", "train_labels.csv")


class LabelsError(Exception):
    """The labels file cannot be read at all (missing, unreadable, not text)."""


@dataclass(frozen=True, slots=True)
class LabelProblem:
    """One row of a labels CSV that was not used, and why."""

    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason} ({self.text!r})"


@dataclass
class LabelTable:
    """Labels read from a CSV: id -> 0/1, plus the rows that were skipped."""

    path: Path
    labels: dict[str, int] = field(default_factory=dict)
    problems: list[LabelProblem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


def normalise_id(raw: str) -> str:
    """Strip whitespace, any folder part and an image extension from an id cell."""
    text = raw.strip().replace("\\", "/").rsplit("/", 1)[-1]
    dot = text.rfind(".")
    if dot > 0 and text[dot:].lower() in IMAGE_EXTENSIONS:
        text = text[:dot]
    return text


def _parse_label(cell: str) -> int | None:
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value in (0.0, 1.0) else -1


def read_labels(path: str | os.PathLike[str]) -> LabelTable:
    """Read an ``id,label`` CSV; see the module docstring for what is tolerated and reported."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise LabelsError(f"labels file not found: {p}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"cannot read labels file {p}: {exc}") from exc
    table = LabelTable(path=p)
    id_col, label_col = 0, 1
    seen_data = False
    line_of: dict[str, int] = {}
    conflicted: set[str] = set()
    lines = text.splitlines()
    reader = csv.reader(lines)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            lineno = reader.line_num
            raw = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
            reason = str(exc)
            if "field limit" in reason:
                reason = "a cell is too long (over 128 KiB)"
            table.problems.append(LabelProblem(lineno, raw[:80], f"unreadable row: {reason}"))
            continue
        lineno = reader.line_num
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        raw_line = ",".join(row)
        if not seen_data and len(cells) >= 2 and _parse_label(cells[label_col]) is None:
            lowered = [c.lower() for c in cells]
            if "id" in lowered and "label" in lowered:
                id_col, label_col = lowered.index("id"), lowered.index("label")
            seen_data = True  # a header only counts on the first non-blank row
            continue
        seen_data = True
        if len(cells) <= max(id_col, label_col):
            table.problems.append(LabelProblem(lineno, raw_line, "too few columns"))
            continue
        pid = normalise_id(cells[id_col])
        if not pid:
            table.problems.append(LabelProblem(lineno, raw_line, "empty id"))
            continue
        label = _parse_label(cells[label_col])
        if label is None or label < 0:
            table.problems.append(LabelProblem(lineno, raw_line, "label is not 0 or 1"))
            continue
        if pid in conflicted:
            table.problems.append(LabelProblem(lineno, raw_line, "id listed with both labels"))
            continue
        if pid in table.labels:
            if table.labels[pid] != label:
                del table.labels[pid]
                conflicted.add(pid)
                table.problems.append(
                    LabelProblem(
                        lineno,
                        raw_line,
                        f"id listed with both labels (first on line {line_of[pid]}); dropped",
                    )
                )
            continue
        table.labels[pid] = label
        line_of[pid] = lineno
    return table


def find_labels_csv(folder: str | os.PathLike[str]) -> Path | None:
    """The labels table that belongs to a patch folder, if any.

    Looks for ``labels.csv`` then ``train_labels.csv`` in the folder, then in its parent (the
    Kaggle layout keeps ``train_labels.csv`` beside the ``train/`` folder).
    """
    base = Path(folder)
    for candidate_dir in (base, base.parent):
        for name in LABEL_FILE_NAMES:
            candidate = candidate_dir / name
            if candidate.is_file():
                return candidate
    return None
