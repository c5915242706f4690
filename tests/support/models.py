"""A tiny randomly initialised model directory standing in for the bundled weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from pathview.model import NetConfig, PatchNet
from pathview.model.bundle import write_model_dir

#: A two-stage PatchNet small enough to build, score and explain in milliseconds.
TINY = NetConfig(stem=((8, 2),), stages=((8, 1, 1), (16, 1, 2)))


def make_tiny_model(
    directory: Path, seed: int = 0, resize_policy: str = "centre_crop", temperature: float = 1.5
) -> Path:
    """Write a randomly initialised tiny PatchNet model directory (with non-trivial BN stats)."""
    torch.manual_seed(seed)
    net = PatchNet(TINY).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    sides = net.feature_sides(96)
    meta: dict[str, Any] = {
        "name": "tiny-test",
        "architecture": TINY.to_dict(),
        "input_size": 96,
        "resize_policy": resize_policy,
        "normalisation": {"mean": [0.7, 0.55, 0.7], "std": [0.24, 0.28, 0.22]},
        "classes": {"0": "normal", "1": "tumour"},
        "temperature": temperature,
        "cam_layers": {
            "default": "stages.0",
            "candidates": {"stages.0": sides["stages.0"], "stages.1.0.conv2": 24},
        },
        "parent_model": None,
    }
    write_model_dir(directory, net.state_dict(), meta)
    return directory


def spy_on_encoding(monkeypatch: Any, classifier: Any) -> list[str]:
    """Record the name of each thread that runs ``classifier.encode_inputs`` (the list
    returned fills as the classifier encodes)."""
    import threading

    where: list[str] = []
    encode = classifier.encode_inputs

    def spy(pixels: Any, threads: int | None = 1) -> Any:
        where.append(threading.current_thread().name)
        return encode(pixels, threads)

    monkeypatch.setattr(classifier, "encode_inputs", spy)
    return where
