"""Reviews that make the model better (training/retrain.py with distillation and the verdict).

On the CPU with the bundled model as the parent and the real Kaggle fixture patches: a pool
folder without labels that a perfect (or a random) reviewer works through, and a separate
labelled validation folder that nothing trains on.
"""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.reviews import file_review, verdict_for

from pathview.core.resources import bundled_model_dir
from pathview.io import read_labels, read_patch
from pathview.model import load_model, read_metadata
from pathview.model.metadata import VERDICTS
from pathview.store import ReviewStore, store_path_for_folder
from pathview.training import retrain_inputs
from pathview.training.retrain import main

KAGGLE = Path(__file__).parent / "data" / "kaggle"
FAST = ["--batch-size", "32", "--threads", "1", "--decode-workers", "1", "--progress", "log"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """140 patches to review (no labels) and 100 labelled validation patches."""
    base = tmp_path_factory.mktemp("loop")
    truth = read_labels(KAGGLE / "labels.csv").labels
    ids = sorted(truth)
    pool_ids, val_ids = ids[:140], ids[140:240]
    pool, val = base / "pool", base / "val"
    pool.mkdir()
    val.mkdir()
    for pid in pool_ids:
        shutil.copy(KAGGLE / f"{pid}.tif", pool / f"{pid}.tif")
    for pid in val_ids:
        shutil.copy(KAGGLE / f"{pid}.tif", val / f"{pid}.tif")
    (val / "labels.csv").write_text("id,label\n" + "".join(f"{i},{truth[i]}\n" for i in val_ids))
    clf = load_model(bundled_model_dir(), device="cpu")
    shown = clf.predict(np.stack([read_patch(pool / f"{i}.tif").pixels for i in pool_ids])).p
    p = {pid: float(v) for pid, v in zip(pool_ids, shown, strict=True)}
    return {"base": base, "pool": pool, "val": val, "truth": truth, "p": p, "ids": pool_ids}


def fresh_pool(folders: dict[str, Any], name: str) -> Path:
    dest = folders["base"] / name
    shutil.copytree(folders["pool"], dest)
    return dest


def retrain(folders: dict[str, Any], pool: Path, run: Path, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    stdout, sys.stdout = sys.stdout, out
    try:
        code = main(
            [
                *("--images", str(pool), "--val-images", str(folders["val"])),
                *("--val-labels", str(folders["val"] / "labels.csv"), "--run-dir", str(run)),
                *FAST,
                *extra,
            ]
        )
    finally:
        sys.stdout = stdout
    return code, out.getvalue()


def record(pool: Path, labels: dict[str, int], p: dict[str, float]) -> None:
    with ReviewStore(store_path_for_folder(pool)) as store:
        for pid, label in labels.items():
            store.record(file_review(pool, pid, verdict_for(label, p[pid]), "ann", p[pid]))


def test_corrections_are_learnt_while_the_unreviewed_patches_keep_the_parents_calls(
    folders: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retrain_inputs, "MIN_CALIBRATION", 5)  # 80 unreviewed: 16 calibrate
    truth, p = folders["truth"], folders["p"]
    wrong = [i for i in folders["ids"] if int(p[i] >= 0.5) != truth[i]]
    right = [i for i in folders["ids"] if i not in wrong]
    reviewed = wrong + right[: 60 - len(wrong)]
    assert wrong, "the fixture pool must hold some of the parent's errors"
    pool = fresh_pool(folders, "perfect")
    record(pool, {pid: truth[pid] for pid in reviewed}, p)
    code, text = retrain(folders, pool, tmp_path / "run", "--epochs", "4")
    assert code == 0, text
    model = tmp_path / "run" / "model"
    meta = read_metadata(model)
    training = meta.training
    assert training is not None
    n_unreviewed = len(folders["ids"]) - len(reviewed)
    calib = training.extra["n_calibration"]
    assert calib > 0 and training.extra["n_distilled"] == n_unreviewed - calib
    assert meta.calibration is not None and "parent's calibrated" in meta.calibration.method
    # The verdict: recorded, printed, consistent with its interval, and not "worse".
    v = meta.verdict
    assert v is not None and v.result in VERDICTS and v.metric == "auc_tta"
    assert v.ci95[0] <= v.delta <= v.ci95[1] and v.n == 100
    assert v.result != "worse", text
    assert "Verdict:" in text and v.result.upper() in text
    # The corrected patches moved towards their reviewed labels.
    clf = load_model(model, device="cpu")
    new = clf.predict(np.stack([read_patch(pool / f"{i}.tif").pixels for i in wrong])).p
    before = np.mean([abs(p[i] - truth[i]) for i in wrong])
    after = np.mean([abs(q - truth[i]) for i, q in zip(wrong, new, strict=True)])
    assert after < before


def test_random_reviews_give_the_verdict_worse_and_say_so(
    folders: dict[str, Any], tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    noise = {pid: int(rng.integers(0, 2)) for pid in folders["ids"]}
    pool = fresh_pool(folders, "noise")
    record(pool, noise, folders["p"])
    code, text = retrain(
        folders, pool, tmp_path / "run", "--epochs", "8", "--lr", "3e-3", "--distil-unreviewed", "0"
    )
    assert code == 0, text
    meta = read_metadata(tmp_path / "run" / "model")
    assert meta.training is not None and meta.training.extra["n_distilled"] == 0
    assert meta.verdict is not None and meta.verdict.result == "worse", text
    assert meta.verdict.ci95[1] < 0
    assert "WORSE than its parent" in text
    assert "Written for inspection only (keep using the parent)" in text
    assert "Open it with" not in text
