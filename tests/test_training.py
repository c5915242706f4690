"""Pieces of the training loop that need no data set."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from support.models import make_tiny_model

from pathview.model import load_model
from pathview.model.network import PatchNet
from pathview.training.data import PatchSet
from pathview.training.loop import Ema, TrainConfig, predict_logits, train_model
from pathview.training.train import (
    ARCHITECTURES,
    Teacher,
    build_parser,
    warn_if_teacher_saw_the_holdout,
)


def test_ema_averages_batchnorm_statistics_with_the_weights() -> None:
    """The averaged weights are evaluated with statistics averaged over the same steps: the
    live network's latest statistics with averaged weights shift every activation."""
    torch.manual_seed(0)
    net = PatchNet(ARCHITECTURES["pv-tiny"])
    ema = Ema(net, decay=0.9)
    bn = net.stem[0][1]
    start_mean = ema.model.stem[0][1].running_mean.clone()
    net.train()
    net(torch.rand(8, 3, 96, 96) * 3)  # moves the live running statistics
    step = 1000  # past the decay's warm-up: d = 0.9
    ema.update(net, step)
    expected = start_mean * 0.9 + bn.running_mean * 0.1
    torch.testing.assert_close(ema.model.stem[0][1].running_mean, expected)
    assert not torch.equal(ema.model.stem[0][1].running_mean, bn.running_mean)
    # Integer buffers (batch counters) are copied, not averaged.
    assert int(ema.model.stem[0][1].num_batches_tracked) == int(bn.num_batches_tracked) == 1


def test_teacher_gives_its_calibrated_probability_under_the_students_normalisation(
    tmp_path: Path,
) -> None:
    """Distillation targets are the teachers' mean P(tumour), each as the app would show it,
    even when the student normalises its inputs with other statistics."""
    pixels = np.random.default_rng(3).integers(0, 256, (6, 96, 96, 3), dtype=np.uint8)
    dirs = [
        make_tiny_model(tmp_path / "a", seed=0, temperature=2.5),
        make_tiny_model(tmp_path / "b", seed=1, temperature=0.7),
    ]
    expected = [load_model(d, device="cpu").predict(pixels).p for d in dirs]
    assert np.abs(expected[0] - expected[1]).max() > 1e-3  # two different teachers
    mean, std = [0.5, 0.4, 0.6], [0.3, 0.2, 0.25]  # not the teachers' statistics
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        one = Teacher(dirs[:1], mean, std)(x).numpy()
        both = Teacher(dirs, mean, std)(x).numpy()
    np.testing.assert_allclose(one, expected[0], atol=1e-5)
    np.testing.assert_allclose(both, (expected[0] + expected[1]) / 2, atol=1e-5)


def test_a_teacher_trained_with_another_hold_out_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    teacher = make_tiny_model(tmp_path / "teacher")
    meta_path = teacher / "model.json"
    meta = json.loads(meta_path.read_text())
    shared = {"holdout_split": "valid", "holdout_split_fraction": 0.4, "holdout_fraction": 0.1}
    meta["training"] = {
        "arguments": {"images": [str(tmp_path / "img")], "labels": [str(tmp_path / "l.csv")]}
        | shared
        | {"seed": 0}
    }
    meta_path.write_text(json.dumps(meta))
    argv = ["--images", str(tmp_path / "img"), "--labels", str(tmp_path / "l.csv")]
    argv += ["--holdout-split", "valid", "--holdout-split-fraction", "0.4"]
    argv += ["--run-dir", str(tmp_path / "run"), "--teacher", str(teacher)]
    with caplog.at_level(logging.WARNING, logger="training"):
        warn_if_teacher_saw_the_holdout(build_parser().parse_args(argv))
        assert not caplog.records
        warn_if_teacher_saw_the_holdout(build_parser().parse_args([*argv, "--seed", "1"]))
    assert len(caplog.records) == 1
    assert "other seed" in caplog.records[0].getMessage()


def test_teacher_tta_targets_are_the_apps_8_view_mean(tmp_path: Path) -> None:
    model_dir = make_tiny_model(tmp_path / "teacher", temperature=1.7)
    pixels = np.random.default_rng(5).integers(0, 256, (10, 96, 96, 3), dtype=np.uint8)
    expected = load_model(model_dir, device="cpu").predict(pixels, tta=True).p
    mean, std = [0.6, 0.5, 0.6], [0.25, 0.3, 0.2]
    teacher = Teacher([model_dir], mean, std)
    got = predict_logits(teacher, pixels, mean, std, torch.device("cpu"), tta=True, batch_size=4)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_training_with_fixed_teacher_targets_runs_the_teacher_once_per_patch_and_view(
    tmp_path: Path,
) -> None:
    """With teacher_tta the teacher scores each training patch in its 8 views before training
    and is not run again on the augmented batches."""
    teacher = Teacher([make_tiny_model(tmp_path / "teacher")], [0.5] * 3, [0.25] * 3)
    seen = []
    teacher.register_forward_hook(lambda _m, inputs, _out: seen.append(len(inputs[0])))
    rng = np.random.default_rng(0)
    n = 48

    def patches(count: int) -> PatchSet:
        return PatchSet(
            [f"p{i}" for i in range(count)],
            rng.integers(0, 256, (count, 96, 96, 3), dtype=np.uint8),
            rng.integers(0, 2, count),
            np.array([""] * count),
        )

    cfg = TrainConfig(epochs=2, batch_size=16, eval_every=1, teacher_tta=True)
    result = train_model(
        PatchNet(ARCHITECTURES["pv-tiny"]),
        patches(n),
        patches(16),
        [0.5] * 3,
        [0.25] * 3,
        cfg,
        torch.device("cpu"),
        teacher=teacher,
    )
    assert result.epochs_run == 2
    assert sum(seen) == 8 * n  # 8 views of each training patch, then never again
    assert all(np.isfinite(row["train_loss"]) for row in result.history)
