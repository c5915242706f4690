"""Add int8 weights for x86 CPUs to a model directory (post-training static quantisation).

    python -m pathview.training.quantise MODEL_DIR --images DIR --labels CSV [--n 1024] [--seed 0]

Observes the activation ranges of the model's float32 network on a seeded random sample of
``--n`` labelled patches of ``--images`` (patches of the training source, never the
validation set), converts it to int8 (:mod:`pathview.model.quantised`), writes
``weights-int8.pt`` into MODEL_DIR and records it under ``int8`` in ``model.json``: file,
sha256, the float32 weights it was made from, method, calibration data, torch version, date.
The float32 weights and so the model id do not change; the app scores in int8 on CPUs from
then on. Measure it with ``python -m pathview.training.evaluate MODEL_DIR ... --write``, which
records the int8 figures next to the float32 ones.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pathview.model import load_model
from pathview.model.bundle import write_metadata, write_weights_file
from pathview.model.metadata import Int8Record
from pathview.model.quantised import (
    INT8_ENGINE,
    INT8_METHOD,
    INT8_WEIGHTS_FILE,
    int8_state_dict,
    int8_unavailable,
    quantise,
)
from pathview.training.data import load_folder

log = logging.getLogger("pathview.training.quantise")


def add_int8(
    model_dir: Path, images: Path, labels: Path, n: int = 1024, seed: int = 0, workers: int = 4
) -> Int8Record:
    """Quantise the model in ``model_dir`` on ``n`` patches of ``images``; write the int8
    weights and their record; returns the record."""
    if n < 1:
        raise SystemExit("--n must be at least 1")
    reason = int8_unavailable()
    if reason is not None:
        raise SystemExit(f"cannot make int8 weights on this machine: {reason}")
    patches = load_folder(images, labels, workers, n, seed)
    if len(patches) == 0:
        raise SystemExit(f"no readable labelled patches in {images}")
    source = {
        "data": str(images),
        "labels": str(labels),
        "n": len(patches),
        "seed": seed,
        "note": "activation ranges observed on a seeded random sample of these patches",
    }
    return write_int8(model_dir, patches.pixels, source)


def write_int8(model_dir: Path, pixels: np.ndarray, source: dict[str, Any]) -> Int8Record:
    """Quantise the model in ``model_dir`` with its activation ranges observed on ``pixels``
    (uint8 N x H x W x 3 patches), write ``weights-int8.pt`` and record it, with ``source``
    (what the patches are) as its calibration data, in model.json; returns the record."""
    clf = load_model(model_dir, device="cpu", precision="float32")
    int8 = quantise(clf.network, clf.preprocess(pixels))
    meta = clf.metadata.copy()
    weights = write_weights_file(Path(model_dir), int8_state_dict(int8), INT8_WEIGHTS_FILE)
    record = Int8Record.parse(
        {
            **weights.to_dict(),
            "engine": INT8_ENGINE,
            "method": INT8_METHOD,
            "source_sha256": meta.model_id,
            "calibration": source,
            "torch": torch.__version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "int8",
    )
    meta.int8 = record
    write_metadata(model_dir, meta)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m pathview.training.quantise", description=__doc__)
    p.add_argument("model_dir", type=Path)
    p.add_argument("--images", type=Path, required=True, help="training-source patches")
    p.add_argument("--labels", type=Path, required=True, help="their labels CSV")
    p.add_argument("--n", type=int, default=1024, help="patches to observe (seeded sample)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--decode-workers", type=int, default=4)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    record = add_int8(
        args.model_dir, args.images, args.labels, args.n, args.seed, args.decode_workers
    )
    json.dump(record.to_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    log.info("recorded int8 weights in %s", args.model_dir / "model.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
