"""Train the patch classifier from scratch (or from a parent model) and export a model directory.

Usage (the bundled model; its exact command is in
pathview/resources/model/pcam-default/MODEL_CARD.md)::

    python -m pathview.training.train --images DIR --labels CSV [--images DIR2 --labels CSV2 ...] \
        --holdout-split valid --run-dir runs/NAME --export pathview/resources/model/NAME

Steps: decode every patch once into memory; hold out part of it (the CSV's ``split`` column or
a seeded fraction) for checkpoint selection and temperature scaling; train with device-side
augmentation (training/augment.py), AdamW, warm-up + cosine learning rate and an EMA of the
weights; fit the temperature on the held-out logits; optionally evaluate on a separate
validation folder that is never trained on; export weights + model.json.

The run folder gets ``args.json``, ``train.log`` (the logging module's output), ``history.jsonl``
(one JSON line of metrics per epoch) and the exported model. The pieces (``build_parser`` and
its argument groups, ``load_data``, ``train_model``, ``predict_logits``, ``model_metadata``,
``export_model``) are plain functions that ``training/retrain.py`` (fine-tuning on reviews)
reuses: ``train_model`` also takes per-sample loss weights, a checkpoint/resume state, progress
and stop hooks (:class:`TrainHooks`) and a rank (:mod:`pathview.training.distributed`) for torchrun.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import logging
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pathview.core import CancelToken
from pathview.model import dihedral_view
from pathview.model.bundle import read_metadata, verified_weights_path, write_model_dir
from pathview.model.codec import InputCodec
from pathview.model.metadata import (
    FORMAT_VERSION,
    Architecture,
    Calibration,
    CamLayers,
    CodecRecord,
    ModelMetadata,
    Normalisation,
    ParentModel,
    TeacherModel,
    TeacherRecord,
    TrainingRecord,
    TrainingSummary,
)
from pathview.model.network import NetConfig, PatchNet, count_parameters
from pathview.model.runtime import tune_malloc
from pathview.stats import fit_platt, fit_temperature, sigmoid, summarise
from pathview.training.augment import AugmentConfig, Augmenter
from pathview.training.checkpoint import capture_rng, restore_rng
from pathview.training.data import PatchSet, channel_stats, holdout_mask, load_folder, through_codec
from pathview.training.distributed import Rank
from pathview.training.progress import StepInfo

log = logging.getLogger("pathview.training")

#: Named architectures (NetConfig); the exported metadata stores the full config either way.
ARCHITECTURES: dict[str, NetConfig] = {
    # ~0.68M parameters, ~52M multiply-adds: > 2,000 patches/s on a 2-core CPU.
    "pv-small": NetConfig(stem=((16, 2), (32, 2)), stages=((32, 1, 1), (64, 2, 2), (128, 2, 2))),
    # Same cost, but a single strided stem conv and a strided first residual stage: the
    # 48 x 48 stem output keeps more nuclear detail than pv-small's two strided convs.
    "pv-compact": NetConfig(stem=((24, 2),), stages=((32, 1, 2), (64, 2, 2), (128, 2, 2))),
    # ~1.56M parameters, ~2.5x pv-small's cost: a teacher that still trains on a 2-core CPU
    # (24 epochs of the PCam JPEG patches in 40 minutes), too slow in fp32 for the scoring target.
    "pv-wide": NetConfig(stem=((16, 2), (32, 2)), stages=((48, 2, 1), (96, 2, 2), (192, 2, 2))),
    # A wider, deeper net for use as a distillation teacher (too slow for the CPU target).
    "pv-teacher": NetConfig(
        stem=((32, 1), (64, 2)), stages=((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 1, 2))
    ),
    # ~5k parameters: for tests and smoke runs of the training scripts only.
    "pv-tiny": NetConfig(stem=((8, 2),), stages=((8, 1, 1), (16, 1, 2))),
}


# ----------------------------------------------------------------------------- arguments


def build_parser() -> argparse.ArgumentParser:
    """The command line, in argument groups a fine-tuning script can extend."""
    p = argparse.ArgumentParser(
        prog="python -m pathview.training.train", description=__doc__.split("\n")[0]
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--images",
        action="append",
        required=True,
        type=Path,
        help="image folder (repeatable, paired with --labels)",
    )
    g.add_argument(
        "--labels",
        action="append",
        required=True,
        type=Path,
        help="labels CSV id,label[,split] for the matching --images",
    )
    g.add_argument(
        "--holdout-split",
        default="valid",
        help="CSV split value held out for checkpoint selection + temperature",
    )
    g.add_argument(
        "--holdout-split-fraction",
        type=float,
        default=1.0,
        help="seeded fraction of --holdout-split held out (the rest is trained on)",
    )
    g.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.1,
        help="seeded random held-out fraction when no split column matches",
    )
    g.add_argument("--val-images", type=Path, help="validation folder, never trained on")
    g.add_argument("--val-labels", type=Path, help="labels CSV of --val-images")
    g.add_argument("--limit", type=int, help="use a seeded random subset (smoke runs)")
    g.add_argument("--decode-workers", type=int, default=min(16, os.cpu_count() or 1))
    g = p.add_argument_group("model")
    g.add_argument("--arch", default="pv-small", choices=sorted(ARCHITECTURES))
    g.add_argument("--dropout", type=float, default=0.0)
    g.add_argument(
        "--input-jpeg-quality",
        type=int,
        metavar="Q",
        help="send every patch through JPEG at quality Q (4:2:0) before normalisation, in "
        "training and, recorded in the model, whenever it scores: give the quality the "
        "training files were saved at, so lossless inputs carry the same artefacts (default: "
        "the --parent / --init-from model's codec, else none)",
    )
    g.add_argument(
        "--calibration",
        choices=CALIBRATION_METHODS,
        default="platt",
        help="post-hoc calibration fitted on the held-out patches: platt (scale + offset; the "
        "offset is folded into the last layer's bias) or temperature (scale only)",
    )
    g.add_argument(
        "--prevalence",
        type=float,
        help="tumour prevalence the probabilities are calibrated for (after the calibration "
        "on the held-out patches, the prior is shifted from theirs to this; default: theirs)",
    )
    g.add_argument(
        "--prevalence-source",
        default="given on the command line",
        help="where --prevalence comes from (recorded in the metadata)",
    )
    g.add_argument("--parent", type=Path, help="model directory to start from (fine-tuning)")
    g.add_argument(
        "--init-from",
        type=Path,
        help="earlier run's model directory whose weights initialise training (a second "
        "stage of the same from-scratch training; recorded, but not as a parent model)",
    )
    g.add_argument(
        "--teacher",
        type=Path,
        action="append",
        help="model directory to distil from (repeatable: the targets are the teachers' mean)",
    )
    g.add_argument(
        "--distill-weight",
        type=float,
        default=0.5,
        help="weight of the teacher's soft targets in the loss (with --teacher)",
    )
    g.add_argument(
        "--teacher-tta",
        action="store_true",
        help="targets: each training patch's mean P(tumour) over the 8 flips/rotations and the "
        "teachers, computed once before training (no teacher pass per step; without colour "
        "jitter); default: the teachers' P(tumour) of every augmented batch",
    )
    add_optimisation_args(p)
    add_augmentation_args(p)
    g = p.add_argument_group("run")
    g.add_argument("--run-dir", type=Path, required=True)
    g.add_argument("--export", type=Path, help="model directory to write (default RUN/model)")
    g.add_argument("--name", default="pcam-default")
    g.add_argument("--seed", type=int, default=0, help="seeds everything, the hold-out included")
    g.add_argument(
        "--init-seed",
        type=int,
        help="seed of the fresh weights and of the augmentation stream (default --seed): "
        "independent runs on the same hold-out",
    )
    g.add_argument("--device", default="auto", help="auto|cpu|cuda|mps")
    g.add_argument("--threads", type=int, help="torch CPU threads")
    return p


def add_optimisation_args(
    p: argparse.ArgumentParser,
    epochs: int | None = 30,
    lr: float | None = 2e-3,
    warmup_epochs: float | None = 1.0,
) -> argparse._ArgumentGroup:
    """The "optimisation" argument group (read by :meth:`TrainConfig.from_args`); a default of
    None lets the caller fill it in after parsing (fine-tuning and training from scratch want
    different ones)."""
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=epochs)
    g.add_argument(
        "--max-minutes",
        type=float,
        help="shorten the schedule after epoch 1 so training ends within this time",
    )
    g.add_argument("--batch-size", type=int, default=256, help="global batch (all processes)")
    g.add_argument("--lr", type=float, default=lr)
    g.add_argument("--weight-decay", type=float, default=0.05)
    g.add_argument("--warmup-epochs", type=float, default=warmup_epochs)
    g.add_argument("--label-smoothing", type=float, default=0.0)
    g.add_argument("--ema-decay", type=float, default=0.999)
    g.add_argument("--eval-every", type=int, default=1, help="epochs between held-out evals")
    return g


def add_augmentation_args(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The "augmentation" argument group (read by :meth:`TrainConfig.from_args`)."""
    g = p.add_argument_group("augmentation")
    g.add_argument("--no-dihedral", action="store_true", help="turn off the 8 flips/rotations")
    g.add_argument(
        "--shift",
        type=int,
        default=0,
        help="largest random translation in pixels per axis (mirrored edges; 0: none)",
    )
    g.add_argument("--stain-sigma", type=float, default=0.04)
    g.add_argument("--brightness", type=float, default=0.1)
    g.add_argument("--contrast", type=float, default=0.1)
    g.add_argument("--saturation", type=float, default=0.1)
    g.add_argument("--hue", type=float, default=0.03)
    g.add_argument(
        "--jpeg-prob",
        type=float,
        default=0.0,
        help="fraction of patches re-encoded as JPEG per batch",
    )
    g.add_argument("--jpeg-quality", type=int, nargs=2, default=(60, 95))
    return g


# ----------------------------------------------------------------------------- set-up


def setup_run(args: argparse.Namespace) -> torch.device:
    """Create the run folder, log to it, save the arguments, seed everything, pick a device."""
    args.run_dir.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [
        logging.FileHandler(args.run_dir / "train.log", encoding="utf-8"),
        logging.StreamHandler(sys.stderr),
    ]
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    (args.run_dir / "args.json").write_text(
        json.dumps(vars(args), indent=2, default=str) + "\n", encoding="utf-8"
    )
    log.info("arguments: %s", json.dumps(vars(args), default=str))
    seed_everything(args.seed)
    tune_malloc()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    log.info("device %s, torch %s, python %s", device, torch.__version__, platform.python_version())
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    """'auto' picks CUDA, then MPS, then CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


# ----------------------------------------------------------------------------- data


@dataclass
class Data:
    """Training, held-out and (optional) validation patches plus the normalisation."""

    train: PatchSet
    holdout: PatchSet
    val: PatchSet | None
    mean: list[float]
    std: list[float]
    #: The input codec every set went through (:func:`input_codec`); None: none.
    codec: InputCodec | None = None


def input_codec(args: argparse.Namespace) -> InputCodec | None:
    """The input codec of the model being trained: ``--input-jpeg-quality`` when given,
    otherwise the one of the model it starts from (``--parent`` or ``--init-from``)."""
    quality = getattr(args, "input_jpeg_quality", None)
    if quality is not None:
        return InputCodec(quality=int(quality))
    for start in (getattr(args, "parent", None), getattr(args, "init_from", None)):
        if start is not None:
            return read_metadata(start).codec
    return None


def load_data(args: argparse.Namespace) -> Data:
    """Decode the sources, split off the held-out part, compute the normalisation.

    With an input codec (:func:`input_codec`) every set goes through it once here: training,
    held-out and validation patches are then what the classifier sees when it scores.
    """
    if len(args.images) != len(args.labels):
        raise SystemExit("give one --labels per --images")
    t0 = time.perf_counter()
    parts = [
        load_folder(img, lab, args.decode_workers, args.limit, args.seed)
        for img, lab in zip(args.images, args.labels, strict=True)
    ]
    data = PatchSet.concat(parts)
    mask = holdout_mask(
        data, args.holdout_split, args.holdout_fraction, args.seed, args.holdout_split_fraction
    )
    codec = input_codec(args)
    if codec is not None:
        log.info("input codec %s: every patch is encoded and decoded once", codec.describe())
        data.pixels = through_codec(data.pixels, codec)
    train, holdout = data.subset(~mask), data.subset(mask)
    val = None
    if args.val_images is not None:
        if args.val_labels is None:
            raise SystemExit("--val-images needs --val-labels")
        val = load_folder(args.val_images, args.val_labels, args.decode_workers)
        overlap = set(val.ids) & set(data.ids)
        if overlap:
            raise SystemExit(f"{len(overlap)} validation ids are also training ids")
        val.pixels = through_codec(val.pixels, codec)
    mean, std = channel_stats(train.pixels)
    log.info(
        "decoded in %.1fs: train %d (%d tumour), held-out %d, validation %s; mean %s std %s",
        time.perf_counter() - t0,
        len(train),
        int(train.labels.sum()),
        len(holdout),
        len(val) if val else "none",
        mean,
        std,
    )
    return Data(train, holdout, val, mean, std, codec)


def to_input(
    u8: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    augment: Augmenter | None = None,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """N x H x W x 3 uint8 (on the device) -> normalised channels_last float N x 3 x H x W."""
    x = u8.permute(0, 3, 1, 2).float().div_(255.0)
    if augment is not None:
        x = augment(x, gen)
    x = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    return x.contiguous(memory_format=torch.channels_last)


# ----------------------------------------------------------------------------- model


def build_model(args: argparse.Namespace) -> PatchNet:
    """A fresh network of ``--arch``, or the parent model's network with its weights."""
    if args.parent is not None:
        net, _ = load_network(args.parent)
        return net
    if args.init_from is not None:
        net, _ = load_network(args.init_from)
        return net
    cfg = ARCHITECTURES[args.arch]
    cfg = NetConfig(stem=cfg.stem, stages=cfg.stages, dropout=args.dropout)
    return PatchNet(cfg)


def load_network(model_dir: Path) -> tuple[PatchNet, ModelMetadata]:
    """Network and metadata of a model directory (sha256-checked)."""
    from pathview.model.bundle import load_state_dict

    meta = read_metadata(model_dir)
    net = PatchNet(meta.architecture.config)
    net.load_state_dict(load_state_dict(verified_weights_path(model_dir, meta)))
    return net, meta


class Teacher(nn.Module):
    """Trained model directories as a distillation teacher: the mean of their calibrated
    P(tumour), sigmoid(logit / temperature), for a batch normalised with the student's
    statistics.

    Each model's own normalisation is restored from the student's (x * s + m - m_t) / s_t,
    so a teacher trained with other statistics sees its usual inputs. BatchNorms are folded
    (inference only). Raw logits would give targets sharper than the teacher's calibrated
    belief, centred on the calibration offset folded into the last bias.
    """

    def __init__(
        self, model_dirs: Sequence[Path], mean: Sequence[float], std: Sequence[float]
    ) -> None:
        super().__init__()
        from pathview.model.classifier import fold_batchnorm

        if not model_dirs:
            raise ValueError("a teacher needs at least one model directory")
        s_mean = torch.tensor(list(mean), dtype=torch.float32)
        s_std = torch.tensor(list(std), dtype=torch.float32)
        nets: list[nn.Module] = []
        temperatures = []
        for i, model_dir in enumerate(model_dirs):
            net, meta = load_network(model_dir)
            nets.append(fold_batchnorm(net.eval()))
            temperatures.append(float(meta.temperature))
            t_mean = torch.tensor(meta.normalisation.mean, dtype=torch.float32)
            t_std = torch.tensor(meta.normalisation.std, dtype=torch.float32)
            # Per-model buffers of rank 4, so .to(memory_format=...) applies to them.
            self.register_buffer(f"scale{i}", (s_std / t_std).view(1, 3, 1, 1))
            self.register_buffer(f"shift{i}", ((s_mean - t_mean) / t_std).view(1, 3, 1, 1))
        self.nets = nn.ModuleList(nets)
        self.temperatures = temperatures

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = []
        for i, (net, t) in enumerate(zip(self.nets, self.temperatures, strict=True)):
            scale, shift = getattr(self, f"scale{i}"), getattr(self, f"shift{i}")
            probs.append(torch.sigmoid(net(x * scale + shift).float() / t))
        return torch.stack(probs).mean(0)


class Ema:
    """Exponential moving average of a model's parameters and of its floating-point buffers
    (BatchNorm running statistics), so the averaged weights are evaluated with statistics
    averaged over the same steps; integer buffers are copied."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        # Warm-up of the decay so the average is not dominated by the random init.
        d = min(self.decay, (1 + step) / (10 + step))
        ema_p: list[torch.Tensor] = list(self.model.parameters())
        params: list[torch.Tensor] = list(model.parameters())
        torch._foreach_lerp_(ema_p, params, 1 - d)
        for b_ema, b in zip(self.model.buffers(), model.buffers(), strict=True):
            if b_ema.is_floating_point():
                b_ema.lerp_(b, 1 - d)
            else:
                b_ema.copy_(b)


# ----------------------------------------------------------------------------- train / eval


@torch.inference_mode()
def predict_logits(
    net: nn.Module,
    pixels: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    tta: bool = False,
    batch_size: int = 1024,
) -> np.ndarray:
    """Tumour logits of uint8 N x 96 x 96 x 3 patches (mean over the 8 views with ``tta``).

    Whatever ``net`` outputs per patch, in fact: for a :class:`Teacher` these are
    probabilities, and with ``tta`` their 8-view mean."""
    net.eval()
    m = torch.tensor(mean, device=device)
    s = torch.tensor(std, device=device)
    out = []
    with torch.inference_mode():
        for i in range(0, len(pixels), batch_size):
            u8 = torch.from_numpy(np.ascontiguousarray(pixels[i : i + batch_size])).to(device)
            x = to_input(u8, m, s)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                if tta:
                    z = torch.stack([net(dihedral_view(x, k)).float() for k in range(8)]).mean(0)
                else:
                    z = net(x).float()
            out.append(z.cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


@dataclass
class TrainConfig:
    """Optimisation settings of :func:`train_model` (built from the arguments)."""

    epochs: int = 30
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    ema_decay: float = 0.999
    eval_every: int = 1
    max_minutes: float | None = None
    distill_weight: float = 0.5
    #: Distil from each training patch's 8-view mean teacher probability, computed once
    #: before training, instead of the teacher's output on every augmented batch.
    teacher_tta: bool = False
    #: Keep BatchNorm running statistics as they are (fine-tuning on few patches: a handful
    #: of small augmented batches would otherwise replace the parent's statistics).
    freeze_bn_stats: bool = False
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        aug = AugmentConfig(
            dihedral=not args.no_dihedral,
            shift=args.shift,
            stain_sigma=args.stain_sigma,
            brightness=args.brightness,
            contrast=args.contrast,
            saturation=args.saturation,
            hue=args.hue,
            jpeg_prob=args.jpeg_prob,
            jpeg_quality=tuple(args.jpeg_quality),
        )
        return cls(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            warmup_epochs=args.warmup_epochs,
            label_smoothing=args.label_smoothing,
            ema_decay=args.ema_decay,
            eval_every=args.eval_every,
            max_minutes=args.max_minutes,
            distill_weight=getattr(args, "distill_weight", 0.5),
            teacher_tta=getattr(args, "teacher_tta", False),
            freeze_bn_stats=getattr(args, "freeze_bn_stats", False),
            augment=aug,
        )


@dataclass
class TrainResult:
    """The selected (EMA) network, the epoch it came from and the per-epoch history.

    ``interrupted`` is true when training stopped early on request (a signal or
    ``TrainHooks.stop_after_steps``); the last checkpoint then holds the state to resume from
    and ``network`` is the EMA at the stopping point, not a finished model.
    """

    network: nn.Module
    best_epoch: int
    history: list[dict[str, Any]]
    seconds: float
    epochs_run: int
    step: int = 0
    interrupted: bool = False


@dataclass
class TrainHooks:
    """Optional callbacks and controls of :func:`train_model`.

    Pass the same hooks on every rank: ``on_step``, ``on_epoch`` and ``checkpoint`` are called
    on rank 0 only, but whether a checkpoint is taken must agree across ranks.
    """

    #: After every epoch, with that epoch's history row.
    on_epoch: Callable[[dict[str, Any]], None] | None = None
    #: After every optimiser step (the loss stays on the device until read).
    on_step: Callable[[StepInfo], None] | None = None
    #: Receives the whole training state (see :func:`train_model`) at the end of every epoch
    #: and when training stops early; it must save it before returning.
    checkpoint: Callable[[dict[str, Any]], None] | None = None
    #: Set (from a signal handler, say) to stop after the current step, checkpointed.
    stop: CancelToken | None = None
    #: Stop after this many optimiser steps in all, as if interrupted (for tests).
    stop_after_steps: int | None = None


def train_model(
    net: nn.Module,
    train: PatchSet,
    holdout: PatchSet,
    mean: Sequence[float],
    std: Sequence[float],
    cfg: TrainConfig,
    device: torch.device,
    seed: int = 0,
    teacher: nn.Module | None = None,  # maps a student batch to P(tumour): see Teacher
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    *,
    sample_weights: np.ndarray | None = None,
    hooks: TrainHooks | None = None,
    resume: dict[str, Any] | None = None,
    rank: Rank | None = None,
) -> TrainResult:
    """Train ``net`` on ``train``; select the EMA checkpoint with the best held-out AUC.

    ``sample_weights`` (one per training patch) weight each patch's loss (weighted mean over
    the batch); without them every patch counts once. With an empty ``holdout`` there is no
    selection: the final EMA is returned.

    The training state passed to ``hooks.checkpoint`` (tensors, numbers and lists only) holds
    the model, EMA, optimiser and scheduler states, the best EMA so far, the history, the
    position (``epochs_done``, ``batch`` within the next epoch, that epoch's ``order``), the
    step counter and every random generator's state (per rank). Given back as ``resume``,
    training continues at the same step and, with the same data, settings and world size,
    ends with the same weights as an uninterrupted run (to float rounding).

    Under torchrun (``rank`` distributed) the network is wrapped in DistributedDataParallel,
    every rank draws the same permutation each epoch and trains on its share of each global
    batch (:meth:`Rank.shard`); held-out evaluation and checkpoint selection run on rank 0.
    """
    rank = rank or Rank()
    hooks = hooks or TrainHooks()
    if on_epoch is not None and hooks.on_epoch is None:
        hooks = replace(hooks, on_epoch=on_epoch)
    net = net.to(device).to(memory_format=torch.channels_last)
    if teacher is not None:
        teacher = teacher.to(device).to(memory_format=torch.channels_last).eval()
    if resume is not None:
        net.load_state_dict(resume["model"])
    ema = Ema(net, cfg.ema_decay)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    order_gen = gen
    if rank.distributed:
        # Every rank draws the same permutation (a CPU generator: the same on any GPU) and
        # augments its own share with its own stream.
        order_gen = torch.Generator()
        order_gen.manual_seed(seed)
        gen.manual_seed(seed + 7919 * (rank.rank + 1))
    generators = {"augment": gen, "order": order_gen} if rank.distributed else {"augment": gen}
    pixels = torch.from_numpy(train.pixels).to(device)
    labels = torch.from_numpy(train.labels).float().to(device)
    fixed_targets = None
    if teacher is not None and cfg.teacher_tta:
        # The teacher outputs P(tumour): with tta, predict_logits gives its 8-view mean.
        targets = predict_logits(teacher, train.pixels, mean, std, device, tta=True)
        fixed_targets = torch.from_numpy(targets).to(device)
        log.info("teacher targets: 8-view means of %d training patches", len(fixed_targets))
    weights = None
    if sample_weights is not None:
        if len(sample_weights) != len(train):
            raise ValueError(f"{len(sample_weights)} sample weights for {len(train)} patches")
        weights = torch.from_numpy(np.asarray(sample_weights, dtype=np.float32)).to(device)
    m = torch.tensor(mean, device=device)
    s = torch.tensor(std, device=device)
    augment = Augmenter(cfg.augment)
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in net.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=(0.9, 0.99),
        fused=device.type == "cuda",
    )
    steps_per_epoch = max(1, len(train) // cfg.batch_size)
    schedule = {
        "total": cfg.epochs * steps_per_epoch,
        "warmup": cfg.warmup_epochs * steps_per_epoch,
    }

    def lr_at(step: int) -> float:
        if step < schedule["warmup"]:
            return (step + 1) / schedule["warmup"]
        frac = (step - schedule["warmup"]) / max(1.0, schedule["total"] - schedule["warmup"])
        return 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model: nn.Module = net
    if rank.distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None
        )
    amp = device.type == "cuda"
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"auc": -1.0, "epoch": 0, "state": None}
    epochs = cfg.epochs
    step = 0
    epochs_done = 0
    start_batch = 0
    order = torch.zeros(0, dtype=torch.long, device=device)
    loss_sum = torch.zeros((), device=device)
    epoch_times: list[float] = []
    seconds_before = 0.0
    if resume is not None:
        ema.model.load_state_dict(resume["ema"])
        opt.load_state_dict(resume["optimizer"])
        schedule["total"] = resume["schedule_total"]
        sched.load_state_dict(resume["scheduler"])
        best = dict(resume["best"])
        history = list(resume["history"])
        epochs = int(resume["epochs"])
        step = int(resume["step"])
        epochs_done = int(resume["epochs_done"])
        start_batch = int(resume["batch"])
        if start_batch:
            order = resume["order"].to(device)
            loss_sum = torch.tensor(float(resume["loss_sum"]), device=device)
        epoch_times = list(resume["epoch_times"])
        seconds_before = float(resume["seconds"])
        rngs = resume["rng"]
        if len(rngs) == rank.world_size:
            restore_rng(rngs[rank.rank], generators)
        else:
            # Another world size: rank 0's streams, and fresh augmentation streams per rank.
            restore_rng(rngs[0], {"order": order_gen} if rank.distributed else generators)
            if rank.distributed:
                gen.manual_seed(seed + 7919 * (rank.rank + 1) + step)
            log.warning(
                "resumed with %d processes, the checkpoint had %d", rank.world_size, len(rngs)
            )
        log.info("resumed at step %d (epoch %d, batch %d)", step, epochs_done + 1, start_batch)
    t_start = time.perf_counter() - seconds_before

    def snapshot(batch: int) -> dict[str, Any] | None:
        """The training state (collective: every rank's generators are gathered)."""
        rngs = rank.gather(capture_rng(generators))
        if not rank.is_main:
            return None
        return {
            "model": net.state_dict(),
            "ema": ema.model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "schedule_total": schedule["total"],
            "best": best,
            "history": history,
            "epochs": epochs,
            "epochs_done": epochs_done,
            "batch": batch,
            "order": order.cpu() if batch else None,
            "loss_sum": float(loss_sum.item()) if batch else 0.0,
            "step": step,
            "steps_per_epoch": steps_per_epoch,
            "epoch_times": epoch_times,
            "seconds": time.perf_counter() - t_start,
            "world_size": rank.world_size,
            "rng": rngs,
        }

    def save(batch: int) -> None:
        if hooks.checkpoint is not None:
            state = snapshot(batch)
            if state is not None:
                hooks.checkpoint(state)

    def stop_requested() -> bool:
        flag = hooks.stop is not None and hooks.stop.cancelled
        flag = flag or (hooks.stop_after_steps is not None and step >= hooks.stop_after_steps)
        return rank.any(flag, device)

    def stopped() -> TrainResult:
        log.info(
            "stopped at step %d (epoch %d, %d epochs done)", step, epochs_done + 1, epochs_done
        )
        seconds = time.perf_counter() - t_start
        net_out = copy.deepcopy(ema.model).float().cpu()
        return TrainResult(net_out, int(best["epoch"]), history, seconds, epochs_done, step, True)

    while epochs_done < epochs:
        epoch = epochs_done + 1
        net.train()
        if cfg.freeze_bn_stats:
            for module in net.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        t0 = time.perf_counter()
        if start_batch == 0:
            order = torch.randperm(len(train), device=order_gen.device, generator=order_gen)
            order = order.to(device)
            loss_sum = torch.zeros((), device=device)
        for b in range(start_batch, steps_per_epoch):
            idx = rank.shard(order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
            x = to_input(pixels[idx], m, s, augment, gen)
            y = labels[idx]
            target = y * (1 - cfg.label_smoothing) + 0.5 * cfg.label_smoothing
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                z = model(x).float()
                w = weights[idx] if weights is not None else None
                loss = F.binary_cross_entropy_with_logits(z, target, weight=w)
                if teacher is not None:
                    if fixed_targets is not None:
                        soft = fixed_targets[idx]
                    else:
                        with torch.no_grad():
                            soft = teacher(x).float()  # calibrated P(tumour)
                    kd = F.binary_cross_entropy_with_logits(z, soft)
                    loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            ema.update(net, step)
            step += 1
            loss_sum += loss.detach()
            if hooks.on_step is not None and rank.is_main:
                total = epochs * steps_per_epoch
                hooks.on_step(
                    StepInfo(epoch, epochs, b + 1, steps_per_epoch, step, total, loss.detach())
                )
            if b + 1 < steps_per_epoch and stop_requested():
                save(b + 1)
                return stopped()
        start_batch = 0
        train_loss = float(rank.mean(loss_sum).item()) / steps_per_epoch
        epoch_s = time.perf_counter() - t0
        epoch_times.append(epoch_s)
        if cfg.max_minutes:
            # Re-plan after every epoch (the machine may be shared): as many epochs as fit in
            # the time left at the recent pace, never more than asked; the cosine schedule
            # stretches or shrinks to the new total. Rank 0 decides for all.
            left = cfg.max_minutes * 60 - (time.perf_counter() - t_start)
            pace = float(np.median(epoch_times[-3:])) * 1.05
            planned = rank.broadcast(min(cfg.epochs, epoch + max(0, int(left // pace))))
            if planned != epochs:
                log.info(
                    "re-planned: %d epochs in total (%.0fs left, %.0fs per epoch)",
                    planned,
                    left,
                    pace,
                )
                epochs = planned
                schedule["total"] = epochs * steps_per_epoch
        row: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": round(train_loss, 5),
            "lr": opt.param_groups[0]["lr"],
            "seconds": round(epoch_s, 2),
        }
        evaluate = epoch % cfg.eval_every == 0 or epoch == epochs
        if evaluate and rank.is_main and len(holdout):
            z_h = predict_logits(ema.model, holdout.pixels, mean, std, device)
            metrics = summarise(sigmoid(z_h), holdout.labels)
            row["holdout"] = metrics
            if metrics["auc"] > best["auc"]:
                best = {
                    "auc": metrics["auc"],
                    "epoch": epoch,
                    "state": copy.deepcopy(ema.model.state_dict()),
                }
        history.append(row)
        epochs_done = epoch
        if rank.is_main:
            log.info("epoch %d/%d %s", epoch, epochs, json.dumps(row))
            if hooks.on_epoch is not None:
                hooks.on_epoch(row)
        save(0)
        if epochs_done < epochs and stop_requested():
            return stopped()
    seconds = time.perf_counter() - t_start
    if best["state"] is not None:
        ema.model.load_state_dict(best["state"])
        log.info(
            "trained %d epochs in %.1f min; best held-out AUC %.5f at epoch %d",
            epochs,
            seconds / 60,
            best["auc"],
            best["epoch"],
        )
    else:
        best["epoch"] = epochs
        log.info("trained %d epochs in %.1f min; kept the last epoch", epochs, seconds / 60)
    return TrainResult(ema.model.float().cpu(), int(best["epoch"]), history, seconds, epochs, step)


# ----------------------------------------------------------------------------- export


def cam_layers(net: PatchNet, input_size: int = 96) -> dict[str, Any]:
    """Grad-CAM layer choices: the default is the finest stage whose map is <= 12 x 12."""
    sides = net.feature_sides(input_size)
    stage_names = [f"stages.{i}" for i in range(len(net.config.stages))]
    candidates = {name: sides[name] for name in ["stem", *stage_names]}
    candidates[net.last_conv_name()] = sides[net.last_conv_name()]
    fine_enough = [n for n in stage_names if sides[n] <= 12] or stage_names[-1:]
    # The deepest stage still at 12 x 12 or finer: semantic enough, sharp enough.
    at_12 = [n for n in fine_enough if sides[n] == max(sides[k] for k in fine_enough)]
    return {"default": at_12[-1], "candidates": candidates}


def base_metadata(
    net: PatchNet,
    data: Data,
    args: argparse.Namespace,
    result: TrainResult,
    temperature: float,
    calibration: dict[str, Any],
    device: torch.device,
) -> ModelMetadata:
    """The model.json content of ``python -m pathview.training.train``.

    See :func:`model_metadata`.
    """
    init_from = None
    if args.init_from is not None:
        init_meta = read_metadata(args.init_from)
        init_from = {
            "sha256": init_meta.model_id,
            "training": training_summary(init_meta).to_dict(),
        }
    teacher = None
    if args.teacher:
        teacher = teacher_record(args.teacher, args.distill_weight, args.teacher_tta).to_dict()
    parent = None
    if args.parent is not None:
        parent_meta = read_metadata(args.parent)
        parent = {"name": parent_meta.name, "sha256": parent_meta.model_id}
    training = {
        "data": data.train.sources,
        "n_train": len(data.train),
        "n_heldout": len(data.holdout),
        "heldout": f"split == {args.holdout_split!r} (else a seeded "
        f"{args.holdout_fraction:.0%} sample); used for checkpoint selection and "
        "temperature scaling, not for gradient steps",
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch,
        "minutes": round(result.seconds / 60, 2),
        "device": device_name(device),
        "torch": torch.__version__,
        "seed": args.seed,
        "teacher": teacher,
        "initialised_from": init_from,
        "arguments": json.loads(json.dumps(vars(args), default=str)),
    }
    return model_metadata(
        net,
        args.name,
        data.mean,
        data.std,
        temperature,
        calibration,
        parent,
        training,
        data.codec,
    )


def training_summary(meta: ModelMetadata) -> TrainingSummary:
    """How an earlier model was trained (data, hold-out, length, arguments), from its
    metadata: what a model built on it records of it."""
    if meta.training is None:
        return TrainingSummary()
    return meta.training.summary()


def teacher_record(
    model_dirs: Sequence[Path], distill_weight: float, tta: bool = False
) -> TeacherRecord:
    """What the metadata says of a distillation teacher: each model's identity, how it was
    trained and validated, and the weight of the targets in the loss."""
    models = []
    for model_dir in model_dirs:
        meta = read_metadata(model_dir)
        models.append(
            TeacherModel(
                path=str(model_dir),
                name=meta.name,
                sha256=meta.model_id,
                architecture=meta.architecture.to_dict(),
                training=training_summary(meta),
                validation=meta.validation,
            )
        )
    return TeacherRecord(
        models=models,
        distill_weight=distill_weight,
        targets=(
            "each training patch's mean over the 8 flips/rotations and the teacher models of "
            "their calibrated P(tumour), computed once before training"
            if tta
            else "the mean of the teacher models' calibrated P(tumour) of each augmented "
            "training batch"
        ),
    )


def warn_if_teacher_saw_the_holdout(args: argparse.Namespace) -> None:
    """Log a warning for each teacher not trained with this run's data and hold-out: it may
    have trained on the held-out patches, whose targets would then carry their labels."""
    keys = ("holdout_split", "holdout_split_fraction", "holdout_fraction", "seed")

    def same_data(a: dict[str, Any]) -> dict[str, Any]:
        paths = {k: [str(Path(p).resolve()) for p in a.get(k) or []] for k in ("images", "labels")}
        return {**paths, **{k: a.get(k) for k in keys}}

    ours = same_data(vars(args))
    for model_dir in args.teacher:
        training = read_metadata(model_dir).training
        theirs = same_data(training.arguments if training is not None else {})
        differ = [k for k in ours if theirs[k] != ours[k]]
        if differ:
            log.warning(
                "teacher %s was trained with other %s: it may have seen this run's held-out "
                "patches, so the held-out figures could be optimistic",
                model_dir,
                ", ".join(differ),
            )


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the device as text (for the metadata)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)


def model_metadata(
    net: PatchNet,
    name: str,
    mean: Sequence[float],
    std: Sequence[float],
    temperature: float,
    calibration: dict[str, Any],
    parent: dict[str, Any] | None,
    training: dict[str, Any],
    codec: InputCodec | None = None,
) -> ModelMetadata:
    """The model.json content every training script writes (write_model_dir adds weights).

    Architecture, input size and resize policy, normalisation, classes, output and temperature,
    Grad-CAM layers, the parent model (None for a model trained from scratch) and what it was
    trained on; ``validation`` starts empty and is filled in by the caller. With ``codec``,
    the input codec every patch goes through before normalisation (``input_codec``).
    """
    return ModelMetadata(
        format_version=FORMAT_VERSION,
        name=name,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        architecture=Architecture.of(net.config, sum(p.numel() for p in net.parameters())),
        input_size=96,
        resize_policy="centre_crop",
        resize_policy_note=(
            "larger patches are centre-cropped to 96x96 (same magnification as training); "
            "a patch smaller than 96 in a side is resized (bilinear) to 96x96"
        ),
        normalisation=Normalisation(
            mean=list(mean),
            std=list(std),
            note="RGB pixels / 255, then (x - mean) / std per channel",
        ),
        classes={"0": "normal", "1": "tumour"},
        output="one logit per patch: the tumour logit; P(tumour) = sigmoid(logit / temperature)",
        temperature=round(float(temperature), 5),
        calibration=Calibration.parse(calibration, "calibration"),
        cam_layers=CamLayers.parse(cam_layers(net), "cam_layers"),
        parent_model=None if parent is None else ParentModel.parse(parent, "parent_model"),
        training=TrainingRecord.parse(training, "training"),
        validation={},
        input_codec=None if codec is None else CodecRecord.of(codec),
    )


def evaluate_set(
    net: nn.Module,
    pixels: np.ndarray,
    labels: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    temperature: float,
    device: torch.device,
) -> dict[str, Any]:
    """AUC / accuracy / ECE of calibrated P(tumour), without and with 8-way TTA."""
    out: dict[str, Any] = {}
    for tta in (False, True):
        z = predict_logits(net, pixels, mean, std, device, tta=tta)
        out["tta" if tta else "plain"] = summarise(sigmoid(z / temperature), labels)
    return out


CALIBRATION_METHODS = ("platt", "temperature")


def calibrate(
    net: PatchNet, logits: np.ndarray, labels: np.ndarray, method: str, fitted_on: str
) -> tuple[float, dict[str, Any]]:
    """Fit the post-hoc calibration on held-out logits; returns (temperature, its record).

    ``temperature``: P = sigmoid(logit / T), T fitted by NLL. ``platt``: P = sigmoid(a * logit
    + b) fitted by NLL; the offset is folded into the network (the last layer's bias grows by
    b / a, changing ``net`` in place) and T = 1 / a, so every consumer keeps computing
    sigmoid(logit / T) and the predicted class (P >= 0.5) stays the sign of the logit. The
    offset corrects logits that are shifted (a model calling one class too often), which no
    temperature can. Falls back to temperature scaling if the fitted scale is not positive.
    """
    if method == "platt":
        scale, offset = fit_platt(logits, labels)
        if scale > 0:
            with torch.no_grad():
                net.head.fc.bias.add_(offset / scale)
            return 1.0 / scale, {
                "method": "Platt scaling: P = sigmoid(a * logit + b), NLL-optimal; the offset "
                "b / a is folded into the last layer's bias and T = 1 / a",
                "scale_a": round(scale, 6),
                "offset_b": round(offset, 6),
                "fitted_on": fitted_on,
                "before": summarise(sigmoid(logits), labels),
                "after": summarise(sigmoid(scale * logits + offset), labels),
            }
        log.warning("Platt scale %.4f is not positive: temperature scaling instead", scale)
    temperature = fit_temperature(logits, labels)
    return temperature, temperature_record(logits, labels, temperature, fitted_on)


def calibrate_on_holdout(
    net: PatchNet,
    holdout: PatchSet,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    args: argparse.Namespace,
) -> tuple[float, dict[str, Any]]:
    """:func:`calibrate` with ``args.calibration`` on the held-out patches, then (with
    ``args.prevalence``) :func:`shift_prior`; changes ``net`` in place. Returns (temperature,
    the calibration record)."""
    z_hold = predict_logits(net, holdout.pixels, mean, std, device)
    temperature, record = calibrate(
        net,
        z_hold,
        holdout.labels,
        args.calibration,
        f"held-out training-source patches ({len(holdout)}; {args.holdout_split})",
    )
    prevalence = getattr(args, "prevalence", None)
    if prevalence is not None:
        calibrated = predict_logits(net, holdout.pixels, mean, std, device) / temperature
        record["prior_shift"] = shift_prior(
            net,
            temperature,
            calibrated,
            holdout.labels,
            prevalence,
            getattr(args, "prevalence_source", "given on the command line"),
        )
    return temperature, record


def shift_prior(
    net: PatchNet,
    temperature: float,
    calibrated_logits: np.ndarray,
    labels: np.ndarray,
    prevalence: float,
    source: str,
) -> dict[str, Any]:
    """Re-target calibrated probabilities from the held-out patches' tumour prevalence to
    ``prevalence`` (Bayes' rule for a change of class prior, Saerens et al. 2002): every
    calibrated logit moves by logit(prevalence) - logit(held-out prevalence). Folded into the
    last layer's bias (times T, so P = sigmoid(logit / T) still holds); changes ``net`` in
    place. ``calibrated_logits``: the held-out logits / T before the shift. Returns the
    record."""
    if not 0.0 < prevalence < 1.0:
        raise ValueError(f"prevalence must lie strictly between 0 and 1, got {prevalence}")
    held = float(np.mean(labels))
    if not 0.0 < held < 1.0:
        raise ValueError("the held-out patches need both classes to shift the prior")
    offset = math.log(prevalence / (1 - prevalence)) - math.log(held / (1 - held))
    with torch.no_grad():
        net.head.fc.bias.add_(offset * temperature)
    return {
        "method": "prior shift (Bayes' rule): calibrated logit + logit(to) - logit(from), "
        "folded into the last layer's bias",
        "from_prevalence": round(held, 5),
        "to_prevalence": prevalence,
        "prevalence_source": source,
        "logit_offset": round(offset, 6),
        "heldout_after": summarise(sigmoid(calibrated_logits + offset), labels),
    }


def temperature_record(
    logits: np.ndarray, labels: np.ndarray, temperature: float, fitted_on: str
) -> dict[str, Any]:
    """The metadata record of a fitted temperature: metrics before and after it."""
    return {
        "method": "temperature scaling (one scalar T, NLL-optimal)",
        "fitted_on": fitted_on,
        "before": summarise(sigmoid(logits), labels),
        "after": summarise(sigmoid(logits / temperature), labels),
    }


def export_model(export_dir: Path, net: PatchNet, metadata: ModelMetadata) -> ModelMetadata:
    """Write the fp32 state_dict and model.json into ``export_dir``; returns the metadata."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    meta = write_model_dir(export_dir, state, metadata)
    log.info(
        "exported %s (sha256 %s, %.2f MB)",
        export_dir,
        meta.model_id,
        (meta.weights.bytes or 0) / 1e6,
    )
    return meta


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the whole training; returns the exit status."""
    args = build_parser().parse_args(argv)
    device = setup_run(args)
    data = load_data(args)
    run_seed = args.seed if args.init_seed is None else args.init_seed
    if args.init_seed is not None:
        torch.manual_seed(run_seed)
    net = build_model(args)
    log.info("network %s: %d parameters", net.config.to_dict(), count_parameters(net))
    teacher = None
    if args.teacher:
        warn_if_teacher_saw_the_holdout(args)
        teacher = Teacher(args.teacher, data.mean, data.std)
    cfg = TrainConfig.from_args(args)
    history_path = args.run_dir / "history.jsonl"
    history_path.write_text("", encoding="utf-8")

    def on_epoch(row: dict[str, Any]) -> None:
        with open(history_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    result = train_model(
        net,
        data.train,
        data.holdout,
        data.mean,
        data.std,
        cfg,
        device,
        run_seed,
        teacher,
        on_epoch,
    )
    best = result.network.to(device)
    assert isinstance(best, PatchNet)
    temperature, calibration = calibrate_on_holdout(
        best, data.holdout, data.mean, data.std, device, args
    )
    log.info("temperature %.4f: %s", temperature, json.dumps(calibration))
    meta = base_metadata(best, data, args, result, temperature, calibration, device)
    heldout = evaluate_set(
        best, data.holdout.pixels, data.holdout.labels, data.mean, data.std, temperature, device
    )
    meta.set_validation(
        "heldout",
        {"data": "held-out part of the training sources (same distribution: JPEG)", **heldout},
    )
    if data.val is not None:
        external = evaluate_set(
            best, data.val.pixels, data.val.labels, data.mean, data.std, temperature, device
        )
        meta.set_validation(
            "external", {"data": {**data.val.sources[0], "note": "never trained on"}, **external}
        )
    log.info("validation %s", json.dumps(meta.validation_dict()))
    export_model(args.export or args.run_dir / "model", best.cpu(), meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
