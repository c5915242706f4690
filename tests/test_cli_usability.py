"""Small command-line promises: help texts, one device note, the folder's own labels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import run_cli
from support.models import make_tiny_model
from support.patches import copy_balanced_patches

from pathview.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path) -> Path:
    """8 real Kaggle patches (4 tumour) with their labels.csv inside the folder."""
    return copy_balanced_patches(data_dir / "kaggle", tmp_path / "patches", 4)


def test_score_uses_the_folders_own_labels_and_says_so(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli("score", folder, "--out", tmp_path / "s.csv", "--model", tiny_dir)
    out = capsys.readouterr().out
    assert code == 0
    assert f"labels: {folder / 'labels.csv'} (found with the folder; --labels overrides)" in out
    assert "AUC" in out and "on 8 labelled patches (4 tumour)" in out


def test_score_labels_option_overrides_the_folders_file(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = (folder / "labels.csv").read_text().splitlines()
    other = tmp_path / "three.csv"
    other.write_text("\n".join(rows[:4]) + "\n")  # header + 3 patches
    code = run_cli(
        "score", folder, "--out", tmp_path / "s.csv", "--model", tiny_dir, "--labels", other
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"labels: {other}\n" in out and "on 3 labelled patches" in out


def test_score_without_labels_prints_no_metrics(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "labels.csv").unlink()
    assert run_cli("score", folder, "--out", tmp_path / "s.csv", "--model", tiny_dir) == 0
    out = capsys.readouterr().out
    assert "labels:" not in out and "AUC" not in out


@pytest.mark.slow
def test_unavailable_cuda_is_noted_once(folder: Path, tiny_dir: Path, tmp_path: Path) -> None:
    # A real process: under pytest a log handler would hide a second copy of the note.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "pathview", "score", str(folder), "--out", str(tmp_path / "s.csv"),
         "--model", str(tiny_dir), "--device", "cuda"],
        capture_output=True, text=True, timeout=180, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    note = "CUDA was requested but is not available; using the CPU"
    assert (done.stdout + done.stderr).count(note) == 1
    assert " on cpu " in done.stdout


def test_app_help_names_retraining_and_explains_device(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "pathview-train" in text
    assert "--device {auto,cpu,cuda,mps} where the model runs: auto = CUDA, then" in text


@pytest.mark.slow
def test_retrain_help_names_the_installed_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pathview.training.retrain", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: pathview-train ")
    assert "python -m pathview.training.retrain" in done.stdout


@pytest.mark.slow
def test_smoke_start_opens_the_window_and_quits(
    folder: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "QT_QPA_PLATFORM": "offscreen",
        "PATHVIEW_CONFIG_DIR": str(tmp_path / "config"),
        "PATHVIEW_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pathview", str(folder), "--model", str(tiny_dir),
         "--quit-after-ms", "1500"],
        capture_output=True, text=True, timeout=180, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_no_display_is_explained_with_the_xvfb_line() -> None:
    from pathview.cli import XVFB_HINT, no_display_message

    message = no_display_message({}, "linux")
    assert message is not None and XVFB_HINT in message
    assert 'xvfb-run -a -s "-screen 0 1600x1000x24"' in message
    for env in ({"DISPLAY": ":0"}, {"WAYLAND_DISPLAY": "wayland-0"}, {"QT_QPA_PLATFORM": "x"}):
        assert no_display_message(env, "linux") is None
    assert no_display_message({}, "darwin") is None
    assert no_display_message({}, "win32") is None


def test_the_app_refuses_to_start_without_a_display(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "pathview", "--demo"],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    if not sys.platform.startswith("linux"):
        pytest.skip("the check is for Linux")
    assert done.returncode == 2
    assert "no display" in done.stderr and "xvfb-run -a" in done.stderr
