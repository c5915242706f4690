"""Write a model directory's MODEL_CARD.md from its metadata (model.json).

    python -m pathview.training.model_card MODEL_DIR [--throughput FIGURES.json] [--command "..."]

Every number in the card is read from ``model.json`` (written by ``pathview.training.train`` and
``pathview.training.evaluate``) or from the throughput figures given; none is typed in by hand,
so the card cannot drift from the weights it describes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pathview.core.files import atomic_text_writer
from pathview.model.bundle import read_metadata
from pathview.model.metadata import (
    Calibration,
    DataRecord,
    InitialisedFrom,
    Int8Sample,
    Metrics,
    ModelMetadata,
    PriorShift,
    TeacherRecord,
    TrainingRecord,
    TrainingSummary,
    ValidationBlock,
)
from pathview.model.provenance import metadata_codec_text

CARD_NAME = "MODEL_CARD.md"

DATA_NAMES = {
    "pcam-jpeg": "PCam `pcam-jpeg` (JPEG q~75 patches exported from the PCam HDF5 files)",
    "kaggle-tif": "Kaggle `kaggle-tif` (original lossless `.tif` files, byte-exact)",
    "kaggle-pool": "Kaggle `kaggle-pool` (original lossless `.tif` files, byte-exact)",
}

#: What the patches of each known training source are: in a word (the held-out row's label)
#: and in full (the card's caveats).
DATA_FORMATS = {
    "pcam-jpeg": ("JPEG", "JPEG (quality ~75) patches"),
    "kaggle-pool": ("lossless .tif", "original lossless Kaggle `.tif` files"),
    "kaggle-tif": ("lossless .tif", "original lossless Kaggle `.tif` files"),
}


def _data_name(path: str) -> str:
    for key, text in DATA_NAMES.items():
        if key in path:
            return text
    return f"`{Path(path).parent.name}/{Path(path).name}`"


def _source_formats(train: TrainingRecord | None) -> list[tuple[str | None, str]]:
    """Each training source's (word, description) from :data:`DATA_FORMATS`, in order, once
    each; a source of unknown kind gives (None, its name)."""
    found: list[tuple[str | None, str]] = []
    for d in train.data if train else []:
        images = str(d.images)
        kind = next((f for k, f in DATA_FORMATS.items() if k in images), (None, _data_name(images)))
        if kind not in found:
            found.append(kind)
    return found


def _trained_on(train: TrainingRecord) -> str:
    """What the training patches were, source by source (the card's caveat)."""
    kinds = list(dict.fromkeys(text for _, text in _source_formats(train)))
    return " together with ".join(kinds) or "patches of unrecorded kind"


def _heldout_kinds(meta: ModelMetadata) -> str:
    """What the held-out patches were, in words ("JPEG", "JPEG and lossless .tif")."""
    words = list(dict.fromkeys(w for w, _ in _source_formats(meta.training) if w is not None))
    return " and ".join(words) or "the training sources"


def _row(label: str, scored_with: str, m: Metrics) -> str:
    return f"| {label} | {scored_with} | {m.n} | {m.auc:.4f} | {m.accuracy:.4f} | {m.ece:.4f} |"


def _scored_with(meta: ModelMetadata, precision: str, device: str | None, codec: str | None) -> str:
    """Model id, number format, device and input codec of one block of metrics.

    A block records its device and codec (``pathview.training.evaluate`` writes both); an older
    block falls back to the training device and the codec the model records, which every
    evaluation of the model applies.
    """
    device = device or (meta.training.device if meta.training else None) or "not recorded"
    codec = codec or metadata_codec_text(meta)
    return f"`{meta.model_id[:12]}`, {precision}, {device}, {codec}"


def _block_name(key: str, block: ValidationBlock) -> str:
    return _data_name(block.images or "") if isinstance(block.data, DataRecord) else str(block.data)


def _view_label(name: str, view: str) -> str:
    return f"{name}, {'8-view TTA' if view == 'tta' else 'single view'}"


def _metrics_table(meta: ModelMetadata) -> list[str]:
    lines = [
        "| data | model, number format, device, input codec | n | ROC AUC | "
        "accuracy (P >= 0.5) | ECE (15 bins) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, block in (meta.validation or {}).items():
        name = _block_name(key, block)
        if key == "heldout":
            name = (
                f"held-out training-source patches ({_heldout_kinds(meta)}; "
                "checkpoint choice + temperature)"
            )
        scored = _scored_with(meta, "float32", block.device, block.input_codec)
        for view, metrics in block.views().items():
            lines.append(_row(_view_label(name, view), scored, metrics))
        int8 = block.int8
        if int8 is not None:
            # int8 runs on CPUs; the block's codec unless the int8 figures name their own.
            codec = int8.input_codec or block.input_codec
            scored = _scored_with(meta, "int8", int8.device or "cpu", codec)
            for view, figures in {"plain": int8.plain, "tta": int8.tta}.items():
                if figures is not None:
                    lines.append(_row(_view_label(name, view), scored, figures))
    return lines


def _codec_lines(meta: ModelMetadata) -> list[str]:
    """The card's line on the input codec (none without one)."""
    record = meta.input_codec
    if record is None:
        return []
    codec = record.codec
    return [
        f"- Input codec ({codec.format.upper()} quality {codec.quality}, "
        f"{codec.subsampling}): {record.note}."
    ]


def _int8_lines(meta: ModelMetadata) -> list[str]:
    """The card's lines on the int8 weights (none without them)."""
    record = meta.int8
    if record is None:
        return []
    cal = record.calibration or Int8Sample()
    lines = [
        f"- int8 weights `{record.file}` ({(record.bytes or 0) / 1e6:.2f} MB, sha256 "
        f"`{record.sha256[:12]}`), made from these weights: {record.method}; activation "
        f"ranges observed on {_count(cal.n)} patches of "
        f"{_data_name(cal.data or '')} (`python -m pathview.training.quantise`, torch "
        f"{record.torch}). CPUs score with them (`--precision float32` scores with the "
        "float32 weights); GPUs use float32. Grad-CAM always runs on the float32 weights.",
    ]
    for key, block in (meta.validation or {}).items():
        plain = block.int8.plain if block.int8 is not None else None
        if plain is not None:
            name = _data_name(block.images or "") if isinstance(block.data, DataRecord) else key
            lines.append(
                f"- On {name}, int8 moves P(tumour) by {plain.figure('mean_abs_dp'):.4f} on "
                f"average (largest {plain.figure('max_abs_dp'):.4f}) from float32, single view."
            )
    return lines


def _init_lines(init: InitialisedFrom | None) -> list[str]:
    """The card's line on the weights training started from (none when from random ones)."""
    if init is None or not init.sha256:
        return []
    earlier = init.training or TrainingSummary()
    text = f"- Training started from the weights of model {init.sha256[:12]}"
    if earlier.epochs:
        text += (
            f" ({earlier.epochs} epochs on {earlier.n_train or 0:,} patches of the "
            "same training data and hold-out)"
        )
    return [text + ", not from random weights (all of them trained here, none downloaded)."]


def _teacher_lines(teacher: TeacherRecord | str | None) -> list[str]:
    """The card's line on a distillation teacher (none when trained from labels alone)."""
    if not teacher:
        return []
    if isinstance(teacher, str):  # older metadata recorded the path only
        return [f"- Distilled from the model at `{teacher}`."]
    described = []
    for model in teacher.models:
        t_train = model.training or TrainingSummary()
        t_arch = model.architecture or {}
        text = (
            f"`{model.name}` from `{model.path}` (id "
            f"{str(model.sha256)[:12]}; "
            f"{t_arch.get('parameters', 0):,} parameters, {t_train.epochs} epochs on "
            f"{t_train.n_train or 0:,} patches"
        )
        external = (model.validation or {}).get("external")
        if external is not None and external.plain is not None:
            text += f"; `kaggle-tif` AUC {external.plain.figure('auc'):.4f} single view"
            if external.tta is not None:
                text += f", {external.tta.figure('auc'):.4f} with TTA"
        described.append(text + ")")
    w = float(teacher.distill_weight)
    return [
        f"- Distilled from {' and '.join(described)}: the loss is {1 - w:g} x cross-entropy "
        f"with the labels + {w:g} x cross-entropy with {teacher.targets}."
    ]


def _prior_lines(shift: PriorShift | None) -> list[str]:
    """The card's line on a prior shift after calibration (none without one)."""
    if shift is None:
        return []
    after = shift.heldout_after or Metrics()
    return [
        f"- Prior: probabilities are calibrated for a tumour prevalence of "
        f"{shift.to_prevalence:.1%} ({shift.prevalence_source}), shifted by Bayes' "
        f"rule from the held-out patches' {shift.from_prevalence:.1%} (logit offset "
        f"{shift.logit_offset:+.4f}, folded into the last layer's bias). On the held-out "
        f"patches themselves that costs calibration: ECE {after.figure('ece'):.4f}, "
        f"accuracy {after.figure('accuracy'):.4f}."
    ]


def render_card(
    metadata: ModelMetadata | Mapping[str, Any], throughput: dict[str, Any] | None = None
) -> str:
    """The card's Markdown text for a model's metadata (a record, or model.json's content)."""
    meta = metadata if isinstance(metadata, ModelMetadata) else ModelMetadata.parse(metadata)
    arch = meta.architecture
    train = meta.training or TrainingRecord()
    cal = meta.calibration or Calibration()
    args = train.arguments
    cams = meta.cam_layers
    norm = meta.normalisation
    side = cams.candidates[str(cams.default)]
    lines = [
        f"# Model card: {meta.name}",
        "",
        f"Model id (weights SHA-256): `{meta.model_id}`  ",
        f"Created: {meta.created}; weights {(meta.weights.bytes or 0) / 1e6:.2f} MB.",
        "",
        "## What it does",
        "",
        "Binary classifier for 96x96 RGB H&E lymph-node patches at PCam magnification "
        "(10x, about 0.97 um/pixel): P(tumour), where tumour means at least one tumour pixel in "
        "the central 32x32 region (the PatchCamelyon label). It is a triage aid for a "
        "pathologist reviewing patches, not a diagnostic device: every call is meant to be "
        "looked at, and the review log records what the reviewer decided.",
        "",
        "## Architecture and input",
        "",
        f"- `{arch.name}`: a small ResNet; stem {arch.to_dict()['stem']} (channels, stride), "
        f"residual stages {arch.to_dict()['stages']} (channels, blocks, stride), dropout "
        f"{arch.config.dropout}, {arch.parameters or 0:,} parameters; one output logit (the "
        "tumour logit).",
        f"- Input {meta.input_size}x{meta.input_size} RGB; {norm.note}, "
        f"mean {norm.mean}, std {norm.std}.",
        f"- Other sizes (`{meta.resize_policy}`): {meta.resize_policy_note}.",
        *_codec_lines(meta),
        f"- Output: {meta.output}; temperature T = {meta.temperature:.4f}.",
        f"- Grad-CAM default layer `{cams.default}` ({side}x{side} map); "
        "candidates " + ", ".join(f"`{k}` ({v}x{v})" for k, v in cams.candidates.items()) + ".",
        *_int8_lines(meta),
        "",
        "## Training",
        "",
    ]
    for d in train.data:
        lines.append(
            f"- Data: {_data_name(str(d.images))}: {_count(d.n)} patches, {_count(d.n_tumour)} "
            "tumour. CC0 (PatchCamelyon, Veeling et al. 2018; CAMELYON16)."
        )
    lines += [
        f"- {_count(train.n_train)} patches trained on, {_count(train.n_heldout)} "
        f"held out ({train.heldout or ''}).",
        f"- {train.epochs} epochs ({train.minutes} min on {train.device}, "
        f"torch {train.torch}), seed {train.seed}; checkpoint: epoch "
        f"{train.best_epoch} (best held-out AUC of the weight average).",
        *_init_lines(train.initialised_from),
        *_teacher_lines(train.teacher),
        f"- AdamW (lr {args.get('lr')}, weight decay {args.get('weight_decay')}), batch "
        f"{args.get('batch_size')}, warm-up then cosine schedule, EMA of the weights "
        f"({args.get('ema_decay')}).",
        "- Augmentation: the 8 flips/rotations, "
        + (f"random translations of up to {args['shift']} pixels, " if args.get("shift") else "")
        + "H&E stain jitter (sigma "
        f"{args.get('stain_sigma')}), brightness/contrast/saturation "
        f"{args.get('brightness')}/{args.get('contrast')}/{args.get('saturation')}, hue "
        f"{args.get('hue')} of a turn, JPEG re-encoding probability {args.get('jpeg_prob')}.",
        f"- Calibration: {cal.method}, fitted on {cal.fitted_on}"
        + (
            " (refitted after training with `python -m pathview.training.calibrate`; "
            f"weights before the refit {cal.recalibrated_from[:12]})."
            if cal.recalibrated_from
            else "."
        ),
        *_prior_lines(cal.prior_shift),
        "",
        "## Measured performance",
        "",
        "Kaggle `kaggle-tif` is never trained on and is exactly what users open (lossless "
        "`.tif`). Its rows are recorded in `model.json` by `python -m pathview.training.evaluate`, "
        "through the app's own inference code (calibration applied; TTA = mean of the 8 "
        "views' probabilities), and are what `pathview score --labels` prints. The held-out "
        "rows come from the training code (TTA there averages the 8 views' logits).",
        "",
        *_metrics_table(meta),
        "",
        "Reproduce the `kaggle-tif` rows with the command line: "
        "`pathview score kaggle-tif/images --labels kaggle-tif/labels.csv --out scores.csv "
        + (
            "[--tta] [--precision float32|int8]` (on a CPU the default is int8)."
            if meta.int8 is not None
            else "[--tta]`."
        ),
        "",
    ]
    if throughput:
        lines += [
            "## Speed",
            "",
            f"Measured with `{throughput.get('command', 'python benchmarks/bench_score.py')}` "
            f"on {throughput.get('machine', 'this machine')}:",
            "",
            "| what | patches/s |",
            "|---|---:|",
        ]
        for key, value in throughput.get("figures", {}).items():
            lines.append(f"| {key} | {value:,.0f} |")
        lines.append("")
    lines += [
        "## Limits and caveats",
        "",
        "- No slide ids are available, so patches of one slide can sit on both sides of the "
        "train/validation split; the `kaggle-tif` figures may be optimistic for unseen "
        "slides and hospitals. The held-out PCam `valid` split comes from other slides and "
        "scores lower.",
        f"- Trained on {_trained_on(train)} and validated on lossless `.tif`; other "
        "scanners, stains and magnifications are untested.",
        "- Validation prevalence is 40% tumour, training 50%; calibration is measured, not "
        "assumed, on each set above.",
        f"- Grad-CAM shows where the evidence for the predicted class lies at {side}x{side} "
        "resolution; it is a cue for review, not a segmentation.",
        "",
    ]
    return "\n".join(lines)


def _count(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m pathview.training.model_card", description=__doc__)
    p.add_argument("model_dir", type=Path)
    p.add_argument("--throughput", type=Path, help="JSON: {command, machine, figures{}}")
    args = p.parse_args(argv)
    meta = read_metadata(args.model_dir)
    throughput = json.loads(args.throughput.read_text()) if args.throughput else None
    with atomic_text_writer(args.model_dir / CARD_NAME) as fh:
        fh.write(render_card(meta, throughput))
    sys.stdout.write(f"wrote {args.model_dir / CARD_NAME}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
