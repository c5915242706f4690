"""Refit the post-hoc calibration of a trained run's model without training again.

    python -m pathview.training.calibrate RUN_DIR --out MODEL_DIR [--method platt|temperature]
        [--prevalence P --prevalence-source TEXT]

Rebuilds the run's data split exactly as ``pathview.training.train`` did (same sources, held-out
selection and seed, read from ``RUN_DIR/args.json``), fits the calibration on the held-out
logits (see :func:`pathview.training.train.calibrate`), re-measures the held-out and validation
metrics through the same code as training, and writes a new model directory. The weights
change only where Platt scaling folds its offset into the last layer's bias, so the new model
has a new id; its metadata records the model it was calibrated from.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pathview.model.metadata import Calibration, CodecRecord, ModelMetadata
from pathview.training.train import (
    CALIBRATION_METHODS,
    build_parser,
    calibrate_on_holdout,
    evaluate_set,
    export_model,
    load_data,
    load_network,
    pick_device,
)

log = logging.getLogger("pathview.training.calibrate")

_PATH_LISTS = ("images", "labels")
_PATHS = ("val_images", "val_labels", "run_dir")


def run_arguments(run_dir: Path) -> argparse.Namespace:
    """The training run's arguments (args.json) over the current defaults."""
    recorded: dict[str, Any] = json.loads((run_dir / "args.json").read_text(encoding="utf-8"))
    args = build_parser().parse_args(["--images", "x", "--labels", "x", "--run-dir", str(run_dir)])
    for key, value in recorded.items():
        if key in _PATH_LISTS:
            value = [Path(v) for v in value]
        elif key in _PATHS and value is not None:
            value = Path(value)
        setattr(args, key, value)
    return args


def recalibrate(
    run_dir: Path,
    out: Path,
    method: str,
    device_name: str = "cpu",
    prevalence: float | None = None,
    prevalence_source: str = "given on the command line",
    input_jpeg_quality: int | None = None,
) -> ModelMetadata:
    """Write ``out``: the run's model with a refitted calibration (and, with ``prevalence``,
    a prior shifted to it: :func:`pathview.training.train.shift_prior`); returns its metadata."""
    args = run_arguments(run_dir)
    args.calibration = method
    args.prevalence = prevalence
    args.prevalence_source = prevalence_source
    device = pick_device(device_name)
    net, meta = load_network(run_dir / "model")
    # The codec: the one asked for, else the one the run's model records (what it trained with).
    recorded = meta.codec
    if input_jpeg_quality is not None:
        args.input_jpeg_quality = input_jpeg_quality
    elif recorded is not None:
        args.input_jpeg_quality = recorded.quality
    net = net.to(device).eval()
    data = load_data(args)
    codec = data.codec
    norm = meta.normalisation
    if not np.allclose([*data.mean, *data.std], [*norm.mean, *norm.std], atol=2e-3):
        log.warning("normalisation differs from the run's: %s %s", data.mean, data.std)
    mean, std = norm.mean, norm.std
    temperature, calibration = calibrate_on_holdout(net, data.holdout, mean, std, device, args)
    calibration["recalibrated_from"] = meta.model_id
    log.info("temperature %.4f: %s", temperature, json.dumps(calibration))
    meta = meta.copy()
    meta.int8 = None  # made from the old weights and calibration: quantise again
    meta.input_codec = CodecRecord.of(codec) if codec is not None else None
    meta.temperature = round(float(temperature), 5)
    meta.calibration = Calibration.parse(calibration, "calibration")
    sets = {"heldout": data.holdout, "external": data.val}
    for key, patches in sets.items():
        if patches is None:
            continue
        earlier = meta.block(key)
        figures = evaluate_set(net, patches.pixels, patches.labels, mean, std, temperature, device)
        meta.set_validation(key, {**(earlier.to_dict() if earlier else {}), **figures})
    log.info("validation %s", json.dumps(meta.validation_dict()))
    return export_model(out, net.cpu(), meta)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m pathview.training.calibrate", description=__doc__)
    p.add_argument("run_dir", type=Path, help="a training run folder (args.json, model/)")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    p.add_argument("--method", choices=CALIBRATION_METHODS, default="platt")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--prevalence",
        type=float,
        help="tumour prevalence to calibrate for (the prior is shifted from the held-out one)",
    )
    p.add_argument("--prevalence-source", default="given on the command line")
    p.add_argument(
        "--input-jpeg-quality",
        type=int,
        metavar="Q",
        help="from now on send every patch through JPEG at quality Q before normalisation "
        "(the quality the training files were saved at); the calibration and the recorded "
        "metrics are measured that way (default: the run's own setting)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    meta = recalibrate(
        args.run_dir,
        args.out,
        args.method,
        args.device,
        args.prevalence,
        args.prevalence_source,
        args.input_jpeg_quality,
    )
    sys.stdout.write(json.dumps(meta.validation_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
