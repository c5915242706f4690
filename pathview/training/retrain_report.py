"""The retraining report: parent-vs-new evaluation, the printed table, the metadata of the
reviews a model learnt from (see ``training/retrain.py``)."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pathview.model import load_model
from pathview.model.metadata import (
    DataRecord,
    ModelMetadata,
    ReviewsRecord,
    TrainingRecord,
    VerdictRecord,
)
from pathview.model.provenance import metadata_codec_text
from pathview.scoring import score_pixels
from pathview.stats import paired_bootstrap, summarise
from pathview.training.data import PatchSet
from pathview.training.retrain_inputs import Inputs

LABEL_RULE = (
    "agree confirms the model's call shown to the reviewer (P >= 0.5 is tumour), disagree flips "
    "it, unsure is left out; reviewers are combined by the rule; an adjudication overrides it"
)


@dataclass
class ModelScores:
    """A model's P(tumour) on the validation patches: single view, and the 8-view mean."""

    plain: np.ndarray
    tta: np.ndarray | None = None

    def metrics(self, labels: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {"plain": summarise(self.plain, labels)}
        if self.tta is not None:
            out["tta"] = summarise(self.tta, labels)
        return out


def score_model(
    model_dir: Path,
    data: PatchSet,
    device: torch.device,
    tta: bool,
    batch_size: int = 256,
    precision: str = "float32",
) -> ModelScores:
    """P(tumour) of a model directory on ``data`` through the app's Classifier, in float32
    unless told (models are compared in the same number format)."""
    clf = load_model(model_dir, device=device.type, precision=precision)
    # One pass with the app's scoring step: with TTA the plain score is the identity view.
    scores = score_pixels(clf, data.pixels, tta=tta, batch_size=batch_size)
    if tta:
        assert scores.views is not None  # a Classifier gives them with TTA
        return ModelScores(plain=scores.views[:, 0].copy(), tta=scores.p)
    return ModelScores(plain=scores.p)


def evaluate_model(
    model_dir: Path,
    data: PatchSet,
    device: torch.device,
    tta: bool,
    batch_size: int = 256,
    precision: str = "float32",
) -> dict[str, Any]:
    """AUC / accuracy / ECE of a model directory on ``data`` (see :func:`score_model`)."""
    return score_model(model_dir, data, device, tta, batch_size, precision).metrics(data.labels)


#: Bootstrap resamples of the verdict (seeded: the same run gives the same interval).
VERDICT_RESAMPLES = 2000


def judge(
    parent: ModelScores, new: ModelScores, labels: np.ndarray, description: str
) -> VerdictRecord:
    """The verdict on a retrained model: a paired bootstrap of its AUC minus the parent's on
    the fixed validation set (8-view TTA AUC when both were scored with it)."""
    use_tta = parent.tta is not None and new.tta is not None
    a = parent.tta if use_tta and parent.tta is not None else parent.plain
    b = new.tta if use_tta and new.tta is not None else new.plain
    diff = paired_bootstrap(
        a, b, labels, metric="auc_tta" if use_tta else "auc", resamples=VERDICT_RESAMPLES
    )
    return VerdictRecord(
        result=diff.verdict,
        metric=diff.metric,
        parent=round(diff.parent, 5),
        new=round(diff.new, 5),
        delta=round(diff.delta, 5),
        ci95=[round(diff.low, 5), round(diff.high, 5)],
        n=diff.n,
        resamples=diff.resamples,
        validation=description,
    )


def verdict_text(verdict: VerdictRecord) -> str:
    """One line for people: the verdict, the difference and its interval."""
    lo, hi = [*verdict.ci95, math.nan, math.nan][:2]
    name = "TTA AUC" if verdict.metric.endswith("tta") else "AUC"
    head = {
        "better": "BETTER than its parent",
        "worse": "WORSE than its parent: do not use it in place of the parent",
        "no measurable change": "NO MEASURABLE CHANGE from its parent",
    }[verdict.result]
    return (
        f"Verdict: {head} ({name} {verdict.parent:.4f} -> {verdict.new:.4f}, "
        f"{verdict.delta:+.4f}; paired bootstrap 95% interval {lo:+.4f} to {hi:+.4f}, "
        f"{verdict.n} validation patches)"
    )


def comparison_table(
    parent: dict[str, Any] | None, new: dict[str, Any], before: str = "parent"
) -> str:
    """Parent (or baseline) and new model metrics side by side (plain, and TTA if present)."""
    rows = [f"{'metric':<14} {before:>8} {'new':>8}  change"]
    for view in ("plain", "tta"):
        if view not in new:
            continue
        for key, label in (("auc", "AUC"), ("accuracy", "accuracy"), ("ece", "ECE")):
            name = label if view == "plain" else f"{label} (TTA)"
            b = parent[view][key] if parent and view in parent else float("nan")
            a = new[view][key]
            diff = f"{a - b:+.4f}" if np.isfinite(a - b) else "     -"
            left = f"{b:8.4f}" if np.isfinite(b) else "       -"
            rows.append(f"{name:<14} {left} {a:8.4f}  {diff}")
    return "\n".join(rows)


def reviews_metadata(inputs: Inputs, args: argparse.Namespace) -> ReviewsRecord:
    """The model.json "reviews" entry: which reviews the model learnt from, and how."""
    r = inputs.reviews
    used = dict(zip(inputs.matched.ids, inputs.matched.labels, strict=True))
    differs = sum(1 for pid, truth in inputs.review_truth.items() if used.get(pid) != truth)
    record = {
        "count": inputs.n_reviewed_train,
        "sources": r.sources,
        "reviewers": r.reviewers,
        "rule": r.rule,
        "label_rule": LABEL_RULE,
        "events": r.events,
        "reviewed_patches": r.reviewed_patches,
        "n_agree": r.verdicts.get("agree", 0),
        "n_disagree": r.verdicts.get("disagree", 0),
        "n_unsure": r.verdicts.get("unsure", 0),
        "n_excluded": len(r.excluded),
        "excluded_note": "reviewed patches without a label (unsure, or reviewers the rule "
        "cannot reconcile): neither trained on nor validated",
        "n_adjudicated": r.adjudicated,
        "n_tumour": int(sum(used.values())),
        "n_with_truth": len(inputs.review_truth),
        "n_differs_from_truth": differs,
        "missing": inputs.matched.missing,
        "review_weight": args.review_weight,
        "reviewed_with_models": r.model_ids,
    }
    return ReviewsRecord.parse(record, "reviews")


def summary_text(
    args: argparse.Namespace,
    inputs: Inputs,
    meta: ModelMetadata,
    export_dir: Path,
    parent_metrics: dict[str, Any] | None,
    parent_dir: Path | None,
) -> str:
    """What the command prints at the end: lineage, reviews, the before/after table."""
    r = meta.reviews or ReviewsRecord()
    parent = meta.parent_model
    training = meta.training or TrainingRecord()
    lines = [
        f"New model: {export_dir} (id {meta.model_id[:12]}, name {meta.name!r})",
        (
            f"  parent:     {parent.name} ({(parent.sha256 or '')[:12]}) {parent.path}"
            if parent
            else f"  trained from scratch ({meta.architecture.name}); baseline "
            f"{parent_dir if parent_metrics is not None else 'none'}"
        ),
        f"  reviews:    {r.count} reviewed patches trained on (weight {r.review_weight:g}; "
        f"agree {r.n_agree}, disagree {r.n_disagree}, unsure {r.n_unsure}; "
        f"{r.n_excluded} left out) by {', '.join(r.reviewers) or 'nobody'}, "
        f"rule {r.rule}",
        f"              {r.n_differs_from_truth} of {r.n_with_truth} reviewed patches "
        "with a ground-truth label were labelled against it",
        f"  training:   {training.n_train} patches, {training.epochs} epochs"
        f" ({training.steps} steps) on {training.world_size} process(es)",
    ]
    fixed = meta.block("retraining")
    if fixed is not None:
        data = fixed.data if isinstance(fixed.data, DataRecord) else DataRecord()
        lines += [
            f"  validation: {data.n} patches never trained on: {data.description}",
            "",
            comparison_table(parent_metrics, fixed.to_dict(), "parent" if parent else "baseline"),
            f"(both scored in float32 on {training.device or 'cpu'}; the new "
            "model's input codec "
            f"{metadata_codec_text(meta)})",
        ]
        if meta.verdict is not None:
            lines += ["", verdict_text(meta.verdict)]
    else:
        lines.append("  validation: none (no before/after numbers)")
    if meta.verdict is not None and meta.verdict.result == "worse":
        lines += [
            "",
            f"Written for inspection only (keep using the parent): pathview --model {export_dir}",
        ]
    else:
        lines += ["", f"Open it with: pathview --model {export_dir}"]
    return "\n".join(lines)
