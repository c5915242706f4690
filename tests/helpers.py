"""Plain helpers shared by the tests of the headless commands and of evaluation."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path


def run_cli(*argv: object) -> int:
    """``pathview ARGV...`` in this process (arguments as text); returns the exit status."""
    from pathview.cli import main

    return main([str(a) for a in argv])


def kaggle_labels(folder: Path) -> dict[str, str]:
    """id -> label (as written) of ``folder/labels.csv``."""
    return dict(row for row in csv.reader((folder / "labels.csv").read_text().splitlines()[1:]))


def copy_balanced_patches(src: Path, out: Path, per_class: int) -> Path:
    """Copy ``per_class`` tumour and ``per_class`` normal patches of ``src`` (first by id) into
    ``out`` with their labels.csv; returns ``out``."""
    labels = kaggle_labels(src)
    ids = sorted(p for p in labels if (src / f"{p}.tif").exists())
    chosen = [p for p in ids if labels[p] == "1"][:per_class]
    chosen += [p for p in ids if labels[p] == "0"][:per_class]
    out.mkdir(parents=True, exist_ok=True)
    for pid in chosen:
        shutil.copy(src / f"{pid}.tif", out / f"{pid}.tif")
    rows = "".join(f"{pid},{labels[pid]}\n" for pid in sorted(chosen))
    (out / "labels.csv").write_text("id,label\n" + rows)
    return out
