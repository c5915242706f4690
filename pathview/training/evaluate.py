"""Evaluate a model directory on a labelled folder with the app's own inference code.

    python -m pathview.training.evaluate MODEL_DIR --images DIR --labels CSV \
        [--name kaggle_tif] [--write]

Scores every labelled patch with the app's scoring loop and :class:`pathview.model.Classifier`
(exactly what the app and ``pathview score`` do: calibrated P(tumour), TTA = mean of the 8
views' probabilities; the plain score is the identity view of the same pass), prints AUC /
accuracy / ECE without and with 8-way TTA, and with ``--write`` records them in the model's
``model.json`` under ``validation[NAME]`` together with the data they came from.
A model with int8 weights (``python -m pathview.training.quantise``) is measured twice: float32
(``plain``/``tta``) and int8 (``int8.plain``/``int8.tta``, plus how far int8 moves each
P(tumour) from float32), since CPUs score in int8. The weights (and the model id) do not
change.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pathview.core import PatchRef
from pathview.io import read_labels
from pathview.model import Classifier, load_model
from pathview.model.bundle import read_metadata, write_metadata
from pathview.model.provenance import codec_text
from pathview.scoring import Scores, concat_scores, score_patches
from pathview.stats import summarise

log = logging.getLogger("pathview.training.evaluate")


def labelled_refs(images: Path, labels: Mapping[str, int]) -> list[PatchRef]:
    """The labelled patches in ``images`` (``ID.tif``, else ``ID.png``, else ``ID.jpg``), by id."""
    refs = []
    for pid in sorted(labels):
        name = next(
            (
                f"{pid}{ext}"
                for ext in (".tif", ".png", ".jpg")
                if (images / f"{pid}{ext}").is_file()
            ),
            None,
        )
        if name is not None:
            refs.append(PatchRef(pid, name))
    return refs


def score_plain_and_tta(
    clf: Classifier, images: Path, refs: Sequence[PatchRef]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids scored, plain P(tumour), TTA P(tumour)) of the readable ``refs``: one pass over the
    8 views with the app's scoring loop; the plain score is the identity view's."""
    ids: list[str] = []
    parts: list[Scores] = []
    for batch in score_patches(images, refs, clf, tta=True):
        ids.extend(r.id for r in batch.refs)
        parts.append(batch.scores)
    scores = concat_scores(parts, tta=True, views=True)
    assert scores.views is not None  # a Classifier gives them with TTA
    return ids, scores.views[:, 0].copy(), scores.p


def evaluate_folder(
    model_dir: Path, images: Path, labels_csv: Path, device: str = "cpu"
) -> dict[str, Any]:
    """Metrics of the model on every labelled, readable patch of ``images``."""
    clf = load_model(model_dir, device=device, precision="float32")
    labels = read_labels(labels_csv).labels
    refs = labelled_refs(images, labels)
    ids, plain, tta_p = score_plain_and_tta(clf, images, refs)
    y = np.array([labels[i] for i in ids])
    out: dict[str, Any] = {
        "data": {
            "images": str(images),
            "labels": str(labels_csv),
            "n": len(ids),
            "n_tumour": int(y.sum()),
            "note": "never trained on",
        },
        "evaluated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tool": (
            "python -m pathview.training.evaluate (pathview.model.Classifier, temperature applied)"
        ),
        # What the float32 rows were scored with (the int8 block is scored on the CPU).
        "device": str(clf.device),
        "input_codec": codec_text(clf.codec),
    }
    reference = {False: plain, True: tta_p}
    for tta in (False, True):
        out["tta" if tta else "plain"] = summarise(reference[tta], y)
    if clf.metadata.int8 is not None:  # measured on the CPU (where int8 runs), whatever --device
        int8 = load_model(model_dir, device="cpu", precision="int8")
        if int8.precision != "int8" or int8.metadata.int8 is None:
            raise SystemExit(f"cannot measure the int8 weights: {int8.precision_note}")
        block: dict[str, Any] = {"sha256": int8.metadata.int8.sha256, "device": "cpu"}
        int8_ids, int8_plain, int8_tta = score_plain_and_tta(int8, images, refs)
        if int8_ids != ids:
            raise SystemExit(f"{images} changed while it was being measured")
        for tta, p in ((False, int8_plain), (True, int8_tta)):
            key = "tta" if tta else "plain"
            delta = np.abs(p - reference[tta])
            block[key] = {
                **summarise(p, y),
                "max_abs_dp": round(float(delta.max()), 5),
                "mean_abs_dp": round(float(delta.mean()), 5),
            }
        out["int8"] = block
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m pathview.training.evaluate", description=__doc__)
    p.add_argument("model_dir", type=Path)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--name", default="external", help="key under validation in model.json")
    p.add_argument("--device", default="cpu")
    p.add_argument("--write", action="store_true", help="record the metrics in model.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    metrics = evaluate_folder(args.model_dir, args.images, args.labels, args.device)
    json.dump(metrics, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if args.write:
        meta = read_metadata(args.model_dir)
        meta.set_validation(args.name, metrics)
        write_metadata(args.model_dir, meta)
        log.info("recorded validation[%r] in %s", args.name, args.model_dir / "model.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
