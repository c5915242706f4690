"""The patch classifier network: a small ResNet-style CNN built from a JSON-able config.

The architecture is described entirely by :class:`NetConfig`, which the model metadata
stores, so the app rebuilds exactly the trained network and never hard-codes it.
The network outputs one logit per patch: the tumour logit (P(tumour) = sigmoid(logit / T)).

Module names (as in ``network.named_modules()``) are stable and used for Grad-CAM:
``stem`` (the early, strided convolutions), ``stages.<i>`` (residual stages, each ending at
the spatial size listed by :meth:`PatchNet.feature_sides`), ``stages.<i>.<j>.conv2`` (last
conv of a block) and ``head`` (pooling + linear).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ARCHITECTURE_NAME = "pathview-resnet"


@dataclass(frozen=True)
class NetConfig:
    """Shape of a :class:`PatchNet`.

    ``stem``: (out_channels, stride) of each plain 3x3 conv of the stem.
    ``stages``: (channels, blocks, stride) of each residual stage.
    """

    stem: tuple[tuple[int, int], ...] = ((24, 2), (32, 1))
    stages: tuple[tuple[int, int, int], ...] = ((48, 1, 2), (96, 2, 2), (192, 2, 2))
    dropout: float = 0.0
    name: str = field(default=ARCHITECTURE_NAME)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form stored in the model metadata."""
        d = asdict(self)
        d["stem"] = [list(s) for s in self.stem]
        d["stages"] = [list(s) for s in self.stages]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetConfig:
        """Inverse of :meth:`to_dict`; raises ValueError on an unknown architecture."""
        name = d.get("name", ARCHITECTURE_NAME)
        if name != ARCHITECTURE_NAME:
            raise ValueError(f"unknown architecture {name!r}")
        return cls(
            stem=tuple((int(c), int(s)) for c, s in d["stem"]),
            stages=tuple((int(c), int(b), int(s)) for c, b, s in d["stages"]),
            dropout=float(d.get("dropout", 0.0)),
            name=name,
        )


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


#: From this many input channels a strided 1x1 shortcut is a plain ``nn.Conv2d`` (see
#: :class:`PointwiseConv2d`).
SAFE_STRIDED_POINTWISE_CHANNELS = 16


class PointwiseConv2d(nn.Conv2d):
    """A 1x1 convolution (no padding) whose stride is taken as subsampling before a stride-1
    convolution: the same function, parameters and state-dict keys as
    ``nn.Conv2d(cin, cout, 1, stride)``.

    oneDNN's strided 1x1 backward on channels-last input with few input channels writes past
    its workspace (oneDNN issue 6035, open: "IC < ic_block"): on an AVX-512 CPU torch 2.14
    crashed or corrupted the heap with 4, 8 and 15 input channels (12, 16 and more were
    fine), in training and in Grad-CAM. A stride-1 1x1 convolution never takes that path.
    :class:`BasicBlock` uses this below :data:`SAFE_STRIDED_POINTWISE_CHANNELS` input channels
    only, so the bundled network (32 and 64) keeps the plain module its int8 graph was made
    from.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, bias: bool = False) -> None:
        super().__init__(cin, cout, 1, stride, 0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sh, sw = self.stride
        if (sh, sw) != (1, 1):
            x = x[:, :, ::sh, ::sw]
        return F.conv2d(x, self.weight, self.bias, (1, 1), (0, 0), self.dilation, self.groups)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or strided 1x1) shortcut, as in ResNet-18."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module
        if stride != 1 or cin != cout:
            pointwise = (
                PointwiseConv2d(cin, cout, stride)
                if stride != 1 and cin < SAFE_STRIDED_POINTWISE_CHANNELS
                else nn.Conv2d(cin, cout, 1, stride, bias=False)
            )
            self.shortcut = nn.Sequential(pointwise, nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Identity()
        # A separate (non-inplace) output ReLU so Grad-CAM hooks on the block see a clean tensor.
        self.relu2 = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class Head(nn.Module):
    """Global average pooling, optional dropout and the single tumour logit."""

    def __init__(self, cin: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(cin, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(x.mean(dim=(2, 3)))).squeeze(1)


class PatchNet(nn.Module):
    """Small ResNet-style CNN for 96x96 RGB patches; forward returns (N,) tumour logits."""

    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        self.config = config or NetConfig()
        layers: list[nn.Module] = []
        cin = 3
        for cout, stride in self.config.stem:
            layers.append(_conv_bn(cin, cout, stride))
            cin = cout
        self.stem = nn.Sequential(*layers)
        stages: list[nn.Module] = []
        for cout, blocks, stride in self.config.stages:
            blks: list[nn.Module] = []
            for j in range(blocks):
                blks.append(BasicBlock(cin, cout, stride if j == 0 else 1))
                cin = cout
            stages.append(nn.Sequential(*blks))
        self.stages = nn.Sequential(*stages)
        self.head = Head(cin, self.config.dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Zero-init the last BN of each residual branch: blocks start as identities.
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))

    def feature_sides(self, input_size: int = 96) -> dict[str, int]:
        """Spatial side of the output map of each stage and block conv for a square input."""
        side = input_size
        for _, stride in self.config.stem:
            side = (side + 2 - 3) // stride + 1
        sides: dict[str, int] = {"stem": side}
        for i, (_, blocks, stride) in enumerate(self.config.stages):
            side = (side + 2 - 3) // stride + 1
            for j in range(blocks):
                sides[f"stages.{i}.{j}.conv2"] = side
                sides[f"stages.{i}.{j}"] = side
            sides[f"stages.{i}"] = side
        return sides

    def last_conv_name(self) -> str:
        """Name of the last convolution in the network (deepest Grad-CAM candidate)."""
        i = len(self.config.stages) - 1
        j = self.config.stages[-1][1] - 1
        return f"stages.{i}.{j}.conv2"


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
