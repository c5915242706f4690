"""Training labels derived from reviews, and their match to images by pixel SHA-1."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import tifffile
from support.reviews import file_review

from pathview.core import Verdict
from pathview.io import read_labels, read_patch
from pathview.store import ADJUDICATOR, ReviewStore, write_log_csv
from pathview.training.review_labels import load_review_labels, match_reviews_to_images


def _folder(tmp_path: Path, data_dir: Path, n: int = 4) -> tuple[Path, list[str]]:
    src = data_dir / "kaggle"
    truth = read_labels(src / "labels.csv").labels
    pos = sorted(k for k, v in truth.items() if v == 1)
    neg = sorted(k for k, v in truth.items() if v == 0)
    ids = [x for pair in zip(pos, neg, strict=False) for x in pair][:n]  # tumour first
    folder = tmp_path / "patches"
    folder.mkdir()
    for pid in ids:
        shutil.copy(src / f"{pid}.tif", folder / f"{pid}.tif")
    return folder, ids


def test_disagree_flips_the_model_and_contradicts_the_truth(tmp_path: Path, data_dir: Path) -> None:
    folder, ids = _folder(tmp_path, data_dir)
    a, b, c, _ = ids
    with ReviewStore(tmp_path / "ann.sqlite") as store:
        # a is tumour in the ground truth and the model said so (0.9); ann disagrees: the
        # training label becomes 0, contradicting the truth, as documented.
        store.record(file_review(folder, a, Verdict.DISAGREE, "ann", 0.9))
        store.record(file_review(folder, b, Verdict.AGREE, "ann", 0.2))  # -> 0
        store.record(file_review(folder, c, Verdict.UNSURE, "ann", 0.6))  # excluded
    labels = load_review_labels([tmp_path / "ann.sqlite"])
    assert {k: v.label for k, v in labels.labels.items()} == {a: 0, b: 0}
    assert labels.reviewers == ["ann"] and labels.events == 3 and labels.reviewed_patches == 3
    matched = match_reviews_to_images(labels, [folder])
    assert matched.ids == sorted([a, b]) and matched.mismatches == [] and matched.missing == []
    assert dict(zip(matched.ids, matched.labels, strict=True))[a] == 0
    assert matched.pixels[0].shape == (96, 96, 3)


def test_store_and_its_log_count_once_and_rules_apply(tmp_path: Path, data_dir: Path) -> None:
    folder, ids = _folder(tmp_path, data_dir)
    a = ids[0]
    with ReviewStore(tmp_path / "r.sqlite") as store:
        store.record(file_review(folder, a, Verdict.AGREE, "ann", 0.9))  # 1
        store.record(file_review(folder, a, Verdict.DISAGREE, "bob", 0.9))  # 0 (latest)
        write_log_csv(store, tmp_path / "log.csv")
    both = load_review_labels([tmp_path / "r.sqlite", tmp_path / "log.csv"], rule="latest")
    assert both.events == 2 and both.labels[a].label == 0
    assert both.labels[a].reviewers == ("ann", "bob")
    assert load_review_labels([tmp_path / "r.sqlite"], rule="majority").labels == {}
    with ReviewStore(tmp_path / "r.sqlite") as store:
        store.record(file_review(folder, a, Verdict.AGREE, "cat", 0.9, role=ADJUDICATOR))
    final = load_review_labels([tmp_path / "r.sqlite"], rule="majority")
    assert final.labels[a].label == 1 and final.labels[a].reviewers == ("ann", "bob", "cat")


def test_pixel_mismatch_is_refused_and_missing_is_listed(tmp_path: Path, data_dir: Path) -> None:
    folder, ids = _folder(tmp_path, data_dir)
    a, b, c, _ = ids
    with ReviewStore(tmp_path / "r.sqlite") as store:
        for pid in (a, b, c):
            store.record(file_review(folder, pid, Verdict.AGREE, "ann", 0.9))
    # a: edited after review; b: renamed away (missing); c: untouched.
    pixels = read_patch(folder / f"{a}.tif").pixels
    assert pixels is not None
    edited = pixels.copy()
    edited[10, 10] = 0
    tifffile.imwrite(folder / f"{a}.tif", edited, photometric="rgb")
    (folder / f"{b}.tif").rename(tmp_path / "elsewhere.tif")
    matched = match_reviews_to_images(load_review_labels([tmp_path / "r.sqlite"]), [folder])
    assert matched.ids == [c]
    assert matched.missing == [b]
    assert [m.patch_id for m in matched.mismatches] == [a]
    assert "pixels changed since review" in str(matched.mismatches[0])
    assert np.array_equal(matched.pixels[0], read_patch(folder / f"{c}.tif").pixels)
