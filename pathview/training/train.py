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
its argument groups, ``load_data``, ``model_metadata``, ``export_model``) are plain functions
that ``training/retrain.py`` (fine-tuning on reviews) reuses, as it does the training loop
(:func:`pathview.training.loop.train_model`, which also takes per-sample loss weights, a
checkpoint/resume state, progress and stop hooks and a rank for torchrun).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

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
from pathview.training.data import (
    PatchSet,
    channel_stats,
    holdout_mask_of_parts,
    load_folder,
    through_codec,
)
from pathview.training.loop import TrainConfig, TrainResult, predict_logits, train_model

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
        "--no-input-codec",
        action="store_true",
        help="no input codec, even when the --parent / --init-from model has one (a teacher "
        "with a codec still sees its codec's output: its targets need --teacher-tta)",
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
    if getattr(args, "no_input_codec", False):
        if quality is not None:
            raise SystemExit("give --input-jpeg-quality or --no-input-codec, not both")
        return None
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
    mask = holdout_mask_of_parts(
        parts, args.holdout_split, args.holdout_fraction, args.seed, args.holdout_split_fraction
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

    Teachers whose input codec the student lacks (``student_codec``) see their codec's
    output, as when they score: :attr:`pixel_codec` is that codec, applied to the uint8
    patches by :meth:`prepare_pixels` before they are normalised (so only for targets
    computed once from the stored patches, ``--teacher-tta``). All teachers must share it.
    """

    def __init__(
        self,
        model_dirs: Sequence[Path],
        mean: Sequence[float],
        std: Sequence[float],
        student_codec: InputCodec | None = None,
    ) -> None:
        super().__init__()
        from pathview.model.classifier import fold_batchnorm

        if not model_dirs:
            raise ValueError("a teacher needs at least one model directory")
        s_mean = torch.tensor(list(mean), dtype=torch.float32)
        s_std = torch.tensor(list(std), dtype=torch.float32)
        nets: list[nn.Module] = []
        temperatures = []
        codecs = set()
        for i, model_dir in enumerate(model_dirs):
            net, meta = load_network(model_dir)
            codecs.add(meta.codec)
            nets.append(fold_batchnorm(net.eval()))
            temperatures.append(float(meta.temperature))
            t_mean = torch.tensor(meta.normalisation.mean, dtype=torch.float32)
            t_std = torch.tensor(meta.normalisation.std, dtype=torch.float32)
            # Per-model buffers of rank 4, so .to(memory_format=...) applies to them.
            self.register_buffer(f"scale{i}", (s_std / t_std).view(1, 3, 1, 1))
            self.register_buffer(f"shift{i}", ((s_mean - t_mean) / t_std).view(1, 3, 1, 1))
        self.nets = nn.ModuleList(nets)
        self.temperatures = temperatures
        if len(codecs) > 1:
            raise ValueError(
                "the teachers have different input codecs: "
                + ", ".join(sorted(c.describe() if c else "none" for c in codecs))
            )
        codec = codecs.pop()
        if codec is not None and student_codec is not None and codec != student_codec:
            raise ValueError(
                f"the teachers' input codec {codec.describe()} differs from the student's "
                f"{student_codec.describe()}"
            )
        #: The codec the patches go through for the teachers alone (None: they see the
        #: student's patches).
        self.pixel_codec: InputCodec | None = codec if codec != student_codec else None

    def prepare_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """The stored uint8 patches as the teachers see them (:attr:`pixel_codec`)."""
        return through_codec(pixels, self.pixel_codec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = []
        for i, (net, t) in enumerate(zip(self.nets, self.temperatures, strict=True)):
            scale, shift = getattr(self, f"scale{i}"), getattr(self, f"shift{i}")
            probs.append(torch.sigmoid(net(x * scale + shift).float() / t))
        return torch.stack(probs).mean(0)


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
    scales: list[float | None] = []
    if args.init_from is not None:
        init_meta = read_metadata(args.init_from)
        scales.append(init_meta.microns_per_pixel)
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
        scales.insert(0, parent_meta.microns_per_pixel)
    training = {
        "data": data.train.sources,
        "n_train": len(data.train),
        "n_heldout": len(data.holdout),
        "heldout": f"split == {args.holdout_split!r} (else a seeded "
        f"{args.holdout_fraction:.0%} sample)"
        + (
            f", {args.holdout_split_fraction:.0%} of them, drawn from each source on its own"
            if args.holdout_split_fraction < 1
            else ""
        )
        + "; used for checkpoint selection and "
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
        next((m for m in scales if m), None),
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
    microns_per_pixel: float | None = None,
) -> ModelMetadata:
    """The model.json content every training script writes (write_model_dir adds weights).

    Architecture, input size and resize policy, normalisation, classes, output and temperature,
    Grad-CAM layers, the parent model (None for a model trained from scratch) and what it was
    trained on; ``validation`` starts empty and is filled in by the caller. With ``codec``,
    the input codec every patch goes through before normalisation (``input_codec``). With
    ``microns_per_pixel``, the scale its patches were seen at (a model inherits it from the
    weights it started from; without one, slides are tiled at PCam's).
    """
    return ModelMetadata(
        format_version=FORMAT_VERSION,
        name=name,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        architecture=Architecture.of(net.config, sum(p.numel() for p in net.parameters())),
        input_size=96,
        microns_per_pixel=microns_per_pixel,
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
        teacher = Teacher(args.teacher, data.mean, data.std, data.codec)
        if teacher.pixel_codec is not None and not args.teacher_tta:
            raise SystemExit(
                f"the teachers' input codec {teacher.pixel_codec.describe()} is not the "
                "student's: give --teacher-tta (targets from the stored patches)"
            )
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
        {
            "data": "held-out part of the training sources, drawn from each on its own",
            **heldout,
        },
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
