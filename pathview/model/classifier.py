"""Loading a model directory and running the classifier on patches.

Pure (no Qt); imports only torch, numpy and pathview.core. One :class:`Classifier` wraps the
network rebuilt from ``model.json``, its preprocessing (normalisation and resize policy read
from the metadata, never hard-coded) and the calibrated output P(tumour) =
sigmoid(logit / temperature).
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pathview.core.resources import bundled_model_dir
from pathview.model.bundle import (
    ModelLoadError,
    load_state_dict,
    read_metadata,
    verified_file,
    verified_weights_path,
)
from pathview.model.codec import InputCodec
from pathview.model.metadata import ModelMetadata
from pathview.model.network import BasicBlock, PatchNet
from pathview.model.quantised import INT8_WEIGHTS_FILE, int8_unavailable, load_int8, quiet
from pathview.model.runtime import tune_malloc

log = logging.getLogger(__name__)

#: Environment variable that points the app at another default model directory.
MODEL_DIR_ENV = "PATHVIEW_MODEL_DIR"
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
#: Number formats of scoring: "auto" = int8 on a CPU when the model directory has int8 weights
#: and this machine runs them, float32 otherwise.
PRECISION_CHOICES = ("auto", "float32", "int8")

#: The 8 views of test-time augmentation: k in 0..7 (bit 4 transpose, 2 flip H, 1 flip W).
TTA_VIEWS = tuple(range(8))


def default_model_dir() -> Path:
    """The bundled model (``pathview/resources/model/pcam-default``, installed with the
    package), unless the ``PATHVIEW_MODEL_DIR`` environment variable names another model
    directory."""
    override = os.environ.get(MODEL_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return bundled_model_dir()


def resolve_device(name: str = "auto") -> tuple[torch.device, str | None]:
    """Device for ``name`` ('auto' = CUDA, then MPS, then CPU) and a note when it fell back.

    A requested device that is not available falls back to the CPU; the note says why (the
    caller shows it; it is also logged as a warning). Raises ValueError for an unknown name.
    """
    name = (name or "auto").lower()
    if name not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if name == "auto":
        if cuda:
            return torch.device("cuda"), None
        if mps:
            return torch.device("mps"), None
        return torch.device("cpu"), None
    if name == "cuda" and not cuda:
        note = "CUDA was requested but is not available; using the CPU"
    elif name == "mps" and not mps:
        note = "MPS was requested but is not available; using the CPU"
    else:
        return torch.device(name), None
    log.warning(note)
    return torch.device("cpu"), note


def dihedral_view(x: torch.Tensor, k: int) -> torch.Tensor:
    """View ``k`` (0..7) of the 8 flips/rotations of an N x C x H x W batch (0 = identity)."""
    if k & 4:
        x = x.transpose(2, 3)
    if k & 2:
        x = x.flip(2)
    if k & 1:
        x = x.flip(3)
    return x


def fold_batchnorm(net: PatchNet) -> PatchNet:
    """A copy of an eval-mode network with every BatchNorm folded into the conv before it.

    Same outputs (to float rounding), about 10% faster on the CPU. Used for predict only:
    ``Classifier.network`` keeps the original modules for Grad-CAM and fine-tuning.
    """
    fast = copy.deepcopy(net).eval()

    def fuse(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
        assert bn.running_var is not None and bn.running_mean is not None
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv.weight = nn.Parameter(conv.weight * scale.reshape(-1, 1, 1, 1), requires_grad=False)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias, requires_grad=False)

    with torch.no_grad():
        for module in list(fast.modules()):
            if isinstance(module, BasicBlock):
                fuse(module.conv1, module.bn1)
                fuse(module.conv2, module.bn2)
                module.bn1, module.bn2 = nn.Identity(), nn.Identity()  # type: ignore[assignment]
                sc = module.shortcut
                if isinstance(sc, nn.Sequential):
                    conv, bn = sc[0], sc[1]
                    assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
                    fuse(conv, bn)
                    sc[1] = nn.Identity()
            elif (
                isinstance(module, nn.Sequential)
                and len(module) >= 2
                and isinstance(module[0], nn.Conv2d)
                and isinstance(module[1], nn.BatchNorm2d)
            ):
                fuse(module[0], module[1])
                module[1] = nn.Identity()
    return fast


@dataclass(frozen=True)
class Prediction:
    """Calibrated P(tumour) per patch; with TTA also the spread across the 8 views.

    ``p``: float32 (N,), the mean over the views of sigmoid(logit / temperature).
    ``spread``: float32 (N,), the standard deviation (population, ddof=0) of the 8 views'
    P(tumour) with TTA; None without. 0 means every flip/rotation agrees.
    ``views``: float32 (N, 8), each view's P(tumour) with TTA, columns in ``TTA_VIEWS``
    order (see :func:`dihedral_view`); None without. ``p`` and ``spread`` are its row mean and
    standard deviation. A patch whose views fall on both sides of a threshold is unstable.
    ``features``: float32 (N, C) when asked for: the penultimate-layer features (the pooled
    map the final linear layer reads, C = the last stage's channels) from the same forward
    pass as ``p``; with TTA the mean over the 8 views. None otherwise.
    """

    p: np.ndarray
    spread: np.ndarray | None = None
    views: np.ndarray | None = None
    features: np.ndarray | None = None


#: Name of the final linear layer in :class:`PatchNet` and in its int8 graph; its input is the
#: penultimate-layer feature vector.
FEATURE_LAYER = "head.fc"


class _FeatureTap:
    """A forward pre-hook on the final linear layer that records its input (the embedding)
    while a thread has asked for it, and does nothing otherwise.

    The hook is installed once and reads a per-thread switch, so a forward pass is unchanged
    (bit for bit) whether or not features are taken, and two threads sharing one classifier
    never see each other's features.
    """

    def __init__(self, network: nn.Module) -> None:
        layer = dict(network.named_modules()).get(FEATURE_LAYER)
        if layer is None:
            raise ValueError(f"the network has no {FEATURE_LAYER!r} layer to take features from")
        self._local = threading.local()
        layer.register_forward_pre_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        taken: list[torch.Tensor] | None = getattr(self._local, "taken", None)
        if taken is not None:
            x = inputs[0]
            taken.append(x.dequantize() if x.is_quantized else x)

    def start(self) -> list[torch.Tensor]:
        """Begin recording in this thread; returns the list the inputs are appended to."""
        taken: list[torch.Tensor] = []
        self._local.taken = taken
        return taken

    def stop(self) -> None:
        self._local.taken = None


class Classifier:
    """A loaded model: network, metadata and the preprocessing the metadata prescribes."""

    def __init__(
        self,
        network: PatchNet,
        metadata: ModelMetadata,
        device: torch.device,
        model_dir: Path | None = None,
        device_note: str | None = None,
        int8: nn.Module | None = None,
        precision_note: str | None = None,
    ) -> None:
        self.metadata = metadata
        self.model_dir = model_dir
        self.model_id: str = metadata.model_id
        self.device = device
        #: Why the device is not the one asked for (None when it is).
        self.device_note = device_note
        self.cam_layers: dict[str, Any] = metadata.cam_layers.as_dict()
        self.temperature = float(metadata.temperature)
        self.input_size = metadata.input_size
        self.resize_policy = metadata.resize_policy
        #: The codec every input goes through before normalisation (None: none); see
        #: :mod:`pathview.model.codec`.
        self.codec: InputCodec | None = metadata.codec
        norm = metadata.normalisation
        mean = torch.tensor(norm.mean, dtype=torch.float32, device=device)
        std = torch.tensor(norm.std, dtype=torch.float32, device=device)
        # (pixels / 255 - mean) / std == pixels * scale + shift, per channel, one pass in
        # _to_tensor.
        self._scale = 1.0 / (255.0 * std)
        self._shift = -mean / std
        self.network: nn.Module = network.eval().to(device).to(memory_format=torch.channels_last)
        if int8 is not None and device.type != "cpu":
            raise ValueError("the int8 network runs on the CPU only")
        #: The number format :meth:`predict` scores in: "int8" or "float32". Grad-CAM
        #: (:meth:`logits`) always uses the float32 network.
        self.precision = "int8" if int8 is not None else "float32"
        #: Why the precision is not the one asked for (None when it is).
        self.precision_note = precision_note
        self._fast: nn.Module = (
            int8
            if int8 is not None
            else fold_batchnorm(network).to(device).to(memory_format=torch.channels_last)
        )
        self._tap = _FeatureTap(self._fast)

    def __repr__(self) -> str:
        return (
            f"Classifier({self.metadata.name!r}, {self.model_id[:12]}, {self.device}, "
            f"{self.precision})"
        )

    # -------------------------------------------------------------- preprocessing

    def _fit_size(self, x: torch.Tensor) -> torch.Tensor:
        """Bring an N x 3 x H x W float batch to input_size x input_size per resize_policy."""
        s = self.input_size
        h, w = x.shape[-2:]
        if (h, w) == (s, s):
            return x
        if self.resize_policy == "centre_crop":
            top, left = max(0, (h - s) // 2), max(0, (w - s) // 2)
            x = x[..., top : top + min(h, s), left : left + min(w, s)]
            if x.shape[-2:] == (s, s):
                return x
        # "resize", or a side shorter than the input: nothing to crop, so scale it.
        return F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)

    def preprocess(
        self, pixels: np.ndarray | Sequence[np.ndarray], encoded: bool = False
    ) -> torch.Tensor:
        """uint8 RGB N x H x W x 3 (or one H x W x 3, or a list of differently sized ones) ->
        normalised float N x 3 x S x S on the device, channels_last, S = input_size.

        Patches of another size are centre-cropped (``resize_policy`` "centre_crop": larger
        patches keep the training magnification; a side shorter than S is resized up) or
        resized (``"resize"``), bilinear with antialiasing. (Normalising first and resizing
        after is the same: the per-channel normalisation is affine and interpolation weights
        sum to one.) A model with an input codec (:attr:`codec`) sends each S x S patch through
        it (a resized one rounded to uint8 first, as a stored patch would be) before
        normalising. ``encoded``: the pixels come from :meth:`encode_inputs` already (the
        codec is not applied again).
        """
        if isinstance(pixels, np.ndarray):
            arr = pixels[None] if pixels.ndim == 3 else pixels
            if arr.ndim != 4 or arr.shape[-1] != 3:
                raise ValueError(f"expected N x H x W x 3 RGB pixels, got shape {pixels.shape}")
            arrays = [arr]
        else:
            arrays = [np.asarray(p)[None] for p in pixels]
            if not arrays:
                raise ValueError("no patches given")
        if self.codec is not None and not encoded:
            coded = [self._codec_input(a) for a in arrays]
            x = self._to_tensor(coded[0] if len(coded) == 1 else np.concatenate(coded))
            return x.contiguous(memory_format=torch.channels_last)
        parts = [self._to_tensor(a) for a in arrays]
        x = torch.cat([self._fit_size(p) for p in parts]) if len(parts) > 1 else parts[0]
        x = self._fit_size(x)
        return x.contiguous(memory_format=torch.channels_last)

    def encode_inputs(self, pixels: np.ndarray, threads: int | None = 1) -> np.ndarray:
        """The uint8 patches the network is fed, before normalisation: with an input codec
        (:attr:`codec`) uint8 N x H x W x 3 patches of one size -> N x S x S x 3 after the
        resize policy and the codec, exactly as :meth:`predict` would apply them; without
        one the pixels as they are. ``predict(..., encoded=True)`` then skips that step, so
        the scoring loop runs it in its decoding threads (``threads`` codec threads: 1, the
        calling thread) while the network scores the batch before."""
        arr = np.asarray(pixels)
        if self.codec is None:
            return arr
        if arr.ndim != 4:
            raise ValueError(f"expected N x H x W x 3 RGB pixels, got shape {arr.shape}")
        return self._codec_input(arr, threads)

    def _codec_input(self, arr: np.ndarray, threads: int | None = None) -> np.ndarray:
        """uint8 N x H x W x 3 -> uint8 N x S x S x 3 after the resize policy and the codec."""
        _check_pixels(arr)
        assert self.codec is not None
        s = self.input_size
        if arr.shape[1:3] != (s, s):
            raw = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float()
            sized = self._fit_size(raw)
            arr = sized.round().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        return self.codec.apply(arr, threads)

    def _to_tensor(self, arr: np.ndarray) -> torch.Tensor:
        """uint8 N x H x W x 3 -> normalised float N x 3 x H x W: (pixels / 255 - mean) / std
        in one pass over the floats (``pixels * scale + shift``)."""
        _check_pixels(arr)
        arr = np.ascontiguousarray(arr)
        if not arr.flags.writeable:  # e.g. pixels straight from PIL; torch wants writable memory
            arr = arr.copy()
        t = torch.from_numpy(arr).to(self.device, non_blocking=True)
        n, h, w, _ = arr.shape
        # The uint8 -> float copy (N x H x W x 3, which is channels_last N x 3 x H x W) is
        # normalised in place one image row at a time against a scale and shift repeated to
        # the row's W x 3 values: the same values bit for bit as broadcasting the 3
        # channels, but the innermost loop runs over a contiguous row instead of 3 values
        # (on one CPU thread 19 against 71 us a 96 x 96 patch, float copy included).
        x = t.float()
        rows = x.view(n * h, w * 3)
        torch.addcmul(self._shift.repeat(w), rows, self._scale.repeat(w), out=rows)
        return x.permute(0, 3, 1, 2)

    # -------------------------------------------------------------- inference

    def logits(self, tensor: torch.Tensor) -> torch.Tensor:
        """Raw tumour logits (N,) of a preprocessed batch through :attr:`network`.

        Not temperature-scaled and not under inference_mode, so gradients flow (Grad-CAM).
        """
        return self.network(tensor)

    def predict(
        self,
        pixels: np.ndarray | Sequence[np.ndarray],
        tta: bool = False,
        batch_size: int = 256,
        features: bool = False,
        encoded: bool = False,
    ) -> Prediction:
        """Calibrated P(tumour) of each patch; with ``tta`` the mean and spread over the 8
        flips/rotations and each view's value; with ``features`` also the penultimate-layer
        features of the same forward passes (the mean over the views with ``tta``); see
        :class:`Prediction`. ``p`` is bit for bit the same with and without ``features``.
        ``encoded``: ``pixels`` come from :meth:`encode_inputs` (the same P, bit for bit)."""
        x_all = self.preprocess(pixels, encoded=encoded)
        n = x_all.shape[0]
        probs: list[torch.Tensor] = []
        spreads: list[torch.Tensor] = []
        per_view: list[torch.Tensor] = []
        taken = self._tap.start() if features else None
        try:
            with torch.inference_mode():
                for start in range(0, n, max(1, batch_size)):
                    x = x_all[start : start + batch_size]
                    if tta:
                        views = torch.stack(
                            [
                                self._prob(
                                    dihedral_view(x, k).contiguous(
                                        memory_format=torch.channels_last
                                    )
                                )
                                for k in TTA_VIEWS
                            ]
                        )
                        probs.append(views.mean(0))
                        spreads.append(views.std(0, correction=0))
                        per_view.append(views.T)
                        if taken is not None:  # the 8 views' features of this batch -> mean
                            taken[-len(TTA_VIEWS) :] = [
                                torch.stack(taken[-len(TTA_VIEWS) :]).float().mean(0)
                            ]
                    else:
                        probs.append(self._prob(x))
        finally:
            if taken is not None:
                self._tap.stop()
        p = torch.cat(probs).float().cpu().numpy()
        feats = None
        if taken is not None:
            feats = np.ascontiguousarray(torch.cat(taken).float().cpu().numpy())
        if not tta:
            return Prediction(p, features=feats)
        spread = torch.cat(spreads).float().cpu().numpy()
        view_p = np.ascontiguousarray(torch.cat(per_view).float().cpu().numpy())
        return Prediction(p, spread, view_p, feats)

    def _prob(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self._fast(x).float() / self.temperature)


def _check_pixels(arr: np.ndarray) -> None:
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected H x W x 3 RGB pixels, got shape {arr.shape[1:]}")
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {arr.dtype}")


def load_model(
    model_dir: Path | None = None, device: str = "auto", precision: str = "auto"
) -> Classifier:
    """Load a model directory (default: :func:`default_model_dir`) onto ``device``.

    Checks the weights' sha256 against model.json; raises ModelLoadError (with the path and
    the reason) for a missing directory, file or key, a checksum mismatch or weights that do
    not fit the architecture. ``device`` is 'auto', 'cpu', 'cuda' or 'mps'; an unavailable
    one falls back to the CPU with a logged warning (``Classifier.device_note``).

    ``precision`` ('auto', 'float32' or 'int8', see :data:`PRECISION_CHOICES`): 'auto' scores
    with the directory's int8 weights on a CPU that runs them, float32 otherwise; where int8
    cannot be used (another device, no or damaged int8 weights, no x86 int8 kernels) the
    classifier keeps float32 and ``Classifier.precision_note`` says why.
    """
    tune_malloc()
    precision = (precision or "auto").lower()
    if precision not in PRECISION_CHOICES:
        raise ValueError(
            f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_CHOICES)}"
        )
    directory = Path(model_dir) if model_dir is not None else default_model_dir()
    meta = read_metadata(directory)  # validated: architecture, codec, every type
    weights = verified_weights_path(directory, meta)
    network = PatchNet(meta.architecture.config)
    try:
        network.load_state_dict(load_state_dict(weights))
    except RuntimeError as exc:
        raise ModelLoadError(f"weights in {weights} do not fit the architecture: {exc}") from exc
    torch_device, note = resolve_device(device)
    int8, precision_note = _int8_network(directory, meta, network, torch_device, precision)
    return Classifier(network, meta, torch_device, directory, note, int8, precision_note)


def _int8_network(
    directory: Path, meta: ModelMetadata, network: PatchNet, device: torch.device, precision: str
) -> tuple[nn.Module | None, str | None]:
    """The int8 network to score with (None: float32) and, when int8 was asked for
    explicitly or is damaged, the reason it is not used."""
    if precision == "float32":
        return None, None
    explicit = precision == "int8"
    record = meta.int8
    reason: str | None = None
    if device.type != "cpu":
        reason = f"int8 runs on the CPU only; scoring in float32 on {device.type}"
    elif record is None:
        reason = f"{directory} has no int8 weights; scoring in float32"
    elif record.source_sha256 != meta.model_id:
        reason = f"the int8 weights in {directory} were made from other weights; scoring in float32"
        explicit = True  # a stale record is worth a warning even under 'auto'
    else:
        reason = int8_unavailable()
        if reason is not None:
            reason = f"{reason}; scoring in float32"
    if reason is not None:
        if explicit:
            log.warning(reason)
            return None, reason
        log.info(reason)
        return None, None
    assert record is not None
    try:
        path = verified_file(directory, record, INT8_WEIGHTS_FILE)
        with quiet():
            state = load_state_dict(path)
        int8 = load_int8(network, state, meta.input_size)
    except (ModelLoadError, ValueError) as exc:
        reason = f"int8 weights unusable ({exc}); scoring in float32"
        log.warning(reason)
        return None, reason
    return int8, None
