"""Retraining from reviews (training/retrain.py): labels, lineage, refusal, resume, torchrun.

Tiny and on the CPU: the real Kaggle fixture patches, a ``pv-tiny`` network (~5k parameters)
trained from scratch by the retraining command itself as the parent, one or two short epochs.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import torch
from pytestqt.qtbot import QtBot
from support.reviews import file_review, verdict_for

from pathview.core import Verdict
from pathview.core.resources import bundled_model_dir
from pathview.io import read_labels, read_patch
from pathview.model import load_model, read_metadata
from pathview.model.quantised import int8_unavailable
from pathview.store import ReviewStore, open_store_for_folder, write_log_csv
from pathview.training.checkpoint import CHECKPOINT_FILE, load_checkpoint
from pathview.training.distributed import Rank
from pathview.training.progress import Progress, StepInfo
from pathview.training.retrain import (
    EXIT_REFUSED,
    main,
    parse_arguments,
    prepare_inputs,
    without_option,
)

REPO = Path(__file__).resolve().parents[1]
KAGGLE = Path(__file__).parent / "data" / "kaggle"
#: Small, fast and deterministic: one thread, tiny batches, a tiny network.
FAST = ["--batch-size", "32", "--threads", "1", "--decode-workers", "1", "--progress", "log"]


def run_retrain(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def parent_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pv-tiny model trained from scratch on the labels by the retraining command itself."""
    run = tmp_path_factory.mktemp("parent") / "run"
    code = run_retrain(
        "--images", KAGGLE, "--labels", KAGGLE / "labels.csv", "--no-discover",
        "--from-scratch", "--arch", "pv-tiny", "--epochs", "1", "--lr", "3e-3",
        "--parent", bundled_model_dir(),
        "--run-dir", run, *FAST,
    )  # fmt: skip
    assert code == 0
    return run / "model"


def truth() -> dict[str, int]:
    return read_labels(KAGGLE / "labels.csv").labels


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory, parent_model: Path) -> dict[str, Any]:
    """Two reviewers: ann in a store, bob in an exported review log; ids chosen outside the
    parent's validation set and by role (see the comments)."""
    base = tmp_path_factory.mktemp("reviews")
    t = truth()
    val_ids = set((parent_model / "validation_ids.txt").read_text().split())
    clf = load_model(parent_model, device="cpu")
    ids = sorted(t)
    p = {pid: float(clf.predict(read_patch(KAGGLE / f"{pid}.tif").pixels).p[0]) for pid in ids}
    tumour = [i for i in ids if t[i] == 1 and i not in val_ids]
    normal = [i for i in ids if t[i] == 0 and i not in val_ids]
    in_val = sorted(val_ids)[0]
    roles = {
        "against": tumour[0],  # truth 1, reviewed as normal: the label contradicts the truth
        "agree_ok": tumour[1],  # truth 1, reviewed as tumour
        "agree_ok2": normal[0],  # truth 0, reviewed as normal
        "unsure": normal[1],  # unsure: left out of training and validation
        "bob": normal[2],  # only in bob's log: truth 0, reviewed as tumour
        "was_val": in_val,  # in the parent's validation set: moves to training
    }
    plan = {
        "against": 0,
        "agree_ok": 1,
        "agree_ok2": 0,
        "was_val": t[in_val],
    }
    with ReviewStore(base / "ann.sqlite") as store:
        for role, label in plan.items():
            pid = roles[role]
            v = verdict_for(label, p[pid])
            store.record(file_review(KAGGLE, pid, v, "ann", p[pid], clf.model_id))
        store.record(
            file_review(KAGGLE, roles["unsure"], Verdict.UNSURE, "ann", p[roles["unsure"]])
        )
    with ReviewStore(base / "bob.sqlite") as store:
        pid = roles["bob"]
        store.record(file_review(KAGGLE, pid, verdict_for(1, p[pid]), "bob", p[pid], clf.model_id))
        write_log_csv(store, base / "bob_log.csv")
    verdicts = [verdict_for(label, p[roles[r]]) for r, label in plan.items()]
    verdicts.append(verdict_for(1, p[roles["bob"]]))
    return {
        "sources": [base / "ann.sqlite", base / "bob_log.csv"],
        "roles": roles,
        "p": p,
        "n_agree": sum(v is Verdict.AGREE for v in verdicts),
        "n_disagree": sum(v is Verdict.DISAGREE for v in verdicts),
    }


@pytest.fixture(scope="module")
def finetuned(
    tmp_path_factory: pytest.TempPathFactory, parent_model: Path, reviewed: dict[str, Any]
) -> dict[str, Any]:
    """The parent fine-tuned for one epoch on the reviews (weight 4) and the labels."""
    run = tmp_path_factory.mktemp("finetune") / "run"
    out = io.StringIO()
    stdout, sys.stdout = sys.stdout, out
    try:
        code = run_retrain(
            "--images", KAGGLE, "--labels", KAGGLE / "labels.csv",
            "--reviews", reviewed["sources"][0], "--reviews", reviewed["sources"][1],
            "--parent", parent_model, "--review-weight", "4", "--epochs", "1",
            "--min-holdout", "5", "--run-dir", run, *FAST,
        )  # fmt: skip
    finally:
        sys.stdout = stdout
    assert code == 0
    return {"run": run, "model": run / "model", "stdout": out.getvalue()}


# ------------------------------------------------------------------------------ end to end


@pytest.mark.slow
def test_retrained_model_loads_scores_and_records_its_lineage(
    finetuned: dict[str, Any], parent_model: Path, reviewed: dict[str, Any]
) -> None:
    meta = read_metadata(finetuned["model"]).to_dict()
    parent_meta = read_metadata(parent_model).to_dict()
    assert meta["parent_model"] == {
        "name": parent_meta["name"],
        "sha256": parent_meta["weights"]["sha256"],
        "path": str(parent_model.resolve()),
    }
    r = meta["reviews"]
    assert r["count"] == 5  # against, agree_ok, agree_ok2, was_val, bob (unsure left out)
    assert r["sources"] == [str(s) for s in reviewed["sources"]]
    assert r["reviewers"] == ["ann", "bob"] and r["rule"] == "latest"
    assert (r["n_agree"], r["n_disagree"]) == (reviewed["n_agree"], reviewed["n_disagree"])
    assert r["n_unsure"] == 1 and r["n_excluded"] == 1
    # Every reviewed patch has a ground truth; "against" and "bob" were labelled against it.
    assert (r["n_with_truth"], r["n_differs_from_truth"]) == (5, 2)
    assert r["reviewed_with_models"] == [parent_meta["weights"]["sha256"]]
    assert meta["training"]["n_reviewed"] == 5 and meta["training"]["review_weight"] == 4.0
    assert meta["training"]["world_size"] == 1 and meta["training"]["epochs"] == 1
    # Held out (--min-holdout 5): the temperature was fitted there, or kept at a bound.
    assert meta["training"]["n_heldout"] > 0 and "method" in meta["calibration"]
    # The fixed validation set: the parent's ids minus the one reviewed since.
    fixed = meta["validation"]["retraining"]
    parent_val = set((parent_model / "validation_ids.txt").read_text().split())
    val = (finetuned["model"] / "validation_ids.txt").read_text().split()
    assert set(val) == parent_val - {reviewed["roles"]["was_val"]}
    assert fixed["data"]["n"] == len(val) and "parent model's validation ids" in str(fixed["data"])
    for key in ("auc", "accuracy", "ece"):
        assert 0.0 <= fixed["plain"][key] <= 1.0 and 0.0 <= fixed["parent"]["plain"][key] <= 1.0
    assert fixed["parent"]["sha256"] == parent_meta["weights"]["sha256"]
    # int8 weights for CPUs, quantised on its own training patches and measured beside float32.
    if int8_unavailable() is None:
        assert meta["int8"]["source_sha256"] == meta["weights"]["sha256"]
        assert "training patches" in meta["int8"]["calibration"]["data"]
        assert fixed["int8"]["plain"]["n"] == fixed["plain"]["n"]
    # The app's loader takes it and scores with it.
    clf = load_model(finetuned["model"], device="cpu")
    assert clf.model_id == meta["weights"]["sha256"] != parent_meta["weights"]["sha256"]
    assert clf.precision == ("int8" if int8_unavailable() is None else "float32")
    pixels = np.stack([read_patch(p).pixels for p in sorted(KAGGLE.glob("*.tif"))[:4]])
    pred = clf.predict(pixels).p
    assert pred.shape == (4,) and ((pred > 0) & (pred < 1)).all()
    # Before and after, side by side, on screen.
    text = finetuned["stdout"]
    assert "parent" in text and "new" in text and "change" in text
    for line in ("AUC", "accuracy", "ECE"):
        assert any(row.startswith(line) for row in text.splitlines())
    assert f"pathview --model {finetuned['model']}" in text
    run = finetuned["run"]
    for name in ("args.json", "split.json", "reviews.json", "history.jsonl", "retrain.log"):
        assert (run / name).is_file(), name


@pytest.mark.slow
def test_review_labels_weights_and_the_split(
    tmp_path: Path, parent_model: Path, reviewed: dict[str, Any]
) -> None:
    roles = reviewed["roles"]
    args = parse_arguments(
        [
            *("--images", str(KAGGLE), "--labels", str(KAGGLE / "labels.csv")),
            *("--reviews", str(reviewed["sources"][0]), "--reviews", str(reviewed["sources"][1])),
            *("--parent", str(parent_model), "--review-weight", "2.5", "--min-holdout", "5"),
            *("--run-dir", str(tmp_path / "run")),
        ]
    )
    inputs = prepare_inputs(args, Rank(), parent_model)
    label = dict(zip(inputs.train.ids, inputs.train.labels.tolist(), strict=True))
    weight = dict(zip(inputs.train.ids, inputs.weights.tolist(), strict=True))
    t = truth()
    # A review contradicting the ground truth sets the training label, as documented.
    assert t[roles["against"]] == 1 and label[roles["against"]] == 0
    assert t[roles["bob"]] == 0 and label[roles["bob"]] == 1
    assert label[roles["agree_ok"]] == 1 and label[roles["agree_ok2"]] == 0
    for role in ("against", "bob", "agree_ok", "agree_ok2", "was_val"):
        assert weight[roles[role]] == 2.5
    assert sum(w == 2.5 for w in weight.values()) == 5
    # Unsure: neither trained on nor validated. Reviewed patches never validate.
    val_ids = set(inputs.val.ids) if inputs.val is not None else set()
    assert roles["unsure"] not in label and roles["unsure"] not in val_ids
    assert not val_ids & set(reviewed["roles"].values())
    # Validation, held-out and training patches are disjoint; labels come from the CSV.
    assert not val_ids & set(inputs.train.ids) and not val_ids & set(inputs.holdout.ids)
    assert len(inputs.holdout) > 0 and not set(inputs.holdout.ids) & set(inputs.train.ids)
    assert all(label[i] == t[i] for i in inputs.train.ids if i not in roles.values())
    # "drop" (= unanimous) with a conflicting second review of "against" leaves it out.
    with ReviewStore(tmp_path / "cat.sqlite") as store:
        p = reviewed["p"][roles["against"]]
        store.record(file_review(KAGGLE, roles["against"], verdict_for(1, p), "cat", p))
    args = parse_arguments(
        [
            *("--images", str(KAGGLE), "--labels", str(KAGGLE / "labels.csv")),
            *("--reviews", str(reviewed["sources"][0]), "--reviews", str(tmp_path / "cat.sqlite")),
            *("--parent", str(parent_model), "--rule", "drop"),
            *("--run-dir", str(tmp_path / "run2")),
        ]
    )
    inputs = prepare_inputs(args, Rank(), parent_model)
    assert inputs.reviews.rule == "unanimous"
    assert roles["against"] in inputs.reviews.excluded
    assert roles["against"] not in inputs.train.ids
    assert roles["against"] not in (inputs.val.ids if inputs.val else [])


@pytest.mark.slow
def test_a_review_whose_pixels_changed_is_refused(
    tmp_path: Path, parent_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "patches"
    folder.mkdir()
    t = truth()
    ids = sorted(t)[:12]
    for pid in ids:
        shutil.copy(KAGGLE / f"{pid}.tif", folder / f"{pid}.tif")
    (folder / "labels.csv").write_text("id,label\n" + "".join(f"{i},{t[i]}\n" for i in ids))
    with open_store_for_folder(folder) as store:
        for pid in ids[:3]:
            store.record(file_review(folder, pid, Verdict.AGREE, "ann", 0.8))
    edited_id = ids[1]
    pixels = read_patch(folder / f"{edited_id}.tif").pixels
    assert pixels is not None
    edited = pixels.copy()
    edited[40, 40] = 255 - edited[40, 40]
    tifffile.imwrite(folder / f"{edited_id}.tif", edited, photometric="rgb")
    # Default discovery: the folder's own labels.csv and review store.
    code = run_retrain(
        "--images", folder, "--parent", parent_model, "--epochs", "1",
        "--run-dir", tmp_path / "run", *FAST,
    )  # fmt: skip
    assert code == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "1 reviewed patches do not match their image" in err
    assert edited_id in err and "pixels changed since review" in err
    assert ids[0] not in err.split("do not match")[1]
    assert not (tmp_path / "run" / "model").exists()


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = torch.load(model_dir / "weights.pt", weights_only=True)
    return state


@pytest.mark.slow
def test_interrupted_run_resumes_at_the_same_step_to_the_same_model(
    tmp_path: Path, parent_model: Path, reviewed: dict[str, Any]
) -> None:
    common = [
        "--images", KAGGLE, "--labels", KAGGLE / "labels.csv",
        "--reviews", reviewed["sources"][0], "--parent", parent_model,
        "--review-weight", "3", "--epochs", "2", *FAST,
    ]  # fmt: skip
    assert run_retrain(*common, "--run-dir", tmp_path / "whole") == 0
    whole = load_checkpoint(tmp_path / "whole" / CHECKPOINT_FILE)
    per_epoch = whole["steps_per_epoch"]
    assert whole["step"] == 2 * per_epoch and whole["epochs_done"] == 2
    # Stop in the middle of the first epoch, then resume from another directory.
    run = tmp_path / "parts"
    stop_at = per_epoch // 2 + 1
    code = run_retrain(*common, "--run-dir", run, "--stop-after-steps", stop_at)
    assert code == 128 + signal.SIGINT
    state = load_checkpoint(run / CHECKPOINT_FILE)
    assert (state["step"], state["epochs_done"], state["batch"]) == (stop_at, 0, stop_at)
    assert not (run / "model").exists()
    assert "--stop-after-steps" not in json.loads((run / "args.json").read_text())["argv"]
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert run_retrain("--resume", "parts") == 0
    finally:
        os.chdir(cwd)
    final = load_checkpoint(run / CHECKPOINT_FILE)
    assert final["step"] == whole["step"] and final["epochs_done"] == 2
    assert len((run / "history.jsonl").read_text().splitlines()) == 2
    a, b = _weights(tmp_path / "whole" / "model"), _weights(run / "model")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    # A finished run folder is not started over by mistake.
    assert run_retrain(*common, "--run-dir", run) == EXIT_REFUSED


@pytest.mark.slow
def test_sigint_writes_a_checkpoint_and_the_run_continues_from_it(
    tmp_path: Path, parent_model: Path
) -> None:
    run = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "pathview.training.retrain", "--images", str(KAGGLE),
        "--labels", str(KAGGLE / "labels.csv"), "--no-discover", "--parent", str(parent_model),
        "--epochs", "200", "--run-dir", str(run), *FAST,
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 300  # a guard against a hang, not a speed check
        while not (run / CHECKPOINT_FILE).is_file():  # the end of the first epoch
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGINT, output
    assert "SIGINT: stopping after this step" in output and "--resume" in output
    state = load_checkpoint(run / CHECKPOINT_FILE)
    step = state["step"]
    assert step >= state["steps_per_epoch"] and not (run / "model").exists()
    # Resume (here only two more steps): the step counter carries on from the checkpoint.
    assert run_retrain("--resume", run, "--stop-after-steps", step + 2) == 128 + signal.SIGINT
    assert load_checkpoint(run / CHECKPOINT_FILE)["step"] == step + 2


@pytest.mark.slow
def test_torchrun_two_cpu_processes_write_one_model(
    tmp_path: Path, parent_model: Path, reviewed: dict[str, Any]
) -> None:
    run = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "pathview.training.retrain", "--images", str(KAGGLE),
        "--labels", str(KAGGLE / "labels.csv"),
        "--reviews", str(reviewed["sources"][0]), "--parent", str(parent_model),
        "--epochs", "1", "--device", "cpu", "--run-dir", str(run), *FAST,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in run.iterdir() if p.is_dir()] == ["model"]
    meta = read_metadata(run / "model").to_dict()
    assert meta["training"]["world_size"] == 2 and meta["training"]["backend"] == "gloo"
    assert meta["reviews"]["count"] == 4 and meta["reviews"]["reviewers"] == ["ann"]
    assert meta["parent_model"]["sha256"] == read_metadata(parent_model).model_id
    assert "retraining" in meta["validation"]
    assert load_model(run / "model", device="cpu").model_id == meta["weights"]["sha256"]
    # Rank 0 alone wrote and printed: one table, one log.
    assert done.stdout.count("Open it with: pathview --model") == 1


@pytest.mark.slow
def test_the_app_records_the_new_model_id_with_each_review(
    qtbot: QtBot, tmp_path: Path, finetuned: dict[str, Any]
) -> None:
    from pathview.ui.session import TriageSession
    from pathview.workers import running_workers

    folder = tmp_path / "patches"
    folder.mkdir()
    for path in sorted(KAGGLE.glob("*.tif"))[:4]:
        shutil.copy(path, folder / path.name)
    session = TriageSession()
    try:
        with qtbot.waitSignal(session.model_worker.model_loaded, timeout=20000):
            session.load_model(finetuned["model"], "cpu")
        with qtbot.waitSignal(session.scoring_finished, timeout=30000) as finished:
            session.open_folder(folder)
        assert finished.args == ["done"]
        session.reviewer = "Dr Test"
        session.select_position(0)
        qtbot.waitUntil(lambda: session.current_info is not None, timeout=15000)
        assert session.record(Verdict.AGREE)
        assert session.store is not None
        event = session.store.events()[-1]
    finally:
        session.shutdown()
    new_id = read_metadata(finetuned["model"]).model_id
    assert event.model_id == new_id and event.p_tumour is not None
    qtbot.waitUntil(lambda: running_workers() == [], timeout=10000)


# ------------------------------------------------------------------------------ pieces


def test_progress_line_on_a_terminal_and_log_lines_otherwise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    out = io.StringIO()
    bar = Progress(out, tty=True, redraw_s=0.0, clock=lambda: now[0])
    for step in range(1, 5):
        now[0] = step * 2.0
        bar(StepInfo(1, 2, step, 4, step, 8, torch.tensor(0.5)))
    bar.close()
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n")
    last = text.split("\r\x1b[K")[-1]
    assert "epoch 1/2 batch 4/4" in last and "loss 0.5000" in last
    assert "0.5 steps/s" in last and "ETA 0:08" in last  # 4 steps left at 2 s each
    logged = Progress(io.StringIO(), tty=False, log_every_s=10.0, clock=lambda: now[0])
    with caplog.at_level("INFO", logger="pathview.training.progress"):
        for step in range(1, 9):
            now[0] = step * 3.0
            logged(StepInfo(1 + (step > 4), 2, 1 + (step - 1) % 4, 4, step, 8, 0.25))
    lines = [r.getMessage() for r in caplog.records if r.name == "pathview.training.progress"]
    assert len(lines) == 2  # 10 s after the first step (at 15 s) and at the last step
    assert lines[-1].startswith("epoch 2/2 batch 4/4 (100%)")


def test_command_line_pieces_and_entry_point() -> None:
    assert without_option(["--a", "1", "--stop-after-steps", "3", "--b"], "--stop-after-steps") == [
        "--a",
        "1",
        "--b",
    ]
    assert without_option(["--stop-after-steps=3", "--b"], "--stop-after-steps") == ["--b"]
    args = parse_arguments(["--images", "x", "--run-dir", "runs/r", "--rule", "drop"])
    assert args.rule == "unanimous" and args.name == "r" and args.images[0].is_absolute()
    assert (args.epochs, args.lr) == (5, 3e-4)  # fine-tuning defaults
    scratch = parse_arguments(["--images", "x", "--run-dir", "r", "--from-scratch"])
    assert (scratch.epochs, scratch.lr) == (30, 2e-3)
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["pathview-train"] == "pathview.training.retrain:main"
    assert "pathview*" in project["tool"]["setuptools"]["packages"]["find"]["include"]


@pytest.mark.slow
def test_the_from_scratch_training_script_still_runs(tmp_path: Path) -> None:
    """``python -m pathview.training.train`` on the shared loop (a subprocess: sets up logging)."""
    cmd = [
        sys.executable, "-m", "pathview.training.train", "--images", str(KAGGLE),
        "--labels", str(KAGGLE / "labels.csv"), "--arch", "pv-tiny", "--epochs", "1",
        "--batch-size", "32", "--threads", "1", "--decode-workers", "1",
        "--run-dir", str(tmp_path / "run"),
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    meta = read_metadata(tmp_path / "run" / "model").to_dict()
    assert meta["training"]["epochs"] == 1 and meta["parent_model"] is None
    assert "heldout" in meta["validation"]
    clf = load_model(tmp_path / "run" / "model", device="cpu")
    assert clf.predict(np.zeros((1, 96, 96, 3), np.uint8)).p.shape == (1,)
    assert meta["calibration"]["method"].startswith(("Platt", "temperature"))
    # Refitting the calibration of the finished run writes a new, loadable model directory
    # whose metadata names the model it came from, without the int8 weights made from the
    # old one (they would need quantising again).
    from pathview.model.quantised import int8_unavailable
    from pathview.training.calibrate import recalibrate
    from pathview.training.quantise import add_int8

    if int8_unavailable() is None:
        add_int8(tmp_path / "run" / "model", KAGGLE, KAGGLE / "labels.csv", n=16, workers=1)
        assert read_metadata(tmp_path / "run" / "model").int8 is not None
    out = recalibrate(tmp_path / "run", tmp_path / "recalibrated", "platt").to_dict()
    assert "int8" not in out
    assert out["calibration"]["recalibrated_from"] == meta["weights"]["sha256"]
    assert out["validation"]["heldout"]["plain"]["n"] == meta["validation"]["heldout"]["plain"]["n"]
    assert load_model(tmp_path / "recalibrated", device="cpu").model_id == out["weights"]["sha256"]
    # With a prevalence the prior is shifted after the fit; the recorded held-out figures are
    # those of the shifted network, as measured again through the network.
    shifted = recalibrate(
        tmp_path / "run", tmp_path / "shifted", "platt", "cpu", 0.3, "test"
    ).to_dict()
    shift = shifted["calibration"]["prior_shift"]
    assert shift["to_prevalence"] == 0.3 and shift["prevalence_source"] == "test"
    heldout = shifted["validation"]["heldout"]["plain"]
    assert heldout["ece"] == pytest.approx(shift["heldout_after"]["ece"], abs=1e-4)
    assert heldout["auc"] == pytest.approx(out["validation"]["heldout"]["plain"]["auc"], abs=1e-4)
    # With an input codec the calibration and the recorded figures are measured on coded
    # patches, and the codec is recorded for the app to apply.
    coded = recalibrate(
        tmp_path / "run", tmp_path / "coded", "platt", "cpu", input_jpeg_quality=75
    ).to_dict()
    assert coded["input_codec"]["quality"] == 75 and "input_codec" not in meta
    assert load_model(tmp_path / "coded", device="cpu").codec is not None
    assert coded["calibration"]["recalibrated_from"] == meta["weights"]["sha256"]


@pytest.mark.slow
def test_fine_tuning_keeps_the_parents_input_codec(
    tmp_path: Path, parent_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parent that scores through a JPEG codec is fine-tuned on coded patches, and its child
    records the same codec (its own scoring then matches how it was trained)."""
    import pathview.training.retrain as retrain_module
    from pathview.model.bundle import write_metadata
    from pathview.model.codec import CODEC_KEY, InputCodec
    from pathview.model.metadata import ModelMetadata

    parent = tmp_path / "parent"
    shutil.copytree(parent_model, parent)
    meta = read_metadata(parent).to_dict()
    meta[CODEC_KEY] = InputCodec(quality=75).to_dict()
    write_metadata(parent, ModelMetadata.parse(meta))
    coded: list[int] = []
    real = retrain_module.through_codec

    def spy(pixels: np.ndarray, codec: InputCodec | None, chunk: int = 4096) -> np.ndarray:
        coded.append(len(pixels))
        assert codec == InputCodec(quality=75)
        return real(pixels, codec, chunk)

    monkeypatch.setattr(retrain_module, "through_codec", spy)
    run = tmp_path / "run"
    code = run_retrain(
        "--images", KAGGLE, "--labels", KAGGLE / "labels.csv", "--no-discover",
        "--parent", parent, "--epochs", "1", "--min-holdout", "5", "--run-dir", run, *FAST,
    )  # fmt: skip
    assert code == 0
    child = read_metadata(run / "model").to_dict()
    assert child[CODEC_KEY] == meta[CODEC_KEY]
    assert len(coded) == 2 and coded[0] > coded[1] > 0  # training, then held-out patches
    assert load_model(run / "model", device="cpu").codec == InputCodec(quality=75)
    # The parent without a codec trains on the patches as they are.
    assert read_metadata(parent_model).input_codec is None
