"""Pieces of the training loop that need no data set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from test_model import make_tiny_model

from pathview.model import load_model
from pathview.model.network import PatchNet
from training.train import ARCHITECTURES, Ema, Teacher


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
    """Distillation targets are the teacher's own P(tumour), as the app would show it, even
    when the student normalises its inputs with other statistics."""
    model_dir = make_tiny_model(tmp_path / "teacher", temperature=2.5)
    pixels = np.random.default_rng(3).integers(0, 256, (6, 96, 96, 3), dtype=np.uint8)
    expected = load_model(model_dir, device="cpu").predict(pixels).p
    mean, std = [0.5, 0.4, 0.6], [0.3, 0.2, 0.25]  # not the teacher's statistics
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        got = Teacher(model_dir, mean, std)(x).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert got.min() > 0 and got.max() < 1 and np.ptp(got) > 0
