"""int8 weights in a model directory: making them, loading them, and falling back to float32."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from support.cli import run_cli
from support.models import make_tiny_model
from support.patches import kaggle_pixels
from torch import nn

from pathview.model import load_model, read_metadata
from pathview.model.classifier import _int8_network
from pathview.model.network import PatchNet, PointwiseConv2d
from pathview.model.quantised import int8_unavailable, load_int8, quantise
from pathview.training.quantise import add_int8, main

pytestmark = pytest.mark.skipif(
    int8_unavailable() is not None, reason=f"no x86 int8 kernels here: {int8_unavailable()}"
)


@pytest.fixture
def int8_dir(tmp_path: Path, data_dir: Path) -> Path:
    """A tiny model directory with int8 weights observed on 32 real fixture patches."""
    model = make_tiny_model(tmp_path / "tiny8")
    add_int8(model, data_dir / "kaggle", data_dir / "kaggle" / "labels.csv", n=32, workers=1)
    return model


def test_add_int8_records_the_file_its_source_and_how(int8_dir: Path, data_dir: Path) -> None:
    meta = json.loads((int8_dir / "model.json").read_text())
    record = meta["int8"]
    assert (int8_dir / record["file"]).is_file()
    assert record["bytes"] == (int8_dir / record["file"]).stat().st_size
    assert len(record["sha256"]) == 64 and record["sha256"] != meta["weights"]["sha256"]
    assert record["source_sha256"] == meta["weights"]["sha256"]
    assert record["engine"] == "x86" and "post-training static" in record["method"]
    assert record["calibration"]["n"] == 32
    assert record["calibration"]["data"] == str(data_dir / "kaggle")


def test_the_command_prints_the_record_it_wrote(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_tiny_model(tmp_path / "tiny8")
    kaggle = data_dir / "kaggle"
    code = main(
        [
            str(model),
            "--images",
            str(kaggle),
            "--labels",
            str(kaggle / "labels.csv"),
            "--n",
            "16",
            "--decode-workers",
            "1",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((model / "model.json").read_text())["int8"]
    assert printed["calibration"]["n"] == 16


@pytest.mark.slow
def test_cpu_scores_in_int8_close_to_float32(int8_dir: Path, data_dir: Path) -> None:
    auto = load_model(int8_dir, device="cpu")
    fp32 = load_model(int8_dir, device="cpu", precision="float32")
    assert (auto.precision, auto.precision_note) == ("int8", None)
    assert (fp32.precision, fp32.precision_note) == ("float32", None)
    assert auto.model_id == fp32.model_id  # the model's identity is its float32 weights
    pixels = kaggle_pixels(data_dir, 48)
    p8, p32 = auto.predict(pixels).p, fp32.predict(pixels).p
    assert p8.shape == p32.shape == (len(pixels),)
    assert np.all((p8 >= 0) & (p8 <= 1))
    assert np.abs(p8 - p32).max() < 0.05
    assert np.corrcoef(p8, p32)[0, 1] > 0.95
    tta = auto.predict(pixels[:8], tta=True)
    assert tta.views is not None and tta.views.shape == (8, 8)
    assert tta.spread is not None and np.all(tta.spread >= 0)
    np.testing.assert_allclose(tta.p, tta.views.mean(1), atol=1e-6)


@pytest.mark.slow
def test_grad_cam_keeps_the_float32_network(int8_dir: Path, data_dir: Path) -> None:
    clf = load_model(int8_dir, device="cpu")
    assert clf.precision == "int8" and isinstance(clf.network, PatchNet)
    x = clf.preprocess(kaggle_pixels(data_dir, 2)).requires_grad_(True)
    clf.logits(x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.slow
def test_stored_int8_weights_reload_bit_identical(tmp_path: Path, data_dir: Path) -> None:
    fp32 = load_model(make_tiny_model(tmp_path / "m"), device="cpu", precision="float32")
    x = fp32.preprocess(kaggle_pixels(data_dir, 24))
    made = quantise(fp32.network, x)
    path = tmp_path / "int8.pt"
    torch.save(made.state_dict(), path)
    loaded = load_int8(fp32.network, torch.load(path, weights_only=True), 96)
    with torch.inference_mode():
        assert torch.equal(made(x), loaded(x))


def test_small_strided_shortcuts_are_quantised_as_plain_convolutions(
    tmp_path: Path, data_dir: Path
) -> None:
    fp32 = load_model(make_tiny_model(tmp_path / "m"), device="cpu", precision="float32")
    x = fp32.preprocess(kaggle_pixels(data_dir, 24))
    made = quantise(fp32.network, x)
    small = {
        name: m
        for name, m in fp32.network.named_modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride != (1, 1)
    }
    assert small and all(isinstance(m, PointwiseConv2d) for m in small.values())
    quantised = dict(made.named_modules())
    for name, m in small.items():
        q = quantised[name]  # the int8 graph keeps the module names
        assert isinstance(q, torch.ao.nn.quantized.Conv2d)
        assert q.stride == m.stride and q.weight().dtype == torch.qint8
    with torch.inference_mode():
        assert torch.allclose(made(x), fp32.network(x), atol=0.25)


@pytest.mark.slow
def test_tampered_int8_weights_fall_back_to_float32(
    int8_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = int8_dir / "weights-int8.pt"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="pathview.model.classifier"):
        clf = load_model(int8_dir, device="cpu")
    assert clf.precision == "float32"
    assert clf.precision_note is not None and "checksum mismatch" in clf.precision_note
    assert any("checksum mismatch" in r.getMessage() for r in caplog.records)
    path.unlink()
    clf = load_model(int8_dir, device="cpu")
    assert clf.precision == "float32" and "missing" in str(clf.precision_note)


@pytest.mark.slow
def test_int8_made_from_other_weights_is_not_used(int8_dir: Path) -> None:
    meta = json.loads((int8_dir / "model.json").read_text())
    meta["int8"]["source_sha256"] = "0" * 64
    (int8_dir / "model.json").write_text(json.dumps(meta))
    clf = load_model(int8_dir, device="cpu")  # even under 'auto': the record is stale
    assert clf.precision == "float32"
    assert "made from other weights" in str(clf.precision_note)


@pytest.mark.slow
def test_precision_requests_without_int8(tmp_path: Path, int8_dir: Path) -> None:
    plain = make_tiny_model(tmp_path / "plain")
    auto = load_model(plain, device="cpu")
    assert (auto.precision, auto.precision_note) == ("float32", None)  # nothing to say
    asked = load_model(plain, device="cpu", precision="int8")
    assert asked.precision == "float32" and "no int8 weights" in str(asked.precision_note)
    with pytest.raises(ValueError, match="unknown precision"):
        load_model(plain, device="cpu", precision="fp16")
    # On a GPU the float32 network scores; asking for int8 there says so.
    meta = read_metadata(int8_dir)
    net = load_model(int8_dir, device="cpu", precision="float32").network
    assert isinstance(net, PatchNet)
    module, note = _int8_network(int8_dir, meta, net, torch.device("cuda"), "int8")
    assert module is None and "CPU only" in str(note)
    assert _int8_network(int8_dir, meta, net, torch.device("cuda"), "auto") == (None, None)


@pytest.mark.slow
def test_machine_without_int8_kernels_keeps_float32(
    int8_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "pathview.model.classifier.int8_unavailable", lambda: "no 'x86' quantised engine"
    )
    assert load_model(int8_dir, device="cpu").precision == "float32"
    asked = load_model(int8_dir, device="cpu", precision="int8")
    assert asked.precision == "float32" and "x86" in str(asked.precision_note)


@pytest.mark.slow
def test_score_cli_says_which_precision_it_used(
    int8_dir: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = data_dir / "kaggle"
    for precision in ("int8", "float32"):
        out = tmp_path / f"{precision}.csv"
        code = run_cli("score", folder, "--out", out, "--model", int8_dir, "--precision", precision)
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert f"on cpu in {precision}" in captured.out
        assert out.is_file()
    plain = make_tiny_model(tmp_path / "plain")
    code = run_cli(
        "score", folder, "--out", tmp_path / "p.csv", "--model", plain, "--precision", "int8"
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "no int8 weights" in captured.err and "in float32" in captured.out


@pytest.mark.slow
def test_evaluate_records_int8_next_to_float32(int8_dir: Path, data_dir: Path) -> None:
    from pathview.training.evaluate import evaluate_folder

    folder = data_dir / "kaggle"
    out = evaluate_folder(int8_dir, folder, folder / "labels.csv")
    assert set(out["plain"]) == {"n", "auc", "accuracy", "ece"}
    block = out["int8"]
    assert block["sha256"] == json.loads((int8_dir / "model.json").read_text())["int8"]["sha256"]
    for view in ("plain", "tta"):
        assert block[view]["n"] == out[view]["n"] > 200
        assert 0 <= block[view]["mean_abs_dp"] <= block[view]["max_abs_dp"] < 0.1
    # Float32 measured on a GPU (here: the CPU it falls back to) still measures int8 on the CPU.
    assert "int8" in evaluate_folder(int8_dir, folder, folder / "labels.csv", device="cuda")


def test_command_line_offers_the_model_packages_precisions() -> None:
    # pathview.cli keeps its own copies so that `--help` does not import torch.
    from pathview import cli, model

    assert cli.PRECISION_CHOICES == model.PRECISION_CHOICES
    assert cli.DEVICE_CHOICES == model.DEVICE_CHOICES
