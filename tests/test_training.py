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
from pathview.model.codec import InputCodec
from pathview.model.network import PatchNet
from pathview.training.data import PatchSet, holdout_mask, holdout_mask_of_parts
from pathview.training.loop import Ema, TrainConfig, predict_logits, train_model
from pathview.training.train import (
    ARCHITECTURES,
    Teacher,
    build_parser,
    input_codec,
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


def _with_codec(model_dir: Path, quality: int) -> Path:
    """``model_dir`` with an input codec recorded in its metadata."""
    meta_path = model_dir / "model.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["input_codec"] = InputCodec(quality=quality).to_dict()
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    return model_dir


def test_a_teacher_sees_its_own_input_codec_when_the_student_has_none(tmp_path: Path) -> None:
    """A codec-free student distilled from a teacher with an input codec gets the teacher's
    8-view P as the app computes it: the patches go through the teacher's codec first."""
    model_dir = _with_codec(make_tiny_model(tmp_path / "teacher", temperature=1.3), 75)
    pixels = np.random.default_rng(7).integers(0, 256, (6, 96, 96, 3), dtype=np.uint8)
    expected = load_model(model_dir, device="cpu").predict(pixels, tta=True).p
    mean, std = [0.6, 0.5, 0.6], [0.25, 0.3, 0.2]
    teacher = Teacher([model_dir], mean, std, student_codec=None)
    assert teacher.pixel_codec == InputCodec(quality=75)
    prepared = teacher.prepare_pixels(pixels)
    assert not np.array_equal(prepared, pixels)  # the codec changed them
    got = predict_logits(teacher, prepared, mean, std, torch.device("cpu"), tta=True)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # A student with the same codec already holds coded patches: they are not coded twice.
    same = Teacher([model_dir], mean, std, student_codec=InputCodec(quality=75))
    assert same.pixel_codec is None
    assert same.prepare_pixels(pixels) is pixels


def test_fixed_teacher_targets_come_from_the_teachers_coded_patches(tmp_path: Path) -> None:
    model_dir = _with_codec(make_tiny_model(tmp_path / "teacher"), 60)
    teacher = Teacher([model_dir], [0.5] * 3, [0.25] * 3)
    prepared: list[np.ndarray] = []
    original = teacher.prepare_pixels

    def spy(pixels: np.ndarray) -> np.ndarray:
        prepared.append(pixels)
        return original(pixels)

    teacher.prepare_pixels = spy  # type: ignore[method-assign]
    rng = np.random.default_rng(1)
    train = PatchSet(
        [f"p{i}" for i in range(16)],
        rng.integers(0, 256, (16, 96, 96, 3), dtype=np.uint8),
        rng.integers(0, 2, 16),
        np.array([""] * 16),
    )
    cfg = TrainConfig(epochs=1, batch_size=8, eval_every=1, teacher_tta=True)
    train_model(
        PatchNet(ARCHITECTURES["pv-tiny"]),
        train,
        train,
        [0.5] * 3,
        [0.25] * 3,
        cfg,
        torch.device("cpu"),
        teacher=teacher,
    )
    assert len(prepared) == 1 and prepared[0] is train.pixels


def test_teachers_with_different_input_codecs_or_another_than_the_students_are_refused(
    tmp_path: Path,
) -> None:
    a = _with_codec(make_tiny_model(tmp_path / "a"), 75)
    b = make_tiny_model(tmp_path / "b", seed=1)
    with pytest.raises(ValueError, match="different input codecs"):
        Teacher([a, b], [0.5] * 3, [0.25] * 3)
    with pytest.raises(ValueError, match="differs from the student's"):
        Teacher([a], [0.5] * 3, [0.25] * 3, student_codec=InputCodec(quality=90))


def test_no_input_codec_drops_the_codec_of_the_model_training_starts_from(tmp_path: Path) -> None:
    start = _with_codec(make_tiny_model(tmp_path / "start"), 75)
    base = ["--images", "x", "--labels", "y", "--run-dir", str(tmp_path / "run")]
    inherit = build_parser().parse_args([*base, "--init-from", str(start)])
    assert input_codec(inherit) == InputCodec(quality=75)
    dropped = build_parser().parse_args([*base, "--init-from", str(start), "--no-input-codec"])
    assert input_codec(dropped) is None
    both = build_parser().parse_args([*base, "--no-input-codec", "--input-jpeg-quality", "80"])
    with pytest.raises(SystemExit, match="not both"):
        input_codec(both)


def test_each_source_holds_out_the_same_patches_as_when_it_is_trained_on_alone() -> None:
    rng = np.random.default_rng(3)

    def source(n: int, n_valid: int, prefix: str) -> PatchSet:
        split = np.array(["valid"] * n_valid + ["train"] * (n - n_valid))
        rng.shuffle(split)
        pixels = np.zeros((n, 1, 1, 3), dtype=np.uint8)
        return PatchSet([f"{prefix}{i}" for i in range(n)], pixels, rng.integers(0, 2, n), split)

    first, second = source(200, 60, "a"), source(50, 20, "b")
    alone = holdout_mask_of_parts([first], "valid", 0.1, 0, 0.4)
    together = holdout_mask_of_parts([first, second], "valid", 0.1, 0, 0.4)
    np.testing.assert_array_equal(together[:200], alone)
    assert alone.sum() == 24 and together[200:].sum() == 8
    assert (first.split[alone] == "valid").all() and (second.split[together[200:]] == "valid").all()
    # The one-source mask is the one training always drew.
    np.testing.assert_array_equal(alone, holdout_mask(first, "valid", 0.1, 0, 0.4))
    # A source without the held-out split holds out nothing when another has it...
    unsplit = PatchSet(second.ids, second.pixels, second.labels, np.array([""] * 50))
    assert not holdout_mask_of_parts([first, unsplit], "valid", 0.1, 0, 0.4)[200:].any()
    # ... and each holds out its own seeded fraction when none has it.
    mask = holdout_mask_of_parts([unsplit, unsplit], "valid", 0.1, 0, 0.4)
    assert mask[:50].sum() == 5 and mask[50:].sum() == 5


def test_a_model_keeps_the_scale_of_the_weights_it_started_from(tmp_path: Path) -> None:
    from pathview.training.loop import TrainResult
    from pathview.training.train import Data, base_metadata

    start = make_tiny_model(tmp_path / "start")
    meta_path = start / "model.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["microns_per_pixel"] = 0.972
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    patches = PatchSet(
        ["a", "b"], np.zeros((2, 96, 96, 3), np.uint8), np.array([0, 1]), np.array(["", ""])
    )
    data = Data(patches, patches, None, [0.5] * 3, [0.25] * 3)
    net = PatchNet(ARCHITECTURES["pv-tiny"])
    result = TrainResult(net, 1, [], 1.0, 1, 1, False)
    base = ["--images", "x", "--labels", "y", "--run-dir", str(tmp_path / "run")]

    def scale(*extra: str) -> float | None:
        args = build_parser().parse_args([*base, *extra])
        out = base_metadata(net, data, args, result, 1.0, {}, torch.device("cpu"))
        return out.microns_per_pixel

    assert scale("--init-from", str(start)) == 0.972
    # From scratch nothing is recorded: slides are then tiled at PCam's scale.
    assert scale() is None
