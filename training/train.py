"""Train the patch classifier from scratch (or from a parent model) and export a model directory.

Usage (the bundled model; see resources/model/MODEL_CARD.md for the exact command)::

    python -m training.train --images DIR --labels CSV [--images DIR2 --labels CSV2 ...] \
        --holdout-split valid --run-dir runs/NAME --export resources/model/NAME

Steps: decode every patch once into memory; hold out part of it (the CSV's ``split`` column or
a seeded fraction) for checkpoint selection and temperature scaling; train with device-side
augmentation (training/augment.py), AdamW, warm-up + cosine learning rate and an EMA of the
weights; fit the temperature on the held-out logits; optionally evaluate on a separate
validation folder that is never trained on; export weights + model.json.

The run folder gets ``args.json``, ``train.log`` (the logging module's output), ``history.jsonl``
(one JSON line of metrics per epoch) and the exported model. The pieces (``build_parser``,
``load_data``, ``train_model``, ``predict_logits``, ``export_model``) are plain functions so a
fine-tuning script can reuse them.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pathview.model.bundle import read_metadata, verified_weights_path, write_model_dir
from pathview.model.metrics import fit_temperature, sigmoid, summarise
from pathview.model.network import NetConfig, PatchNet, count_parameters
from pathview.model.runtime import tune_malloc
from training.augment import AugmentConfig, Augmenter, dihedral
from training.data import PatchSet, channel_stats, holdout_mask, load_folder

log = logging.getLogger("training")

#: Named architectures (NetConfig); the exported metadata stores the full config either way.
ARCHITECTURES: dict[str, NetConfig] = {
    # ~0.68M parameters, ~52M multiply-adds: > 2,000 patches/s on a 2-core CPU.
    "pv-small": NetConfig(stem=((16, 2), (32, 2)), stages=((32, 1, 1), (64, 2, 2), (128, 2, 2))),
    # A wider, deeper net for use as a distillation teacher (too slow for the CPU target).
    "pv-teacher": NetConfig(
        stem=((32, 1), (64, 2)), stages=((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 1, 2))
    ),
}


# ----------------------------------------------------------------------------- arguments


def build_parser() -> argparse.ArgumentParser:
    """The command line, in argument groups a fine-tuning script can extend."""
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
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
    g.add_argument("--parent", type=Path, help="model directory to start from (fine-tuning)")
    g.add_argument(
        "--init-from",
        type=Path,
        help="earlier run's model directory whose weights initialise training (a second "
        "stage of the same from-scratch training; recorded, but not as a parent model)",
    )
    g.add_argument("--teacher", type=Path, help="model directory to distil from")
    g.add_argument(
        "--distill-weight",
        type=float,
        default=0.5,
        help="weight of the teacher's soft targets in the loss (with --teacher)",
    )
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument(
        "--max-minutes",
        type=float,
        help="shorten the schedule after epoch 1 so training ends within this time",
    )
    g.add_argument("--batch-size", type=int, default=256)
    g.add_argument("--lr", type=float, default=2e-3)
    g.add_argument("--weight-decay", type=float, default=0.05)
    g.add_argument("--warmup-epochs", type=float, default=1.0)
    g.add_argument("--label-smoothing", type=float, default=0.0)
    g.add_argument("--ema-decay", type=float, default=0.999)
    g.add_argument("--eval-every", type=int, default=1, help="epochs between held-out evals")
    g = p.add_argument_group("augmentation")
    g.add_argument("--no-dihedral", action="store_true", help="turn off the 8 flips/rotations")
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
    g = p.add_argument_group("run")
    g.add_argument("--run-dir", type=Path, required=True)
    g.add_argument("--export", type=Path, help="model directory to write (default RUN/model)")
    g.add_argument("--name", default="pcam-default")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto|cpu|cuda|mps")
    g.add_argument("--threads", type=int, help="torch CPU threads")
    return p


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


def load_data(args: argparse.Namespace) -> Data:
    """Decode the sources, split off the held-out part, compute the normalisation."""
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
    train, holdout = data.subset(~mask), data.subset(mask)
    val = None
    if args.val_images is not None:
        if args.val_labels is None:
            raise SystemExit("--val-images needs --val-labels")
        val = load_folder(args.val_images, args.val_labels, args.decode_workers)
        overlap = set(val.ids) & set(data.ids)
        if overlap:
            raise SystemExit(f"{len(overlap)} validation ids are also training ids")
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
    return Data(train, holdout, val, mean, std)


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


def load_network(model_dir: Path) -> tuple[PatchNet, dict[str, Any]]:
    """Network and metadata of a model directory (sha256-checked)."""
    from pathview.model.bundle import load_state_dict

    meta = read_metadata(model_dir)
    net = PatchNet(NetConfig.from_dict(meta["architecture"]))
    net.load_state_dict(load_state_dict(verified_weights_path(model_dir, meta)))
    return net, meta


class Ema:
    """Exponential moving average of a model's parameters (buffers are copied)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        # Warm-up of the decay so the average is not dominated by the random init.
        d = min(self.decay, (1 + step) / (10 + step))
        ema_p = list(self.model.parameters())
        torch._foreach_lerp_(ema_p, list(model.parameters()), 1 - d)
        for b_ema, b in zip(self.model.buffers(), model.buffers(), strict=True):
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
    """Tumour logits of uint8 N x 96 x 96 x 3 patches (mean over the 8 views with ``tta``)."""
    net.eval()
    m = torch.tensor(mean, device=device)
    s = torch.tensor(std, device=device)
    out = []
    for i in range(0, len(pixels), batch_size):
        u8 = torch.from_numpy(np.ascontiguousarray(pixels[i : i + batch_size])).to(device)
        x = to_input(u8, m, s)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            if tta:
                z = torch.stack([net(dihedral(x, k)).float() for k in range(8)]).mean(0)
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
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        aug = AugmentConfig(
            dihedral=not args.no_dihedral,
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
            distill_weight=args.distill_weight,
            augment=aug,
        )


@dataclass
class TrainResult:
    """The selected (EMA) network, the epoch it came from and the per-epoch history."""

    network: nn.Module
    best_epoch: int
    history: list[dict[str, Any]]
    seconds: float
    epochs_run: int


def train_model(
    net: nn.Module,
    train: PatchSet,
    holdout: PatchSet,
    mean: Sequence[float],
    std: Sequence[float],
    cfg: TrainConfig,
    device: torch.device,
    seed: int = 0,
    teacher: nn.Module | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``net`` on ``train``; select the EMA checkpoint with the best held-out AUC."""
    net = net.to(device).to(memory_format=torch.channels_last)
    if teacher is not None:
        teacher = teacher.to(device).to(memory_format=torch.channels_last).eval()
    ema = Ema(net, cfg.ema_decay)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    pixels = torch.from_numpy(train.pixels).to(device)
    labels = torch.from_numpy(train.labels).float().to(device)
    m = torch.tensor(mean, device=device)
    s = torch.tensor(std, device=device)
    augment = Augmenter(cfg.augment)
    decay, no_decay = [], []
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
    amp = device.type == "cuda"
    history: list[dict[str, Any]] = []
    best = {"auc": -1.0, "epoch": 0, "state": copy.deepcopy(ema.model.state_dict())}
    epochs = cfg.epochs
    step = 0
    t_start = time.perf_counter()
    epoch = 0
    epoch_times: list[float] = []
    while epoch < epochs:
        epoch += 1
        net.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(train), device=device, generator=gen)
        loss_sum = torch.zeros((), device=device)
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            x = to_input(pixels[idx], m, s, augment, gen)
            y = labels[idx]
            target = y * (1 - cfg.label_smoothing) + 0.5 * cfg.label_smoothing
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                z = net(x).float()
                loss = F.binary_cross_entropy_with_logits(z, target)
                if teacher is not None:
                    with torch.no_grad():
                        soft = torch.sigmoid(teacher(x).float())
                    kd = F.binary_cross_entropy_with_logits(z, soft)
                    loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            ema.update(net, step)
            step += 1
            loss_sum += loss.detach()
        train_loss = float(loss_sum.item()) / steps_per_epoch
        epoch_s = time.perf_counter() - t0
        epoch_times.append(epoch_s)
        if cfg.max_minutes:
            # Re-plan after every epoch (the machine may be shared): as many epochs as fit in
            # the time left at the recent pace, never more than asked; the cosine schedule
            # stretches or shrinks to the new total.
            left = cfg.max_minutes * 60 - (time.perf_counter() - t_start)
            pace = float(np.median(epoch_times[-3:])) * 1.05
            planned = min(cfg.epochs, max(epoch + 1, epoch + int(left // pace)))
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
        if epoch % cfg.eval_every == 0 or epoch == epochs:
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
        log.info("epoch %d/%d %s", epoch, epochs, json.dumps(row))
        if on_epoch is not None:
            on_epoch(row)
    ema.model.load_state_dict(best["state"])
    seconds = time.perf_counter() - t_start
    log.info(
        "trained %d epochs in %.1f min; best held-out AUC %.5f at epoch %d",
        epochs,
        seconds / 60,
        best["auc"],
        best["epoch"],
    )
    return TrainResult(ema.model.float().cpu(), int(best["epoch"]), history, seconds, epochs)


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
) -> dict[str, Any]:
    """The model.json content (the weights entry is added by write_model_dir)."""
    arch = net.config.to_dict()
    arch["parameters"] = sum(p.numel() for p in net.parameters())
    init_from = None
    if args.init_from is not None:
        init_meta = read_metadata(args.init_from)
        init_from = {
            "sha256": init_meta["weights"]["sha256"],
            "training": {
                k: init_meta.get("training", {}).get(k)
                for k in ("data", "n_train", "heldout", "epochs", "minutes", "arguments")
            },
        }
    parent = None
    if args.parent is not None:
        parent_meta = read_metadata(args.parent)
        parent = {"name": parent_meta.get("name"), "sha256": parent_meta["weights"]["sha256"]}
    return {
        "format_version": 1,
        "name": args.name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "architecture": arch,
        "input_size": 96,
        "resize_policy": "centre_crop",
        "resize_policy_note": (
            "larger patches are centre-cropped to 96x96 (same magnification as training); "
            "a patch smaller than 96 in a side is resized (bilinear) to 96x96"
        ),
        "normalisation": {
            "mean": data.mean,
            "std": data.std,
            "note": "RGB pixels / 255, then (x - mean) / std per channel",
        },
        "classes": {"0": "normal", "1": "tumour"},
        "output": "one logit per patch: the tumour logit; P(tumour) = sigmoid(logit / temperature)",
        "temperature": round(float(temperature), 5),
        "calibration": calibration,
        "cam_layers": cam_layers(net),
        "parent_model": parent,
        "training": {
            "data": data.train.sources,
            "n_train": len(data.train),
            "n_heldout": len(data.holdout),
            "heldout": f"split == {args.holdout_split!r} (else a seeded "
            f"{args.holdout_fraction:.0%} sample); used for checkpoint selection and "
            "temperature scaling, not for gradient steps",
            "epochs": result.epochs_run,
            "best_epoch": result.best_epoch,
            "minutes": round(result.seconds / 60, 2),
            "device": torch.cuda.get_device_name() if device.type == "cuda" else str(device),
            "torch": torch.__version__,
            "seed": args.seed,
            "teacher": str(args.teacher) if args.teacher else None,
            "initialised_from": init_from,
            "arguments": json.loads(json.dumps(vars(args), default=str)),
        },
        "validation": {},
    }


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


def export_model(export_dir: Path, net: PatchNet, metadata: dict[str, Any]) -> dict[str, Any]:
    """Write the fp32 state_dict and model.json into ``export_dir``; returns the metadata."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    meta = write_model_dir(export_dir, state, metadata)
    log.info(
        "exported %s (sha256 %s, %.2f MB)",
        export_dir,
        meta["weights"]["sha256"],
        meta["weights"]["bytes"] / 1e6,
    )
    return meta


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the whole training; returns the exit status."""
    args = build_parser().parse_args(argv)
    device = setup_run(args)
    data = load_data(args)
    net = build_model(args)
    log.info("network %s: %d parameters", net.config.to_dict(), count_parameters(net))
    teacher = load_network(args.teacher)[0] if args.teacher else None
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
        args.seed,
        teacher,
        on_epoch,
    )
    best = result.network.to(device)
    z_hold = predict_logits(best, data.holdout.pixels, data.mean, data.std, device)
    temperature = fit_temperature(z_hold, data.holdout.labels)
    calibration = {
        "method": "temperature scaling (one scalar T, NLL-optimal)",
        "fitted_on": (
            f"held-out training-source patches ({len(data.holdout)}; {args.holdout_split})"
        ),
        "before": summarise(sigmoid(z_hold), data.holdout.labels),
        "after": summarise(sigmoid(z_hold / temperature), data.holdout.labels),
    }
    log.info("temperature %.4f: %s", temperature, json.dumps(calibration))
    assert isinstance(best, PatchNet)
    meta = base_metadata(best, data, args, result, temperature, calibration, device)
    meta["validation"]["heldout"] = {
        "data": "held-out part of the training sources (same distribution: JPEG)",
        **evaluate_set(
            best, data.holdout.pixels, data.holdout.labels, data.mean, data.std, temperature, device
        ),
    }
    if data.val is not None:
        meta["validation"]["external"] = {
            "data": {**data.val.sources[0], "note": "never trained on"},
            **evaluate_set(
                best, data.val.pixels, data.val.labels, data.mean, data.std, temperature, device
            ),
        }
    log.info("validation %s", json.dumps(meta["validation"]))
    export_model(args.export or args.run_dir / "model", best.cpu(), meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
