"""Retrain the patch classifier on pathologists' reviews and write a new model directory.

    python -m pathview.training.retrain --images FOLDER [--labels CSV] [--reviews STORE_OR_LOG] \\
        --run-dir runs/NAME                       (also installed as ``pathview-train``)
    python -m pathview.training.retrain --resume runs/NAME  (after Ctrl+C, SIGTERM or a crash)
    torchrun --nproc-per-node 4 -m pathview.training.retrain ...   (several GPUs or nodes)

1. Reviews (review stores, exported review logs, or the store of each ``--images`` folder) give
   each reviewed patch a training label (``training/review_labels.py``): agree confirms the
   model's call, disagree flips it, unsure is left out; several reviewers are combined by
   ``--rule`` and an adjudication overrides the rule. Each reviewed patch is found in the image
   folders by id and its pixels must still hash to the SHA-1 recorded with the review; any
   mismatch stops the run (exit status 2) with the list of ids.
2. Labelled patches (labels CSVs, or each folder's ``labels.csv``) that nobody reviewed are the
   rest of the training data. A fixed validation set, never trained on, is ``--val-images``
   or a seeded fraction of the labelled, non-reviewed patches; its ids are recorded in the run
   folder and in the new model directory, and a later run fine-tuning that model uses the same
   ids. Reviewed patches are never validation patches: a review always trains.
3. The parent model (the bundled one unless ``--parent``) is fine-tuned, or a new network is
   trained with ``--from-scratch``; reviewed patches weigh ``--review-weight`` in the loss.
4. The parent and the new model are scored on the validation set with the app's own inference
   and AUC, accuracy and ECE are printed side by side; the new model directory records its
   parent, the reviews it learnt from and both sets of metrics.

Progress shows epochs, batches and ETA. Ctrl+C or SIGTERM stops after the current step with a
checkpoint (also written after every epoch); ``--resume RUN_DIR`` continues from it at the same
step. Under torchrun every process trains on its share of each batch (DistributedDataParallel,
NCCL on GPUs, gloo on CPUs); only rank 0 writes and logs. See docs/RETRAINING.md.

This module is the command (arguments, run folder, signals, orchestration); what it trains and
validates on is ``training/retrain_inputs.py``, the evaluation and report
``training/retrain_report.py``, the model pieces ``training/train.py`` and the training loop
itself ``training/loop.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

from pathview.core import CancelToken
from pathview.io import FolderError, LabelsError
from pathview.model import ModelLoadError, default_model_dir, read_metadata
from pathview.model.bundle import sha256_file, write_metadata
from pathview.model.codec import InputCodec
from pathview.model.metadata import ModelMetadata
from pathview.model.network import NetConfig, PatchNet, count_parameters
from pathview.model.quantised import int8_unavailable
from pathview.model.runtime import tune_malloc
from pathview.stats import fit_temperature, fit_temperature_to, soft_nll
from pathview.store import StoreError
from pathview.training.checkpoint import (
    CHECKPOINT_FILE,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from pathview.training.data import PatchSet, channel_stats, through_codec
from pathview.training.distributed import Rank, init_distributed, shutdown_distributed
from pathview.training.loop import TrainConfig, TrainHooks, TrainResult, predict_logits, train_model
from pathview.training.progress import Progress, ProgressLogHandler
from pathview.training.quantise import write_int8
from pathview.training.retrain_inputs import (
    VALIDATION_IDS_FILE,
    Inputs,
    RetrainError,
    on_main,
    prepare_inputs,
    write_text,
)
from pathview.training.retrain_report import (
    evaluate_model,
    judge,
    reviews_metadata,
    score_model,
    summary_text,
)
from pathview.training.train import (
    ARCHITECTURES,
    Teacher,
    add_augmentation_args,
    add_optimisation_args,
    device_name,
    export_model,
    load_network,
    model_metadata,
    pick_device,
    seed_everything,
    temperature_record,
)

log = logging.getLogger("pathview.training.retrain")

#: Exit status when the input is refused (pixel mismatch, missing images, no data, bad args).
EXIT_REFUSED = 2
#: Files of a run folder.
ARGS_FILE = "args.json"
HISTORY_FILE = "history.jsonl"
LOG_FILE = "retrain.log"
SUMMARY_FILE = "summary.txt"
#: Patches the int8 weights of a retrained model are quantised on (at most).
INT8_SAMPLE = 1024
#: Options that may differ on --resume (they change where and how fast it runs, not what).
RUNTIME_OPTIONS = ("device", "threads", "decode_workers", "progress", "dist_backend")
#: --rule values: "drop" is a name for "unanimous" (patches reviewers disagree on are dropped).
RULES = {"latest": "latest", "majority": "majority", "unanimous": "unanimous", "drop": "unanimous"}
#: Defaults that depend on fine-tuning vs training from scratch: (fine-tune, from scratch).
MODE_DEFAULTS: dict[str, tuple[float, float]] = {
    "epochs": (5, 30),
    "lr": (3e-4, 2e-3),
    "warmup_epochs": (0.5, 1.0),
}


# ----------------------------------------------------------------------------- arguments


def build_parser() -> argparse.ArgumentParser:
    """The command line, in argument groups."""
    p = argparse.ArgumentParser(
        prog="pathview-train",
        description=(__doc__.split("\n")[0] if __doc__ else "")
        + " (also run as: python -m pathview.training.retrain)",
        epilog="See docs/RETRAINING.md for the label rule, the validation set and torchrun.",
        allow_abbrev=False,
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--images",
        action="append",
        type=Path,
        metavar="DIR",
        help="image folder (repeatable): reviewed and labelled patches are looked up by id here",
    )
    g.add_argument(
        "--labels",
        action="append",
        type=Path,
        metavar="CSV",
        default=[],
        help="labels CSV id,label (repeatable; ids are matched across all --images folders)",
    )
    g.add_argument(
        "--reviews",
        action="append",
        type=Path,
        metavar="SOURCE",
        default=[],
        help="review store (.sqlite), exported review log (.csv) or a folder with a store "
        "(repeatable; merged by event, so a store and its own log count once)",
    )
    g.add_argument(
        "--no-discover",
        action="store_true",
        help="do not pick up each --images folder's labels.csv and review store when no "
        "--labels / --reviews are given",
    )
    g.add_argument(
        "--rule",
        choices=sorted(RULES),
        default="latest",
        help="how reviewers who disagree are combined: latest review wins, majority, or "
        "unanimous/drop (patches they disagree on are left out); adjudications override",
    )
    g.add_argument(
        "--review-weight",
        type=float,
        default=1.0,
        help="loss weight of a reviewed patch (labels-CSV patches weigh 1)",
    )
    g.add_argument(
        "--allow-missing",
        action="store_true",
        help="go on when a reviewed patch's image is not in --images (default: refuse)",
    )
    g.add_argument(
        "--distil-unreviewed",
        type=int,
        default=10000,
        metavar="N",
        help="train also on up to N of the folders' unlabelled, unreviewed patches with the "
        "parent's 8-view P as target (distillation: the new model keeps what the parent "
        "knew where no review says otherwise), a fifth of them kept out to refit the "
        "temperature; 0 turns it off (default 10000)",
    )
    g.add_argument(
        "--distil-weight",
        type=float,
        default=1.0,
        help="loss weight of a distilled (unreviewed) patch (default 1)",
    )
    g.add_argument("--recursive", action="store_true", help="walk sub-folders of --images")
    g.add_argument("--decode-workers", type=int, default=min(8, os.cpu_count() or 1))
    g = p.add_argument_group("validation (never trained on)")
    g.add_argument("--val-images", type=Path, metavar="DIR", help="validation folder")
    g.add_argument("--val-labels", type=Path, metavar="CSV", help="labels CSV of --val-images")
    g.add_argument(
        "--val-ids",
        type=Path,
        metavar="FILE",
        help="validation ids: a text file (one id a line), a run's split.json or a model "
        "directory with validation_ids.txt (default: the parent model's, if it has them)",
    )
    g.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="seeded fraction of the labelled, non-reviewed patches used for validation",
    )
    g.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.1,
        help="seeded fraction of the remaining labelled, non-reviewed patches held out for "
        "checkpoint selection and temperature scaling (0: last epoch, parent's temperature)",
    )
    g.add_argument(
        "--min-holdout",
        type=int,
        default=200,
        help="hold nothing out when fewer patches than this would be held out: they train, "
        "the last epoch is kept with the parent's temperature (a few patches cannot select "
        "a checkpoint or fit a temperature)",
    )
    g.add_argument("--no-validation", action="store_true", help="train without a validation set")
    g.add_argument(
        "--eval-tta",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also evaluate with the 8-view TTA, and judge the new model on its TTA AUC "
        "(default; --no-eval-tta: single view only)",
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "--parent",
        type=Path,
        metavar="MODEL_DIR",
        help="model directory to fine-tune (default: the bundled model); with --from-scratch "
        "the baseline it is compared with",
    )
    g.add_argument("--from-scratch", action="store_true", help="train a new network")
    g.add_argument("--arch", default="pv-small", choices=sorted(ARCHITECTURES))
    g.add_argument("--dropout", type=float, default=0.0, help="with --from-scratch")
    g.add_argument(
        "--bn-stats",
        choices=("auto", "freeze", "update"),
        default="auto",
        help="BatchNorm running statistics: keep the parent's (freeze) or re-estimate them "
        "(update); auto freezes when fine-tuning, updates from scratch",
    )
    add_optimisation_args(p, epochs=None, lr=None, warmup_epochs=None)
    add_augmentation_args(p)
    g = p.add_argument_group("run")
    g.add_argument(
        "--run-dir",
        type=Path,
        metavar="RUN_DIR",
        help="run folder (logs, checkpoint, split, model)",
    )
    g.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run")
    g.add_argument(
        "--export",
        type=Path,
        metavar="MODEL_DIR",
        help="model directory to write (default RUN/model)",
    )
    g.add_argument("--name", help="model name (default: the run folder's name)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto|cpu|cuda|mps")
    g.add_argument("--threads", type=int, help="torch CPU threads")
    g.add_argument(
        "--dist-backend",
        default="auto",
        choices=("auto", "nccl", "gloo"),
        help="under torchrun: NCCL on GPUs, gloo on CPUs (auto)",
    )
    g.add_argument(
        "--progress",
        default="auto",
        choices=("auto", "bar", "log"),
        help="one redrawn line on a terminal (auto), or log lines",
    )
    g.add_argument(
        "--stop-after-steps",
        type=int,
        metavar="N",
        help="stop after this many optimiser steps as if interrupted (for testing resume)",
    )
    return p


def _absolute(value: Any, base: Path) -> Any:
    if isinstance(value, Path) and not value.is_absolute():
        return base / value
    if isinstance(value, list):
        return [_absolute(v, base) for v in value]
    return value


def without_option(argv: Sequence[str], option: str) -> list[str]:
    """``argv`` without ``option`` and its value (``--opt V`` or ``--opt=V``)."""
    out: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
        elif item == option:
            skip = True
        elif not item.startswith(option + "="):
            out.append(item)
    return out


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; with --resume, the run's own arguments plus runtime options.

    Relative paths are made absolute (a run can be resumed from another directory). The
    fine-tune / from-scratch defaults of epochs, lr and warm-up are filled in.
    """
    parser = build_parser()
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(raw)
    if args.resume is not None:
        run_dir = args.resume.resolve()
        try:
            saved = json.loads((run_dir / ARGS_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            parser.error(f"--resume: {run_dir} is not a retraining run folder ({exc})")
        given = [
            name
            for name, value in vars(args).items()
            if name not in (*RUNTIME_OPTIONS, "resume", "stop_after_steps")
            and value != parser.get_default(name)
        ]
        if given:
            parser.error(
                "--resume continues a run with its own arguments; only --"
                + ", --".join(n.replace("_", "-") for n in (*RUNTIME_OPTIONS, "stop_after_steps"))
                + f" may be given with it (got --{given[0].replace('_', '-')})"
            )
        resumed = parser.parse_args(saved["argv"])
        for name in RUNTIME_OPTIONS:
            if getattr(args, name) != parser.get_default(name):
                setattr(resumed, name, getattr(args, name))
        base = Path(saved["cwd"])
        for name, value in vars(resumed).items():
            setattr(resumed, name, _absolute(value, base))
        resumed.stop_after_steps = args.stop_after_steps
        resumed.resume = run_dir
        resumed.run_dir = run_dir
        resumed.argv = saved["argv"]
        args = resumed
    else:
        if not args.images:
            parser.error("give at least one --images folder (or --resume RUN_DIR)")
        if args.run_dir is None:
            parser.error("give --run-dir (the run folder to write)")
        cwd = Path.cwd()
        for name, value in vars(args).items():
            setattr(args, name, _absolute(value, cwd))
        args.argv = without_option(raw, "--stop-after-steps")
    if args.val_images is not None and args.val_labels is None:
        parser.error("--val-images needs --val-labels")
    mode = 1 if args.from_scratch else 0
    for name, choices in MODE_DEFAULTS.items():
        if getattr(args, name) is None:
            value = choices[mode]
            setattr(args, name, int(value) if name == "epochs" else value)
    args.rule = RULES[args.rule]
    if args.bn_stats == "auto":
        args.bn_stats = "update" if args.from_scratch else "freeze"
    args.freeze_bn_stats = args.bn_stats == "freeze"
    args.name = args.name or args.run_dir.name
    return args


# ----------------------------------------------------------------------------- running


# ----------------------------------------------------------------------------- evaluation


# ----------------------------------------------------------------------------- main


@dataclass
class StopSignal:
    """Turns the first SIGINT / SIGTERM into a checkpointed stop; a second SIGINT aborts."""

    token: CancelToken = field(default_factory=CancelToken)
    signum: int = 0
    quiet: bool = False  # ranks other than 0 stop without saying so
    _previous: dict[int, Any] = field(default_factory=dict)

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.token.cancelled and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        self.token.cancel()
        if self.quiet:
            return
        log.warning(
            "%s: stopping after this step and writing a checkpoint (Ctrl+C again aborts)",
            signal.Signals(signum).name,
        )

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignal]:
        if threading.current_thread() is not threading.main_thread():
            yield self  # signal handlers can only be set on the main thread
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[int(signum)] = signal.signal(signum, self.handle)
        try:
            yield self
        finally:
            for number, previous in self._previous.items():
                signal.signal(number, previous)

    @property
    def exit_status(self) -> int:
        return 128 + (self.signum or signal.SIGINT)


@contextlib.contextmanager
def run_logging(args: argparse.Namespace, rank: Rank, progress: Progress) -> Iterator[None]:
    """Rank 0 logs to RUN/retrain.log and stderr (under the progress line); others warn only."""
    logger = logging.getLogger("pathview.training")
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = []
    if rank.is_main:
        args.run_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(args.run_dir / LOG_FILE, encoding="utf-8"))
        handlers.append(ProgressLogHandler(progress))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter(f"[rank {rank.rank}] %(levelname)s: %(message)s"))
        handlers.append(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    for h in handlers:
        if h.formatter is None:
            h.setFormatter(fmt)
        logger.addHandler(h)
    try:
        yield
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()
        logger.setLevel(old_level)


def start_run_folder(args: argparse.Namespace) -> None:
    """Refuse to start over a run that has a checkpoint; write args.json for a new run."""
    if args.resume is None and (args.run_dir / CHECKPOINT_FILE).is_file():
        raise RetrainError(
            f"{args.run_dir} already holds a run: continue it with --resume "
            f"{args.run_dir}, or choose another --run-dir"
        )
    log.info("run folder %s (arguments in %s)", args.run_dir, ARGS_FILE)
    path = args.run_dir / ARGS_FILE
    if args.resume is not None and path.is_file():
        return
    content = {
        "argv": args.argv,
        "cwd": str(Path.cwd()),
        "arguments": json.loads(json.dumps(vars(args), default=str)),
    }
    write_text(path, json.dumps(content, indent=2) + "\n")


def build_network(args: argparse.Namespace, parent_dir: Path | None) -> PatchNet:
    if args.from_scratch or parent_dir is None:
        cfg = ARCHITECTURES[args.arch]
        return PatchNet(NetConfig(stem=cfg.stem, stages=cfg.stages, dropout=args.dropout))
    net, _ = load_network(parent_dir)
    return net


def int8_sample(pixels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded random sample of up to INT8_SAMPLE patches (in their order) to quantise on."""
    pick = np.random.default_rng(seed).permutation(len(pixels))[:INT8_SAMPLE]
    return pixels[np.sort(pick)]


def refit_temperature(
    args: argparse.Namespace,
    inputs: Inputs,
    net: PatchNet,
    parent_meta: ModelMetadata | None,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
) -> tuple[float, dict[str, Any]]:
    """The new model's temperature and its calibration record.

    Fitted on the held-out labelled patches when there are enough of both classes; else, when
    unreviewed patches were kept out of training, fitted so the new model's P on them matches
    the parent's calibrated 8-view P (fine-tuning on a few hundred hard labels makes a network
    over-confident; this brings its confidence back to the parent's measured calibration);
    else the parent's temperature is kept.
    """
    kept = float(parent_meta.temperature) if parent_meta and not args.from_scratch else 1.0
    record: dict[str, Any] = {
        "method": "none: no held-out patches of both classes to fit a temperature on",
        "fitted_on": "kept the parent's temperature" if not args.from_scratch else "T = 1",
    }
    holdout = inputs.holdout
    if len(holdout) and len(set(holdout.labels.tolist())) == 2:
        z_hold = predict_logits(net, holdout.pixels, mean, std, device)
        fitted = fit_temperature(z_hold, holdout.labels)
        if 0.06 < fitted < 19.0:
            where = f"held-out labelled, non-reviewed patches ({len(holdout)})"
            return fitted, temperature_record(z_hold, holdout.labels, fitted, where)
        # at the search bound: the held-out logits are (nearly) separable
        log.warning("temperature fit ran to its bound (%.3f): kept T = %.4f", fitted, kept)
        record["method"] = f"none: the fit ran to its bound ({fitted:.3f})"
        return kept, record
    calib, target = inputs.calibration, inputs.calibration_targets
    if calib is not None and target is not None and len(calib):
        z = predict_logits(net, calib.pixels, mean, std, device)
        fitted = fit_temperature_to(z, target)
        if 0.06 < fitted < 19.0:
            log.info("temperature %.4f fitted to the parent's P on %d patches", fitted, len(calib))
            return fitted, {
                "method": "temperature scaling to the parent's calibrated 8-view P (soft NLL)",
                "fitted_on": f"unreviewed patches of the folders never trained on ({len(calib)})",
                "nll_before": round(soft_nll(z, target), 5),
                "nll_after": round(soft_nll(z, target, fitted), 5),
            }
        log.warning("temperature fit ran to its bound (%.3f): kept T = %.4f", fitted, kept)
    return kept, record


def finish(
    args: argparse.Namespace,
    rank: Rank,
    device: torch.device,
    inputs: Inputs,
    result: TrainResult,
    parent_dir: Path | None,
    parent_meta: ModelMetadata | None,
    mean: Sequence[float],
    std: Sequence[float],
    codec: InputCodec | None = None,
    int8_pixels: np.ndarray | None = None,
) -> Path:
    """Rank 0: temperature, metadata, export, parent-vs-new evaluation, the printed table.

    ``codec``: the input codec the training patches went through (kept in the new model);
    ``int8_pixels``: the patches to quantise on, before the codec (the classifier applies it),
    by default :func:`int8_sample` of the training patches.
    """
    net = result.network.to(device)
    assert isinstance(net, PatchNet)
    holdout = inputs.holdout
    temperature, calibration = refit_temperature(args, inputs, net, parent_meta, mean, std, device)
    parent_entry = None
    if parent_meta is not None and not args.from_scratch:
        parent_entry = {
            "name": parent_meta.name,
            "sha256": parent_meta.model_id,
            "path": str(parent_dir),
        }
    training = {
        "data": inputs.train.sources,
        "labels_csvs": [str(p) for p in inputs.label_csvs],
        "n_train": len(inputs.train),
        "n_reviewed": inputs.n_reviewed_train,
        "n_labelled": len(inputs.train) - inputs.n_reviewed_train,
        "review_weight": args.review_weight,
        "n_distilled": len(inputs.anchors) if inputs.anchors is not None else 0,
        "n_calibration": len(inputs.calibration) if inputs.calibration is not None else 0,
        "n_heldout": len(holdout),
        "heldout": f"a seeded {args.holdout_fraction:.0%} of the labelled, non-reviewed, "
        "non-validation patches; checkpoint selection and temperature scaling only",
        "from_scratch": bool(args.from_scratch),
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch,
        "steps": result.step,
        "minutes": round(result.seconds / 60, 2),
        "device": device_name(device),
        "world_size": rank.world_size,
        "backend": rank.backend or None,
        "torch": torch.__version__,
        "seed": args.seed,
        "run_dir": str(args.run_dir),
        "arguments": json.loads(json.dumps(vars(args), default=str)),
    }
    meta = model_metadata(
        net,
        args.name,
        mean,
        std,
        temperature,
        calibration,
        parent_entry,
        training,
        codec,
        parent_meta.microns_per_pixel if parent_meta is not None else None,
    )
    meta.reviews = reviews_metadata(inputs, args)
    export_dir = args.export or args.run_dir / "model"
    export_dir.mkdir(parents=True, exist_ok=True)
    val = inputs.val
    if val is not None:
        write_text(export_dir / VALIDATION_IDS_FILE, "".join(f"{pid}\n" for pid in val.ids))
    meta = export_model(export_dir, net.cpu(), meta)
    if int8_unavailable() is None:
        # CPUs score in int8: quantise on (a seeded sample of) the patches trained on.
        if int8_pixels is None:
            int8_pixels = int8_sample(inputs.train.pixels, args.seed)
        meta.int8 = write_int8(
            export_dir,
            int8_pixels,
            {
                "data": "a seeded random sample of this run's training patches",
                "n": len(int8_pixels),
                "seed": args.seed,
            },
        )
    parent_metrics = None
    if val is not None:
        new_scores = score_model(export_dir, val, device, args.eval_tta)
        new_metrics = new_scores.metrics(val.labels)
        if meta.int8 is not None:  # int8 runs on the CPU, whatever device trained
            new_metrics["int8"] = evaluate_model(
                export_dir, val, torch.device("cpu"), args.eval_tta, precision="int8"
            )
        if parent_dir is not None:
            try:
                parent_scores = score_model(parent_dir, val, device, args.eval_tta)
            except ModelLoadError as exc:
                log.warning("cannot evaluate the parent model: %s", exc)
            else:
                parent_metrics = parent_scores.metrics(val.labels)
                meta.verdict = judge(parent_scores, new_scores, val.labels, inputs.val_description)
        retraining = {
            "data": {
                "description": inputs.val_description,
                "n": len(val),
                "n_tumour": int(val.labels.sum()),
                "ids_file": VALIDATION_IDS_FILE,
                "ids_sha256": sha256_file(export_dir / VALIDATION_IDS_FILE),
                "note": "never trained on by this model; reviewed patches never validate",
            },
            **new_metrics,
            "parent": None
            if parent_metrics is None
            else {
                "name": parent_meta.name if parent_meta else None,
                "sha256": parent_meta.model_id if parent_meta else None,
                "path": str(parent_dir),
                **parent_metrics,
            },
            "tool": "pathview.model.Classifier (the app's inference, temperature applied)",
        }
        meta.set_validation("retraining", retraining)
        write_metadata(export_dir, meta)
    summary = summary_text(args, inputs, meta, export_dir, parent_metrics, parent_dir)
    (args.run_dir / SUMMARY_FILE).write_text(summary + "\n", encoding="utf-8")
    sys.stdout.write(summary + "\n")
    sys.stdout.flush()
    log.info("validation %s", json.dumps(meta.validation_dict()))
    return export_dir


def run(args: argparse.Namespace, stop: StopSignal) -> int:
    """The whole retraining (every rank); returns the exit status."""
    rank, device = init_distributed(pick_device(args.device), args.dist_backend)
    stop.quiet = not rank.is_main
    tty = {"auto": None, "bar": True, "log": False}[args.progress]
    progress = Progress(tty=tty if rank.is_main else False)
    try:
        with run_logging(args, rank, progress):
            try:
                return _run(args, rank, device, stop, progress)
            except (RetrainError, FolderError, LabelsError, StoreError) as exc:
                if rank.is_main:
                    progress.close()
                    log.error("%s", exc)
                return EXIT_REFUSED
    finally:
        progress.close()
        shutdown_distributed(rank)


def _run(
    args: argparse.Namespace, rank: Rank, device: torch.device, stop: StopSignal, progress: Progress
) -> int:
    on_main(rank, lambda: start_run_folder(args))
    seed_everything(args.seed)
    tune_malloc()
    if args.threads:
        torch.set_num_threads(args.threads)
    log.info(
        "device %s, %d process(es)%s, torch %s",
        device,
        rank.world_size,
        f" ({rank.backend})" if rank.backend else "",
        torch.__version__,
    )
    parent_dir = (args.parent or default_model_dir()).resolve()
    parent_meta: ModelMetadata | None
    try:
        parent_meta = read_metadata(parent_dir)
    except ModelLoadError as exc:
        if not args.from_scratch:
            raise RetrainError(f"cannot fine-tune: {exc}") from exc
        log.warning("no baseline to compare with: %s", exc)
        parent_meta, parent_dir = None, None
    t0 = time.perf_counter()
    inputs = prepare_inputs(args, rank, parent_dir)
    log.info("data ready in %.1fs", time.perf_counter() - t0)
    if rank.any(stop.token.cancelled, device):
        return stop.exit_status
    codec = None
    if parent_meta is not None and not args.from_scratch:
        codec = parent_meta.codec  # validated when read
    int8_pixels = None
    if codec is not None:  # train as the parent scores: every patch through its codec
        log.info("input codec %s (the parent model's)", codec.describe())
        int8_pixels = int8_sample(inputs.train.pixels, args.seed)
        inputs.train.pixels = through_codec(inputs.train.pixels, codec)
        inputs.holdout.pixels = through_codec(inputs.holdout.pixels, codec)
    net = build_network(args, parent_dir)
    if args.from_scratch or parent_meta is None:
        mean, std = channel_stats(inputs.train.pixels)
    else:  # the parent's weights expect the parent's normalisation
        mean, std = parent_meta.normalisation.mean, parent_meta.normalisation.std
    train, weights, targets = inputs.train, inputs.weights, None
    if inputs.anchors is not None and parent_dir is not None and len(inputs.anchors):
        if codec is not None:
            inputs.anchors.pixels = through_codec(inputs.anchors.pixels, codec)
            if inputs.calibration is not None:
                inputs.calibration.pixels = through_codec(inputs.calibration.pixels, codec)
        train, weights, targets = with_distilled(args, inputs, parent_dir, mean, std, device)
    log.info(
        "network %s: %d parameters (%s)",
        net.config.to_dict(),
        count_parameters(net),
        "from scratch" if args.from_scratch else f"fine-tuning {parent_dir}",
    )
    fingerprint = inputs.fingerprint()
    resume = on_main(rank, lambda: read_resume_state(args, fingerprint))
    history_path = args.run_dir / HISTORY_FILE
    if rank.is_main:
        rows = resume["history"] if resume else []
        history_path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def on_epoch(row: dict[str, Any]) -> None:
        with open(history_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def checkpoint(state: dict[str, Any]) -> None:
        save_checkpoint(args.run_dir / CHECKPOINT_FILE, {**state, "fingerprint": fingerprint})

    hooks = TrainHooks(
        on_epoch=on_epoch,
        on_step=progress,
        checkpoint=checkpoint,
        stop=stop.token,
        stop_after_steps=args.stop_after_steps,
    )
    result = train_model(
        net,
        train,
        inputs.holdout,
        mean,
        std,
        TrainConfig.from_args(args),
        device,
        args.seed,
        sample_weights=weights,
        targets=targets,
        hooks=hooks,
        resume=resume,
        rank=rank,
    )
    progress.close()
    if result.interrupted:
        log.log(
            logging.WARNING if rank.is_main else logging.DEBUG,
            "stopped at step %d; the checkpoint is in %s. Continue with:\n"
            "  python -m pathview.training.retrain --resume %s",
            result.step,
            args.run_dir,
            args.run_dir,
        )
        return stop.exit_status if stop.signum else 128 + signal.SIGINT
    if rank.is_main:
        finish(
            args,
            rank,
            device,
            inputs,
            result,
            parent_dir,
            parent_meta,
            mean,
            std,
            codec,
            int8_pixels,
        )
    rank.barrier()
    return 0


def parent_probabilities(
    parent_dir: Path,
    pixels: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
) -> np.ndarray:
    """The parent's calibrated 8-view mean P(tumour) of (codec-applied) patches."""
    teacher = Teacher([parent_dir], mean, std).to(device)
    return predict_logits(teacher, pixels, mean, std, device, tta=True).astype(np.float32)


def with_distilled(
    args: argparse.Namespace,
    inputs: Inputs,
    parent_dir: Path,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
) -> tuple[PatchSet, np.ndarray, np.ndarray]:
    """The training set with the unreviewed patches added, their targets the parent's P.

    Every patch of the folder then trains once: with its reviewer's label where it was
    reviewed, with the parent's belief where it was not. That keeps the parent's knowledge
    (without its training set) and evens out the review queue's bias towards borderline
    patches: the reviewed ones are a small, weighted part of the whole folder, not all of it.
    Returns (patches, loss weights, targets).
    """
    assert inputs.anchors is not None
    anchors = inputs.anchors
    p_parent = parent_probabilities(parent_dir, anchors.pixels, mean, std, device)
    if inputs.calibration is not None:
        inputs.calibration_targets = parent_probabilities(
            parent_dir, inputs.calibration.pixels, mean, std, device
        )
    log.info(
        "distilling from the parent on %d unreviewed patches (weight %g; mean parent P %.3f)",
        len(anchors),
        args.distil_weight,
        float(p_parent.mean()),
    )
    train = PatchSet.concat([inputs.train, anchors])
    train.sources = [*inputs.train.sources, *anchors.sources]
    weights = np.concatenate(
        [inputs.weights, np.full(len(anchors), args.distil_weight, np.float32)]
    ).astype(np.float32)
    targets = np.concatenate([inputs.train.labels.astype(np.float32), p_parent])
    return train, weights, targets


def read_resume_state(args: argparse.Namespace, fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint to continue from (None for a new run); refuses one of other data."""
    if args.resume is None:
        return None
    path = args.run_dir / CHECKPOINT_FILE
    if not path.is_file():
        log.warning("no checkpoint in %s yet: starting from the beginning", args.run_dir)
        return None
    try:
        state = load_checkpoint(path)
    except CheckpointError as exc:
        raise RetrainError(str(exc)) from exc
    if state.get("fingerprint") != fingerprint:
        raise RetrainError(
            f"{path} was written for other training data (images, labels or reviews changed "
            "since the run started): start a new run instead"
        )
    log.info("resuming from %s (step %d)", path, state["step"])
    return state


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m pathview.training.retrain``, ``pathview-train``)."""
    args = parse_arguments(argv)
    stop = StopSignal()
    with stop.installed():
        return run(args, stop)


if __name__ == "__main__":
    raise SystemExit(main())
