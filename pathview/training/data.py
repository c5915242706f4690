"""Loading labelled patch folders into memory for training.

A training source is an image folder plus a labels CSV (``id,label`` with optional extra
columns such as ``split``; read with :func:`pathview.io.read_labels`). Every patch is decoded
once with :func:`pathview.io.read_patch` into one uint8 N x 96 x 96 x 3 array; augmentation
then runs on tensors (on the GPU when there is one), so no decoding happens per epoch.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pathview.core import NATIVE_SIZE
from pathview.io import iter_patches, read_labels, read_patch
from pathview.model.codec import InputCodec

log = logging.getLogger(__name__)


@dataclass
class PatchSet:
    """Decoded patches with labels; ``split`` holds the CSV's split column ('' when none)."""

    ids: list[str]
    pixels: np.ndarray  # N x S x S x 3 uint8
    labels: np.ndarray  # N int64 (0 normal, 1 tumour)
    split: np.ndarray  # N str
    sources: list[dict[str, object]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, mask: np.ndarray) -> PatchSet:
        """The patches where ``mask`` is true (same sources)."""
        idx = np.flatnonzero(mask)
        return PatchSet(
            [self.ids[i] for i in idx],
            self.pixels[idx],
            self.labels[idx],
            self.split[idx],
            list(self.sources),
        )

    @staticmethod
    def concat(parts: Sequence[PatchSet]) -> PatchSet:
        """One set holding all ``parts`` in order."""
        return PatchSet(
            [i for p in parts for i in p.ids],
            np.concatenate([p.pixels for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.split for p in parts]),
            [s for p in parts for s in p.sources],
        )


def _read_split_column(labels_csv: Path) -> dict[str, str]:
    """id -> split from a ``split`` column, if the CSV has a header naming one."""
    from pathview.io.labels import normalise_id

    with open(labels_csv, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [c.strip().lower() for c in next(reader, [])]
        if "split" not in header or "id" not in header:
            return {}
        id_col, split_col = header.index("id"), header.index("split")
        return {
            normalise_id(row[id_col]): row[split_col].strip()
            for row in reader
            if len(row) > max(id_col, split_col)
        }


def fit_to_native(pixels: np.ndarray) -> np.ndarray | None:
    """Centre-crop a larger patch to 96 x 96; None for a smaller one (not used for training)."""
    h, w = pixels.shape[:2]
    if h < NATIVE_SIZE or w < NATIVE_SIZE:
        return None
    top, left = (h - NATIVE_SIZE) // 2, (w - NATIVE_SIZE) // 2
    return pixels[top : top + NATIVE_SIZE, left : left + NATIVE_SIZE]


def decode_native(paths: Sequence[Path], workers: int = 8) -> list[np.ndarray | None]:
    """Decode files to 96 x 96 x 3 uint8 (larger ones centre-cropped) on a thread pool; None
    for an unreadable file or one smaller than 96 x 96."""

    def decode(path: Path) -> np.ndarray | None:
        decoded = read_patch(path)
        return None if decoded.pixels is None else fit_to_native(decoded.pixels)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(decode, paths, chunksize=256))


def decode_kept(
    paths: Sequence[Path], ids: Sequence[str], workers: int
) -> tuple[list[str], np.ndarray]:
    """Decode ``paths`` (aligned with ``ids``) as :func:`decode_native` does; the ids of the
    files that decoded and their pixels stacked N x 96 x 96 x 3."""
    arrays = decode_native(paths, workers)
    kept_ids = [pid for pid, a in zip(ids, arrays, strict=True) if a is not None]
    kept = [np.ascontiguousarray(a) for a in arrays if a is not None]
    if not kept:
        return kept_ids, np.zeros((0, NATIVE_SIZE, NATIVE_SIZE, 3), np.uint8)
    return kept_ids, np.stack(kept)


def index_folders(folders: Sequence[str | Path], recursive: bool = False) -> dict[str, Path]:
    """id -> file of every patch in ``folders`` (when two folders hold an id, the first wins)."""
    index: dict[str, Path] = {}
    for folder in folders:
        root = Path(folder)
        for batch in iter_patches(root, recursive=recursive):
            for ref in batch:
                index.setdefault(ref.id, ref.path(root))
    return index


def merge_labels(labels_csvs: Sequence[str | Path]) -> tuple[dict[str, int], list[str]]:
    """id -> label over several labels CSVs, and the ids dropped because two CSVs disagree."""
    merged: dict[str, int] = {}
    conflicts: set[str] = set()
    for path in labels_csvs:
        table = read_labels(path)
        for problem in table.problems[:10]:
            log.warning("%s: %s", path, problem)
        for pid, label in table.labels.items():
            if merged.setdefault(pid, label) != label:
                conflicts.add(pid)
    for pid in conflicts:
        del merged[pid]
    if conflicts:
        log.warning("%d ids have different labels in different CSVs: left out", len(conflicts))
    return merged, sorted(conflicts)


def load_labelled(
    folders: Sequence[str | Path],
    labels: dict[str, int],
    workers: int = 8,
    exclude: frozenset[str] | set[str] = frozenset(),
    recursive: bool = False,
) -> PatchSet:
    """Decode every patch of ``folders`` whose id ``labels`` labels, except ``exclude``.

    Ids are matched across all folders (a Kaggle id is the pixels' SHA-1, so it names the same
    patch wherever it lies). The set is sorted by id, so the same inputs give the same order.
    Labelled ids without a file, unreadable files and patches smaller than 96 x 96 are skipped
    and counted in the log.
    """
    index = index_folders(folders, recursive)
    ids = sorted(i for i in labels if i in index and i not in exclude)
    missing = sum(1 for i in labels if i not in index)
    kept_ids, pixels = decode_kept([index[i] for i in ids], ids, workers)
    if len(kept_ids) < len(ids):
        log.warning(
            "%d labelled files unreadable or smaller than 96x96, skipped", len(ids) - len(kept_ids)
        )
    y = np.array([labels[i] for i in kept_ids], dtype=np.int64)
    log.info(
        "%d labelled ids: %d decoded, %d without a file, %d excluded",
        len(labels),
        len(kept_ids),
        missing,
        sum(1 for i in labels if i in exclude),
    )
    source = {
        "images": [str(f) for f in folders],
        "n": len(kept_ids),
        "n_tumour": int(y.sum()),
    }
    return PatchSet(
        kept_ids,
        pixels,
        y,
        np.array([""] * len(kept_ids), dtype=object),
        [source],
    )


def load_folder(
    images: str | Path,
    labels_csv: str | Path,
    workers: int = 8,
    limit: int | None = None,
    seed: int = 0,
) -> PatchSet:
    """Decode every labelled patch of ``images`` (ids from ``labels_csv``) into memory.

    Ids without a file, unreadable files and patches smaller than 96 x 96 are skipped and
    counted in the log. ``limit`` keeps a seeded random subset (for smoke runs).
    """
    images, labels_csv = Path(images), Path(labels_csv)
    table = read_labels(labels_csv)
    for problem in table.problems[:10]:
        log.warning("%s: %s", labels_csv, problem)
    splits = _read_split_column(labels_csv)
    paths = {ref.id: ref.path(images) for batch in iter_patches(images) for ref in batch}
    ids = sorted(i for i in table.labels if i in paths)
    missing = len(table.labels) - len(ids)
    if limit is not None and limit < len(ids):
        rng = np.random.default_rng(seed)
        ids = sorted(rng.choice(ids, size=limit, replace=False).tolist())
    log.info(
        "%s: %d labelled ids, %d without a file; decoding %d", images, len(table), missing, len(ids)
    )

    kept_ids, pixels = decode_kept([paths[i] for i in ids], ids, workers)
    if len(kept_ids) < len(ids):
        log.warning(
            "%s: %d files unreadable or smaller than 96x96, skipped",
            images,
            len(ids) - len(kept_ids),
        )
    labels = np.array([table.labels[i] for i in kept_ids], dtype=np.int64)
    split = np.array([splits.get(i, "") for i in kept_ids], dtype=object)
    source = {
        "images": str(images),
        "labels": str(labels_csv),
        "n": len(kept_ids),
        "n_tumour": int(labels.sum()),
    }
    return PatchSet(kept_ids, pixels, labels, split, [source])


def holdout_mask(
    data: PatchSet,
    holdout_split: str | None,
    holdout_fraction: float,
    seed: int,
    split_fraction: float = 1.0,
) -> np.ndarray:
    """Boolean mask of the held-out patches (early stopping and temperature fitting).

    Uses the CSV's split column when ``holdout_split`` names a split present in the data (a
    seeded ``split_fraction`` of that split; the rest of it is trained on); otherwise a seeded
    random ``holdout_fraction`` of the patches.
    """
    rng = np.random.default_rng(seed)
    if holdout_split and (data.split == holdout_split).any():
        in_split = np.asarray(data.split == holdout_split)
        if split_fraction >= 1.0:
            return in_split
        idx = np.flatnonzero(in_split)
        mask = np.zeros(len(data), dtype=bool)
        mask[rng.choice(idx, size=round(split_fraction * idx.size), replace=False)] = True
        return mask
    mask = np.zeros(len(data), dtype=bool)
    n = round(holdout_fraction * len(data))
    mask[rng.choice(len(data), size=n, replace=False)] = True
    return mask


def holdout_mask_of_parts(
    parts: Sequence[PatchSet],
    holdout_split: str | None,
    holdout_fraction: float,
    seed: int,
    split_fraction: float = 1.0,
) -> np.ndarray:
    """:func:`holdout_mask` of the concatenated ``parts``, drawn for each part on its own.

    A source's held-out patches then do not depend on the other sources given with it: a run
    that adds a second source holds out exactly the same patches of the first as a run on
    the first alone (so a model trained on the first, as a teacher or a starting point, has
    not seen them). When ``holdout_split`` occurs in any part, a part without it holds out
    nothing, as when the sources are one set.
    """
    has_split = [bool(holdout_split) and bool((p.split == holdout_split).any()) for p in parts]
    masks = []
    for part, has in zip(parts, has_split, strict=True):
        if any(has_split) and not has:
            masks.append(np.zeros(len(part), dtype=bool))
        else:
            masks.append(holdout_mask(part, holdout_split, holdout_fraction, seed, split_fraction))
    return np.concatenate(masks) if masks else np.zeros(0, dtype=bool)


def through_codec(pixels: np.ndarray, codec: InputCodec | None, chunk: int = 4096) -> np.ndarray:
    """``pixels`` (uint8 N x S x S x 3) after a model's input codec, as the classifier sees
    them when it scores (see :mod:`pathview.model.codec`); ``pixels`` itself when ``codec`` is
    None. Works in chunks so the transient copies stay small."""
    if codec is None or len(pixels) == 0:
        return pixels
    out = np.empty_like(pixels)
    for start in range(0, len(pixels), chunk):
        out[start : start + chunk] = codec.apply(pixels[start : start + chunk])
    return out


def channel_stats(pixels: np.ndarray, max_samples: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of pixels / 255 (on a sample), for the normalisation."""
    sample = pixels[:: max(1, len(pixels) // max_samples)].astype(np.float64) / 255.0
    mean = sample.mean(axis=(0, 1, 2))
    std = sample.std(axis=(0, 1, 2))
    return [round(float(m), 4) for m in mean], [round(float(s), 4) for s in std]
