"""The training loop: an epoch step, a validation step and a checkpoint saver around one
training state (the shape of timm's ``train_one_epoch`` / ``validate`` / ``CheckpointSaver``).

:func:`train_model` runs it for ``python -m pathview.training.train`` and for the retraining
(``pathview.training.retrain``): a :class:`TrainState` (network, EMA, optimiser, schedule,
generators, position, best weights, history) is started or restored from a checkpoint,
:func:`train_one_epoch` takes the optimiser steps of one epoch on a :class:`TrainBatches`,
:func:`validate` measures the EMA on the held-out patches and the :class:`CheckpointSaver`
keeps the best EMA weights and hands the state to the checkpoint hook. ``predict_logits`` is
the plain (no calibration) forward pass that training's held-out measurements use.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pathview.core import CancelToken
from pathview.model import dihedral_view
from pathview.stats import sigmoid, summarise
from pathview.training.augment import AugmentConfig, Augmenter
from pathview.training.checkpoint import capture_rng, restore_rng
from pathview.training.data import PatchSet
from pathview.training.distributed import Rank
from pathview.training.progress import StepInfo

log = logging.getLogger("pathview.training")


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


@dataclass
class TrainState:
    """Everything :func:`train_model` changes as it runs, and what a checkpoint holds.

    ``best`` is the best held-out AUC so far, its epoch and (a copy of) that EMA state;
    ``order`` and ``loss_sum`` belong to the epoch in progress (``start_batch`` batches in).
    """

    net: nn.Module
    ema: Ema
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    #: ``total`` and ``warmup`` steps of the learning-rate schedule (re-planned in place).
    schedule: dict[str, float]
    steps_per_epoch: int
    epochs: int
    generators: dict[str, torch.Generator]
    order: torch.Tensor
    loss_sum: torch.Tensor
    best: dict[str, Any] = field(default_factory=lambda: {"auc": -1.0, "epoch": 0, "state": None})
    history: list[dict[str, Any]] = field(default_factory=list)
    step: int = 0
    epochs_done: int = 0
    start_batch: int = 0
    epoch_times: list[float] = field(default_factory=list)
    t_start: float = 0.0

    @classmethod
    def start(
        cls,
        net: nn.Module,
        cfg: TrainConfig,
        n_train: int,
        device: torch.device,
        seed: int,
        rank: Rank,
    ) -> TrainState:
        """A fresh state: EMA, seeded generators, AdamW (no weight decay on norms and biases)
        and the warm-up + cosine schedule."""
        ema = Ema(net, cfg.ema_decay)
        gen = torch.Generator(device=device)
        gen.manual_seed(seed)
        generators = {"augment": gen}
        if rank.distributed:
            # Every rank draws the same permutation (a CPU generator: the same on any GPU) and
            # augments its own share with its own stream.
            order_gen = torch.Generator()
            order_gen.manual_seed(seed)
            gen.manual_seed(seed + 7919 * (rank.rank + 1))
            generators["order"] = order_gen
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, p in net.named_parameters():
            (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=cfg.lr,
            betas=(0.9, 0.99),
            fused=device.type == "cuda",
        )
        steps_per_epoch = max(1, n_train // cfg.batch_size)
        schedule = {
            "total": cfg.epochs * steps_per_epoch,
            "warmup": cfg.warmup_epochs * steps_per_epoch,
        }
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(schedule))
        return cls(
            net=net,
            ema=ema,
            optimizer=optimizer,
            scheduler=scheduler,
            schedule=schedule,
            steps_per_epoch=steps_per_epoch,
            epochs=cfg.epochs,
            generators=generators,
            order=torch.zeros(0, dtype=torch.long, device=device),
            loss_sum=torch.zeros((), device=device),
        )

    @property
    def order_generator(self) -> torch.Generator:
        """The generator of each epoch's permutation (the augmentation's on one process)."""
        return self.generators.get("order", self.generators["augment"])

    def seconds(self) -> float:
        """Training time so far, including the time before a resume."""
        return time.perf_counter() - self.t_start

    def restore(self, resume: dict[str, Any], rank: Rank, seed: int, device: torch.device) -> None:
        """Continue from a :meth:`snapshot` (the model weights are loaded by the caller)."""
        self.ema.model.load_state_dict(resume["ema"])
        self.optimizer.load_state_dict(resume["optimizer"])
        self.schedule["total"] = resume["schedule_total"]
        self.scheduler.load_state_dict(resume["scheduler"])
        self.best = dict(resume["best"])
        self.history = list(resume["history"])
        self.epochs = int(resume["epochs"])
        self.step = int(resume["step"])
        self.epochs_done = int(resume["epochs_done"])
        self.start_batch = int(resume["batch"])
        if self.start_batch:
            self.order = resume["order"].to(device)
            self.loss_sum = torch.tensor(float(resume["loss_sum"]), device=device)
        self.epoch_times = list(resume["epoch_times"])
        rngs = resume["rng"]
        if len(rngs) == rank.world_size:
            restore_rng(rngs[rank.rank], self.generators)
        else:
            # Another world size: rank 0's streams, and fresh augmentation streams per rank.
            order_only = {"order": self.generators["order"]} if rank.distributed else None
            restore_rng(rngs[0], order_only or self.generators)
            if rank.distributed:
                self.generators["augment"].manual_seed(seed + 7919 * (rank.rank + 1) + self.step)
            log.warning(
                "resumed with %d processes, the checkpoint had %d", rank.world_size, len(rngs)
            )
        log.info(
            "resumed at step %d (epoch %d, batch %d)",
            self.step,
            self.epochs_done + 1,
            self.start_batch,
        )

    def snapshot(self, batch: int, rank: Rank) -> dict[str, Any] | None:
        """The training state (collective: every rank's generators are gathered); None on
        ranks other than 0."""
        rngs = rank.gather(capture_rng(self.generators))
        if not rank.is_main:
            return None
        return {
            "model": self.net.state_dict(),
            "ema": self.ema.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "schedule_total": self.schedule["total"],
            "best": self.best,
            "history": self.history,
            "epochs": self.epochs,
            "epochs_done": self.epochs_done,
            "batch": batch,
            "order": self.order.cpu() if batch else None,
            "loss_sum": float(self.loss_sum.item()) if batch else 0.0,
            "step": self.step,
            "steps_per_epoch": self.steps_per_epoch,
            "epoch_times": self.epoch_times,
            "seconds": self.seconds(),
            "world_size": rank.world_size,
            "rng": rngs,
        }


def _warmup_cosine(schedule: dict[str, float]) -> Callable[[int], float]:
    """The learning-rate factor of a step: linear warm-up, then cosine to 0 at ``total``
    (read at every step, so a re-planned ``total`` applies at once)."""

    def lr_at(step: int) -> float:
        if step < schedule["warmup"]:
            return (step + 1) / schedule["warmup"]
        frac = (step - schedule["warmup"]) / max(1.0, schedule["total"] - schedule["warmup"])
        return 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

    return lr_at


@dataclass
class TrainBatches:
    """The training patches on the device and what a batch needs besides them: labels,
    loss weights, fixed teacher targets, the normalisation and the augmentation."""

    pixels: torch.Tensor
    labels: torch.Tensor
    weights: torch.Tensor | None
    fixed_targets: torch.Tensor | None
    mean: torch.Tensor
    std: torch.Tensor
    augment: Augmenter

    @classmethod
    def build(
        cls,
        train: PatchSet,
        mean: Sequence[float],
        std: Sequence[float],
        cfg: TrainConfig,
        device: torch.device,
        teacher: nn.Module | None,
        sample_weights: np.ndarray | None,
        targets: np.ndarray | None = None,
    ) -> TrainBatches:
        pixels = torch.from_numpy(train.pixels).to(device)
        if targets is not None:  # probability targets in [0, 1] instead of the 0/1 labels
            if len(targets) != len(train):
                raise ValueError(f"{len(targets)} targets for {len(train)} patches")
            labels = torch.from_numpy(np.asarray(targets, dtype=np.float32)).to(device)
        else:
            labels = torch.from_numpy(train.labels).float().to(device)
        fixed_targets = None
        if teacher is not None and cfg.teacher_tta:
            # The teacher outputs P(tumour): with tta, predict_logits gives its 8-view mean.
            # A teacher with an input codec the student lacks sees that codec's output.
            prepare = getattr(teacher, "prepare_pixels", None)
            teacher_pixels = prepare(train.pixels) if prepare is not None else train.pixels
            teacher_p = predict_logits(teacher, teacher_pixels, mean, std, device, tta=True)
            fixed_targets = torch.from_numpy(teacher_p).to(device)
            log.info("teacher targets: 8-view means of %d training patches", len(fixed_targets))
        weights = None
        if sample_weights is not None:
            if len(sample_weights) != len(train):
                raise ValueError(f"{len(sample_weights)} sample weights for {len(train)} patches")
            weights = torch.from_numpy(np.asarray(sample_weights, dtype=np.float32)).to(device)
        return cls(
            pixels=pixels,
            labels=labels,
            weights=weights,
            fixed_targets=fixed_targets,
            mean=torch.tensor(mean, device=device),
            std=torch.tensor(std, device=device),
            augment=Augmenter(cfg.augment),
        )

    def __len__(self) -> int:
        return len(self.labels)


class CheckpointSaver:
    """Keeps the best EMA weights by held-out AUC and hands the training state to the
    checkpoint hook (at the end of every epoch, and when training stops early)."""

    def __init__(self, checkpoint: Callable[[dict[str, Any]], None] | None, rank: Rank) -> None:
        self.checkpoint = checkpoint
        self.rank = rank

    def consider(self, state: TrainState, epoch: int, metrics: dict[str, Any]) -> None:
        """Keep a copy of the EMA weights when ``metrics`` beat the best AUC so far."""
        if metrics["auc"] > state.best["auc"]:
            state.best = {
                "auc": metrics["auc"],
                "epoch": epoch,
                "state": copy.deepcopy(state.ema.model.state_dict()),
            }

    def save(self, state: TrainState, batch: int) -> None:
        """Checkpoint ``state``, ``batch`` batches into the next epoch (collective)."""
        if self.checkpoint is not None:
            snapshot = state.snapshot(batch, self.rank)
            if snapshot is not None:
                self.checkpoint(snapshot)


def _stop_requested(state: TrainState, hooks: TrainHooks, rank: Rank, device: torch.device) -> bool:
    flag = hooks.stop is not None and hooks.stop.cancelled
    flag = flag or (hooks.stop_after_steps is not None and state.step >= hooks.stop_after_steps)
    return rank.any(flag, device)


def train_one_epoch(
    state: TrainState,
    model: nn.Module,
    data: TrainBatches,
    cfg: TrainConfig,
    device: torch.device,
    rank: Rank,
    hooks: TrainHooks,
    saver: CheckpointSaver,
    teacher: nn.Module | None = None,
) -> float | None:
    """One epoch's optimiser steps (from ``state.start_batch``, when resumed mid-epoch); the
    epoch's mean training loss over all ranks, or None when a stop was requested within the
    epoch (the state is then checkpointed at that batch)."""
    epoch = state.epochs_done + 1
    net = state.net
    net.train()
    if cfg.freeze_bn_stats:
        for module in net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    if state.start_batch == 0:
        order_gen = state.order_generator
        order = torch.randperm(len(data), device=order_gen.device, generator=order_gen)
        state.order = order.to(device)
        state.loss_sum = torch.zeros((), device=device)
    gen = state.generators["augment"]
    amp = device.type == "cuda"
    steps = state.steps_per_epoch
    for b in range(state.start_batch, steps):
        idx = rank.shard(state.order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
        x = to_input(data.pixels[idx], data.mean, data.std, data.augment, gen)
        y = data.labels[idx]
        target = y * (1 - cfg.label_smoothing) + 0.5 * cfg.label_smoothing
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            z = model(x).float()
            w = data.weights[idx] if data.weights is not None else None
            loss = F.binary_cross_entropy_with_logits(z, target, weight=w)
            if teacher is not None:
                if data.fixed_targets is not None:
                    soft = data.fixed_targets[idx]
                else:
                    with torch.no_grad():
                        soft = teacher(x).float()  # calibrated P(tumour)
                kd = F.binary_cross_entropy_with_logits(z, soft)
                loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * kd
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.scheduler.step()
        state.ema.update(net, state.step)
        state.step += 1
        state.loss_sum += loss.detach()
        if hooks.on_step is not None and rank.is_main:
            total = state.epochs * steps
            hooks.on_step(
                StepInfo(epoch, state.epochs, b + 1, steps, state.step, total, loss.detach())
            )
        if b + 1 < steps and _stop_requested(state, hooks, rank, device):
            saver.save(state, b + 1)
            return None
    state.start_batch = 0
    return float(rank.mean(state.loss_sum).item()) / steps


def validate(
    net: nn.Module,
    holdout: PatchSet,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
) -> dict[str, float]:
    """Held-out AUC, accuracy and ECE of ``net`` (single view, no temperature)."""
    z = predict_logits(net, holdout.pixels, mean, std, device)
    return summarise(sigmoid(z), holdout.labels)


def _replan(state: TrainState, cfg: TrainConfig, rank: Rank, epoch: int) -> None:
    """Re-plan after every epoch (the machine may be shared): as many epochs as fit in the
    time left at the recent pace, never more than asked; the cosine schedule stretches or
    shrinks to the new total. Rank 0 decides for all."""
    assert cfg.max_minutes
    left = cfg.max_minutes * 60 - state.seconds()
    pace = float(np.median(state.epoch_times[-3:])) * 1.05
    planned = rank.broadcast(min(cfg.epochs, epoch + max(0, int(left // pace))))
    if planned != state.epochs:
        log.info(
            "re-planned: %d epochs in total (%.0fs left, %.0fs per epoch)", planned, left, pace
        )
        state.epochs = planned
        state.schedule["total"] = state.epochs * state.steps_per_epoch


def _stopped(state: TrainState) -> TrainResult:
    """The result of a run stopped early on request: the EMA at the stopping point."""
    log.info(
        "stopped at step %d (epoch %d, %d epochs done)",
        state.step,
        state.epochs_done + 1,
        state.epochs_done,
    )
    seconds = state.seconds()
    net_out = copy.deepcopy(state.ema.model).float().cpu()
    best_epoch = int(state.best["epoch"])
    return TrainResult(
        net_out, best_epoch, state.history, seconds, state.epochs_done, state.step, True
    )


def _finished(state: TrainState) -> TrainResult:
    """The result of a finished run: the best EMA weights (the last without a hold-out)."""
    seconds = state.seconds()
    best, epochs = state.best, state.epochs
    if best["state"] is not None:
        state.ema.model.load_state_dict(best["state"])
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
    network = state.ema.model.float().cpu()
    return TrainResult(network, int(best["epoch"]), state.history, seconds, epochs, state.step)


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
    targets: np.ndarray | None = None,
    hooks: TrainHooks | None = None,
    resume: dict[str, Any] | None = None,
    rank: Rank | None = None,
) -> TrainResult:
    """Train ``net`` on ``train``; select the EMA checkpoint with the best held-out AUC.

    ``sample_weights`` (one per training patch) weight each patch's loss (weighted mean over
    the batch); without them every patch counts once. ``targets`` (one probability per
    training patch) replace the 0/1 labels as the cross-entropy's targets: a patch whose
    target is another model's P(tumour) is distilled from it. With an empty ``holdout`` there is no
    selection: the final EMA is returned.

    The training state passed to ``hooks.checkpoint`` (:meth:`TrainState.snapshot`: tensors,
    numbers and lists only) holds the model, EMA, optimiser and scheduler states, the best EMA
    so far, the history, the position (``epochs_done``, ``batch`` within the next epoch, that
    epoch's ``order``), the step counter and every random generator's state (per rank). Given
    back as ``resume``, training continues at the same step and, with the same data, settings
    and world size, ends with the same weights as an uninterrupted run (to float rounding).

    Under torchrun (``rank`` distributed) the network is wrapped in DistributedDataParallel,
    every rank draws the same permutation each epoch and trains on its share of each global
    batch (:meth:`Rank.shard`); held-out evaluation and checkpoint selection run on rank 0.

    The loop is :func:`train_one_epoch`, :func:`validate` and a :class:`CheckpointSaver`
    around one :class:`TrainState`.
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
    state = TrainState.start(net, cfg, len(train), device, seed, rank)
    data = TrainBatches.build(train, mean, std, cfg, device, teacher, sample_weights, targets)
    model: nn.Module = net
    if rank.distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None
        )
    seconds_before = 0.0
    if resume is not None:
        state.restore(resume, rank, seed, device)
        seconds_before = float(resume["seconds"])
    state.t_start = time.perf_counter() - seconds_before
    saver = CheckpointSaver(hooks.checkpoint, rank)
    while state.epochs_done < state.epochs:
        epoch = state.epochs_done + 1
        t0 = time.perf_counter()
        train_loss = train_one_epoch(state, model, data, cfg, device, rank, hooks, saver, teacher)
        if train_loss is None:
            return _stopped(state)
        epoch_s = time.perf_counter() - t0
        state.epoch_times.append(epoch_s)
        if cfg.max_minutes:
            _replan(state, cfg, rank, epoch)
        row: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": round(train_loss, 5),
            "lr": state.optimizer.param_groups[0]["lr"],
            "seconds": round(epoch_s, 2),
        }
        evaluate = epoch % cfg.eval_every == 0 or epoch == state.epochs
        if evaluate and rank.is_main and len(holdout):
            row["holdout"] = validate(state.ema.model, holdout, mean, std, device)
            saver.consider(state, epoch, row["holdout"])
        state.history.append(row)
        state.epochs_done = epoch
        if rank.is_main:
            log.info("epoch %d/%d %s", epoch, state.epochs, json.dumps(row))
            if hooks.on_epoch is not None:
                hooks.on_epoch(row)
        saver.save(state, 0)
        if state.epochs_done < state.epochs and _stop_requested(state, hooks, rank, device):
            return _stopped(state)
    return _finished(state)
