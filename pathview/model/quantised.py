"""int8 inference on x86 CPUs: a model directory's optional post-training-quantised weights.

A model directory may carry, next to its float32 ``weights.pt``, an int8 version of the same
network (``weights-int8.pt``) made by post-training static quantisation: torch.ao's FX graph
mode with the x86 backend's default settings (per-channel int8 weights, uint8 activations
whose ranges were observed on real patches). Its own sha256, how it was made and what it
measured are recorded under ``model.json["int8"]``. On a CPU it scores about three times as
fast as float32 with P(tumour) moving by a few thousandths.

Loading re-creates the quantised graph from the architecture (``prepare_fx`` + ``convert_fx``
without observing anything) and then loads the stored scales, zero points and int8 weights
into it, so no calibration data is needed at run time and the result is bit-identical to the
network that was measured. Grad-CAM always runs on the float32 network: it needs gradients.

Everything here is optional: where the x86 int8 kernels or ``torch.ao.quantization`` are
missing, :func:`int8_unavailable` says why and the caller keeps float32.
"""

from __future__ import annotations

import copy
import importlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.fx import GraphModule

from pathview.model.network import PointwiseConv2d

#: The quantised engine the int8 weights are made for (oneDNN/FBGEMM kernels on x86 CPUs).
INT8_ENGINE = "x86"
INT8_WEIGHTS_FILE = "weights-int8.pt"
INT8_METHOD = (
    "post-training static quantisation: torch.ao.quantization FX graph mode, "
    "get_default_qconfig_mapping('x86') (int8 per-channel weights, uint8 activations), "
    "batch norms fused into the convolutions"
)


def int8_unavailable() -> str | None:
    """None when this machine can run the int8 network, else the reason it cannot."""
    if INT8_ENGINE not in torch.backends.quantized.supported_engines:
        return f"this torch build has no {INT8_ENGINE!r} quantised engine (an x86 CPU feature)"
    try:
        with quiet():
            importlib.import_module("torch.ao.quantization.quantize_fx")
    except ImportError as exc:  # removed from a future torch
        return f"torch.ao.quantization is not available: {exc}"
    return None


@contextmanager
def quiet() -> Iterator[None]:
    """Silence torch.ao's deprecation notices (also raised when int8 tensors are loaded) and
    the observers' set-up warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextmanager
def _without_stack_traces() -> Iterator[None]:
    """Trace without recording each graph node's Python stack: the quantisation tracer
    records them by default, and symbolising them cost about 3 s of every first load (the
    stacks only serve debugging). Older torch versions have no such switch."""
    config: Any = importlib.import_module("torch.fx.config")
    before = getattr(config, "do_not_emit_stack_traces", None)
    if before is None:
        yield
        return
    config.do_not_emit_stack_traces = True
    try:
        yield
    finally:
        config.do_not_emit_stack_traces = before


def _with_plain_pointwise(net: nn.Module) -> nn.Module:
    """``net`` with each :class:`~pathview.model.network.PointwiseConv2d` replaced, in place,
    by the ``nn.Conv2d`` it equals (same weights): FX quantises plain convolutions only, and
    the oneDNN fault that module avoids is in the backward pass, which int8 never runs."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, PointwiseConv2d):
                plain = nn.Conv2d(
                    child.in_channels,
                    child.out_channels,
                    1,
                    stride=(child.stride[0], child.stride[1]),
                    dilation=(child.dilation[0], child.dilation[1]),
                    groups=child.groups,
                    bias=child.bias is not None,
                )
                plain.load_state_dict(child.state_dict())
                plain.train(child.training)
                setattr(parent, name, plain)
    return net


def _prepared(network: nn.Module, example: torch.Tensor) -> GraphModule:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_fx

    torch.backends.quantized.engine = INT8_ENGINE
    net = _with_plain_pointwise(copy.deepcopy(network).cpu().eval())
    with _without_stack_traces():
        return prepare_fx(net, get_default_qconfig_mapping(INT8_ENGINE), (example,))


def _example(input_size: int) -> torch.Tensor:
    return torch.zeros(1, 3, input_size, input_size).contiguous(memory_format=torch.channels_last)


def quantise(network: nn.Module, calibration: torch.Tensor, batch_size: int = 64) -> nn.Module:
    """The int8 version of an eval-mode float network, its activation ranges observed on
    ``calibration`` (normalised N x 3 x S x S patches, the more typical the better)."""
    if calibration.ndim != 4 or calibration.shape[0] == 0:
        raise ValueError(
            f"calibration must be a non-empty N x 3 x H x W batch, not {calibration.shape}"
        )
    from torch.ao.quantization.quantize_fx import convert_fx

    with quiet():
        prepared = _prepared(network, calibration[:1])
        with torch.inference_mode():
            for start in range(0, calibration.shape[0], batch_size):
                prepared(calibration[start : start + batch_size].cpu())
        return convert_fx(prepared)


def int8_state_dict(quantised: nn.Module) -> dict[str, Any]:
    """What :func:`load_int8` needs back: the quantised network's state_dict, kept as the
    OrderedDict torch returns (its ``_metadata`` holds the module versions that quantised
    layers read when loading)."""
    return quantised.state_dict()


def load_int8(network: nn.Module, state: dict[str, Any], input_size: int) -> nn.Module:
    """Rebuild the int8 network of ``network`` (its architecture; its float weights are not
    used) and load the stored int8 state into it. Raises ValueError when they do not fit."""
    from torch.ao.quantization.quantize_fx import convert_fx

    with quiet():
        skeleton = convert_fx(_prepared(network, _example(input_size)))
        try:
            skeleton.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"int8 weights do not fit the architecture: {exc}") from exc
    return skeleton.eval()
