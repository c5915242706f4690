"""Fixture folders and pixel stacks made from the committed real patches (tests/data)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np


def make_folder(
    dest: Path, source: Path, count: int, corrupt: int = 0, labels: bool = True
) -> list[str]:
    """Copy ``count`` real patches (and their labels) into ``dest``, plus corrupt files."""
    dest.mkdir(parents=True, exist_ok=True)
    files = sorted(source.glob("*.tif"))[:count]
    for f in files:
        shutil.copy(f, dest / f.name)
    ids = [f.stem for f in files]
    if labels and (source / "labels.csv").exists():
        rows = (source / "labels.csv").read_text().splitlines()
        keep = [rows[0]] + [r for r in rows[1:] if r.split(",")[0] in set(ids)]
        (dest / "labels.csv").write_text("\n".join(keep) + "\n")
    for i in range(corrupt):
        (dest / f"zz_corrupt_{i}.tif").write_bytes(b"II*\x00 this is not a tiff")
    return ids


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


def kaggle_pixels(data_dir: Path, n: int) -> np.ndarray:
    """The first ``n`` Kaggle fixture patches (by file name) as one N x 96 x 96 x 3 stack."""
    from pathview.io import read_patch

    files = sorted((data_dir / "kaggle").glob("*.tif"))[:n]
    return np.stack([read_patch(f).pixels for f in files])  # type: ignore[misc]
