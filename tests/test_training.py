"""Pieces of the training loop that need no data set."""

from __future__ import annotations

import torch

from pathview.model.network import PatchNet
from training.train import ARCHITECTURES, Ema


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
