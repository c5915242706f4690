"""Grad-CAM family explanations for a one-logit tumour classifier, built on pytorch-grad-cam.

What the map shows
    The target is the class the model *predicts*: the tumour logit when P(tumour) >= 0.5
    (logit >= 0, since P = sigmoid(logit / T) with T > 0), its negation otherwise. A
    "normal" call therefore shows where the evidence *for normal* is (regions that push the
    logit down), not a faint or empty tumour map. ``target="tumour"`` / ``"normal"`` force
    one side. pytorch-grad-cam's own targets do not fit a single logit:
    ``ClassifierOutputTarget(0)`` always explains "tumour", softmax targets of one logit are
    constant (zero gradient: empty or NaN maps) and ``BinaryClassifierOutputTarget`` takes
    the *label* to explain rather than the prediction, so this module passes its own
    target, :class:`LogitTarget`.

Which layer
    Any module name from ``network.named_modules()``; the default comes from the model
    metadata (``classifier.cam_layers["default"]``). On a 96 x 96 patch the last conv
    layer of a small CNN is only 3 x 3 to 6 x 6: one cell then covers 16-32 pixels, the
    label-defining 32 x 32 centre is one or two cells and bilinear upsampling smears it
    over the border, so the map cannot say "inside vs just outside the centre". The
    default should be 12 x 12 or finer (8-pixel cells, the centre box is 4 x 4 cells),
    trading some class specificity for the localisation a reviewer needs.

What counts as no evidence
    The map is taken raw from the method (weighted activations before pytorch-grad-cam's
    ReLU and min-max scaling, see :mod:`pathview.explain.maps`). Non-finite, all-zero,
    all-negative and flat maps give ``status == ExplainStatus.NO_EVIDENCE`` with a reason
    and ``map is None``: the GUI draws nothing rather than noise or a solid colour.

Methods
    ``gradcam`` (default), ``gradcam++``, ``layercam`` and ``eigencam``. EigenCAM uses no
    gradients: it is class-agnostic (the first principal component of the activations,
    its arbitrary SVD sign fixed to agree with the mean activation), so its map is the same
    for either target and ``Explanation.class_specific`` is False.

Threading and model state
    Grad-CAM mutates the model (forward hooks, parameter ``.grad``). Each call holds
    :func:`model_lock` for the network, runs with gradients enabled even inside an outer
    ``torch.no_grad()`` / ``torch.inference_mode()``, removes its hooks and drops the
    parameter gradients before returning, so it is safe to call repeatedly and from
    several threads. Other code that runs the same network while an explanation may be in
    progress should hold :func:`model_lock` too (hooks see every forward pass; a stray pass
    is detected and raises rather than mixing activations).

Speed
    The backward pass stops at the chosen layer (its output is made a fresh graph root), so
    nothing below it is differentiated; pytorch-grad-cam itself is imported on first use
    (:func:`preload`). About 4 ms per patch single and 1.2 ms batched with the bundled
    model on a 2-core CPU (``benchmarks/bench_explain.py``).
"""

from __future__ import annotations

import enum
import math
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import torch
from torch import nn

from pathview.core import NATIVE_SIZE, CancelToken, ProgressFn
from pathview.explain.maps import centre_focus, check_raw_map, normalise_map

if TYPE_CHECKING:
    from pytorch_grad_cam.base_cam import BaseCAM

#: Method keys and their display names, in menu order.
METHODS: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "layercam": "LayerCAM",
    "eigencam": "EigenCAM",
}
DEFAULT_METHOD = "gradcam"

#: Finest-first rule for the fallback layer choice: the last layer with at least this side.
MIN_DEFAULT_SIDE = 12

Target = Literal["predicted", "tumour", "normal"]


class ExplainStatus(str, enum.Enum):
    """Whether an explanation has a map worth drawing."""

    OK = "ok"
    NO_EVIDENCE = "no localised evidence"


@dataclass(frozen=True, eq=False, slots=True)
class Explanation:
    """One patch's explanation.

    ``map``: H x W float32 in [0, 1] (0 = no evidence for ``target``), read-only, or None
    when ``status`` is NO_EVIDENCE (``reason`` says why). ``centre_focus``: share of the
    map's mass inside the central 32 x 32 box, None without a map. ``p_tumour`` is the
    calibrated probability, ``target`` the class explained ("tumour" / "normal"),
    ``map_side`` the (height, width) of the layer's map before upsampling.
    """

    map: np.ndarray | None
    status: ExplainStatus
    reason: str
    centre_focus: float | None
    p_tumour: float
    logit: float
    target: str
    method: str
    layer: str
    map_side: tuple[int, int]
    class_specific: bool

    @property
    def ok(self) -> bool:
        return self.status is ExplainStatus.OK


class ExplainableClassifier(Protocol):
    """What explain needs from :class:`pathview.model.Classifier`.

    Also read when present: ``cam_layers`` (``{"default": name, "candidates": {name:
    side}}``).
    """

    @property
    def network(self) -> nn.Module: ...

    @property
    def temperature(self) -> float:
        """The calibration temperature: P(tumour) = sigmoid(logit / temperature)."""
        ...

    def preprocess(self, pixels: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor: ...


class LogitTarget:
    """Grad-CAM target for one sample of a single-logit network: ``sign * logit``.

    ``sign`` +1 explains tumour, -1 explains normal, None follows the prediction (the sign
    of the logit itself, read without gradient, with logit >= 0 meaning tumour). Called by
    pytorch-grad-cam on one sample's output: a 0-d tensor or a 1-element vector.
    """

    def __init__(self, sign: float | None = None) -> None:
        if sign not in (None, 1.0, -1.0):
            raise ValueError(f"sign must be +1, -1 or None, got {sign}")
        self.sign = sign

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        if output.numel() != 1:
            raise ValueError(
                f"explanations need a single-logit network, got {output.numel()} outputs"
            )
        logit = output.reshape(())
        if self.sign is not None:
            return self.sign * logit
        return logit if bool(logit.detach() >= 0) else -logit


# --------------------------------------------------------------------------- locking

_locks: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def model_lock(network: nn.Module) -> threading.RLock:
    """The re-entrant lock that serialises hook-based work on ``network``."""
    with _locks_guard:
        lock = _locks.get(network)
        if lock is None:
            lock = _locks[network] = threading.RLock()
        return lock


# --------------------------------------------------------------------------- raw maps


class _RawMaps:
    """Mixin for pytorch-grad-cam classes: return the raw per-sample map of the one layer.

    ``BaseCAM.forward`` runs the hooked forward, the target's backward and then
    ``compute_cam_per_layer`` + ``aggregate_multi_layers``; overriding those two keeps the
    package's forward/backward and weighting while skipping its ReLU, resizing and min-max
    scaling, which would hide empty and flat maps.
    """

    target_layers: list[nn.Module]
    activations_and_grads: Any
    uses_gradients: bool
    reference_scale: np.ndarray

    def compute_cam_per_layer(
        self, input_tensor: torch.Tensor, targets: list[Any], eigen_smooth: bool
    ) -> list[np.ndarray]:
        acts = self.activations_and_grads.activations
        grads = self.activations_and_grads.gradients
        if len(acts) != 1:
            raise RuntimeError(
                f"the target layer produced {len(acts)} activations in one forward pass: it is "
                "called more than once per forward, or another thread ran the network "
                "without holding model_lock"
            )
        if self.uses_gradients and len(grads) != 1:
            raise RuntimeError("no gradient reached the target layer; is it after the logit?")
        a = acts[0].numpy()
        if a.ndim != 4:
            raise ValueError(f"the target layer must output N x C x H x W, got {a.shape}")
        g = grads[0].numpy() if self.uses_gradients else None
        cam = self.get_cam_image(  # type: ignore[attr-defined]
            input_tensor, self.target_layers[0], targets, a, g, eigen_smooth
        )
        cam = np.asarray(cam, dtype=np.float32)
        # Per-sample bound on |cam| from the layer's magnitudes, to tell float noise left
        # after cancellation from a real (if weak) map: sum_c max|A_c| * max|G_c|.
        scale = np.abs(a).max(axis=(2, 3))
        if g is not None:
            scale = scale * np.abs(g).max(axis=(2, 3))
        self.reference_scale = scale.astype(np.float64).sum(axis=1)
        if not self.uses_gradients:
            # The principal component's sign is arbitrary: point it along the mean activation.
            mean = a.mean(axis=1)
            mean = mean - mean.mean(axis=(1, 2), keepdims=True)
            flip = (cam * mean).sum(axis=(1, 2)) < 0
            cam[flip] *= -1.0
        return [cam]

    def aggregate_multi_layers(self, cam_per_target_layer: list[np.ndarray]) -> np.ndarray:
        return cam_per_target_layer[0]


@cache
def _cam_classes() -> dict[str, type[BaseCAM]]:
    """The method classes, built on first use: importing pytorch-grad-cam takes seconds
    (it pulls in OpenCV, scikit-learn and matplotlib.pyplot), which app start-up need not pay.
    """
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, LayerCAM

    bases = {
        "gradcam": GradCAM,
        "gradcam++": GradCAMPlusPlus,
        "layercam": LayerCAM,
        "eigencam": EigenCAM,
    }
    return {key: type(f"Raw{base.__name__}", (_RawMaps, base), {}) for key, base in bases.items()}


def preload() -> None:
    """Import pytorch-grad-cam now (about 2 s) rather than in the first explanation; call it
    on the model thread after loading a model if the first click should be quick."""
    _cam_classes()


def _target_sign(target: Target) -> float | None:
    if target == "predicted":
        return None
    if target == "tumour":
        return 1.0
    if target == "normal":
        return -1.0
    raise ValueError(f"target must be 'predicted', 'tumour' or 'normal', got {target!r}")


def _resolve_layer(network: nn.Module, layer: str) -> nn.Module:
    modules: dict[str, nn.Module] = dict(network.named_modules())
    module = modules.get(layer)
    if module is None or layer == "":
        raise ValueError(f"network has no layer {layer!r}")
    return module


def _sigmoid(z: float) -> float:
    """Logistic function without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


def _cut_graph_below(module: nn.Module, args: Any, output: Any) -> Any:
    """Forward hook: the layer's output as a fresh graph root (a non-leaf, so in-place ops
    that follow the layer still work)."""
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"the target layer must output a tensor, got {type(output).__name__}")
    return output.detach().requires_grad_(True).clone()


def explain_tensor(
    network: nn.Module,
    inputs: torch.Tensor,
    layer: str,
    *,
    method: str = DEFAULT_METHOD,
    target: Target = "predicted",
    temperature: float = 1.0,
) -> list[Explanation]:
    """Explain a batch of preprocessed inputs (N x C x H x W) of a single-logit network.

    The core of :func:`explain_batch`, free of any Classifier: ``layer`` is a name from
    ``network.named_modules()``. Maps are upsampled to the input's H x W. ``inputs`` may be
    an inference-mode tensor; it is cloned with autograd enabled.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    sign = _target_sign(target)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if inputs.ndim != 4:
        raise ValueError(f"expected N x C x H x W inputs, got shape {tuple(inputs.shape)}")
    module = _resolve_layer(network, layer)
    n, size = inputs.shape[0], (int(inputs.shape[2]), int(inputs.shape[3]))
    if n == 0:
        return []

    cam_class = _cam_classes()[method]
    with model_lock(network), torch.inference_mode(False), torch.enable_grad():
        device = next(network.parameters()).device
        # clone() outside inference mode turns an inference tensor into a normal one.
        x = inputs.detach().to(device).clone()
        # Registered before the CAM's own hooks, so they see its output: the backward pass
        # stops at the target layer (nothing below it is needed) and the graph exists even
        # when the weights are frozen. Same activations and gradients at the layer.
        cut = module.register_forward_hook(_cut_graph_below)
        try:
            cam = cam_class(model=network, target_layers=[module])
            # Not ``with cam:`` — BaseCAM.__exit__ prints and swallows IndexError, which
            # would turn a bug into a silent None. Same release, without the swallowing.
            try:
                raw = cam(x, targets=[LogitTarget(sign)] * n)
                reference = cam.reference_scale
                logits = cam.outputs.detach().reshape(n, -1)
            finally:
                cam.activations_and_grads.release()
                cam.outputs = None  # drops the retained autograd graph
        finally:
            cut.remove()
            network.zero_grad(set_to_none=True)
        if logits.shape[1] != 1:
            raise ValueError(f"explanations need a single-logit network, got {logits.shape[1]}")
        logits_np = logits[:, 0].double().cpu().numpy()

    results = []
    for i in range(n):
        logit = float(logits_np[i])
        p = _sigmoid(logit / temperature) if np.isfinite(logit) else float("nan")
        if sign is None:
            explained = "tumour" if logit >= 0 else "normal"
        else:
            explained = "tumour" if sign > 0 else "normal"
        reason = "non-finite model output" if not np.isfinite(logit) else ""
        reason = reason or check_raw_map(raw[i], float(reference[i])).reason
        heatmap = None if reason else normalise_map(raw[i], size)
        if heatmap is not None:
            heatmap.setflags(write=False)
        results.append(
            Explanation(
                map=heatmap,
                status=ExplainStatus.NO_EVIDENCE if reason else ExplainStatus.OK,
                reason=reason,
                centre_focus=centre_focus(heatmap),
                p_tumour=p,
                logit=logit,
                target=explained,
                method=method,
                layer=layer,
                map_side=(int(raw.shape[1]), int(raw.shape[2])),
                class_specific=method != "eigencam",
            )
        )
    return results


# --------------------------------------------------------------------------- layers


def probe_layer_sides(network: nn.Module, input_size: int = NATIVE_SIZE) -> dict[str, int]:
    """Output side on a square ``input_size`` input of every module with a 4-D output.

    In forward-completion order; modules called more than once per forward are left out
    (their hooks would see several tensors). Runs one zero input under the model lock.
    """
    sides: dict[str, int] = {}
    calls: dict[str, int] = {}

    def hook_for(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor) and output.ndim == 4:
                sides[name] = int(output.shape[-1])

        return hook

    with model_lock(network):
        device = next(network.parameters()).device
        handles = [
            m.register_forward_hook(hook_for(name)) for name, m in network.named_modules() if name
        ]
        try:
            with torch.inference_mode():
                network(torch.zeros(1, 3, input_size, input_size, device=device))
        finally:
            for h in handles:
                h.remove()
    return {name: side for name, side in sides.items() if calls[name] == 1}


def cam_layer_choices(classifier: ExplainableClassifier) -> dict[str, int]:
    """Selectable layers ``{name: map side on a 96 px patch}``, finest first.

    From ``classifier.cam_layers["candidates"]`` when the model names them, otherwise every
    probed layer of the network with an output side of at least 3.
    """
    cam_layers = getattr(classifier, "cam_layers", None) or {}
    candidates = cam_layers.get("candidates")
    if not candidates:
        candidates = {k: v for k, v in probe_layer_sides(classifier.network).items() if v >= 3}
    order = sorted(candidates.items(), key=lambda kv: -int(kv[1]))
    return {name: int(side) for name, side in order}


def default_cam_layer(classifier: ExplainableClassifier) -> str:
    """The layer explanations use unless told otherwise.

    ``classifier.cam_layers["default"]`` when the model metadata names one; otherwise the
    last layer (in forward order) whose map is at least :data:`MIN_DEFAULT_SIDE` wide on a
    96 px patch (see the module docstring for why not the last conv layer).
    """
    cam_layers = getattr(classifier, "cam_layers", None) or {}
    name = cam_layers.get("default")
    if name:
        return str(name)
    fine = [
        n for n, side in probe_layer_sides(classifier.network).items() if side >= MIN_DEFAULT_SIDE
    ]
    if not fine:
        raise ValueError(f"the network has no layer with a map of {MIN_DEFAULT_SIDE} px or more")
    return fine[-1]


# --------------------------------------------------------------------------- entry points


def explain_batch(
    classifier: ExplainableClassifier,
    pixels_batch: np.ndarray | Sequence[np.ndarray],
    *,
    method: str = DEFAULT_METHOD,
    layer: str | None = None,
    target: Target = "predicted",
    batch_size: int = 32,
    cancel: CancelToken | None = None,
    progress: ProgressFn | None = None,
) -> list[Explanation]:
    """Explain several patches (N x H x W x 3 uint8, or a sequence of H x W x 3 arrays).

    Works in chunks of ``batch_size`` (patches of different sizes are passed to
    ``classifier.preprocess`` as a list, which must bring them to one size), checks
    ``cancel`` and reports ``progress(done, total)`` after each chunk. P(tumour) uses the
    model's calibration temperature (``classifier.temperature``).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    layer_name = layer or default_cam_layer(classifier)
    temperature = float(classifier.temperature)
    total = len(pixels_batch)
    results: list[Explanation] = []
    for start in range(0, total, batch_size):
        if cancel is not None:
            cancel.raise_if_cancelled()
        part = pixels_batch[start : start + batch_size]
        if not isinstance(part, np.ndarray) and len({np.shape(p) for p in part}) == 1:
            part = np.stack([np.asarray(p) for p in part])
        # Mixed sizes go to preprocess as a list (Classifier fits each to the input size).
        inputs = classifier.preprocess(part)
        results.extend(
            explain_tensor(
                classifier.network,
                inputs,
                layer_name,
                method=method,
                target=target,
                temperature=temperature,
            )
        )
        if progress is not None:
            progress(len(results), total)
    return results


def explain_patch(
    classifier: ExplainableClassifier,
    pixels: np.ndarray,
    method: str = DEFAULT_METHOD,
    layer: str | None = None,
    target: Target = "predicted",
) -> Explanation:
    """Explain one H x W x 3 uint8 patch: the function the GUI calls.

    ``method`` is a key of :data:`METHODS`, ``layer`` a module name (default:
    :func:`default_cam_layer`), ``target`` "predicted" (default), "tumour" or "normal".
    Draw ``Explanation.map`` with :func:`pathview.explain.overlay_rgba` only when
    ``Explanation.ok``.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected H x W x 3 pixels, got shape {pixels.shape}")
    return explain_batch(classifier, pixels[None], method=method, layer=layer, target=target)[0]
