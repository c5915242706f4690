"""Set up the README's retraining example: a reviewed copy of the test fixture patches.

    DEST=$(python docs/make_retrain_example.py)      # or: python docs/make_retrain_example.py DEST
    pathview-train --images "$DEST" --run-dir runs/ann-round1 \
        --review-weight 2 --batch-size 32 --epochs 3

Without DEST the copy goes to a new folder under the system's temporary directory (never
into the checkout); the folder's path is the one line printed on stdout. Copies the 240 real
Kaggle patches of ``tests/data/kaggle`` (with their ``labels.csv``) to
DEST and records, in DEST's review store, reviewer "ann" reviewing the 40 patches the bundled
model is least sure of (P(tumour) closest to 0.5): unsure on the 3 closest, otherwise agree
when the model's call (P >= 0.5) matches the patch's label and disagree when it does not,
as a careful reviewer who knew the truth would.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from pathview.core import Verdict
from pathview.io import pixel_sha1
from pathview.model import load_model
from pathview.scoring import score_pixels
from pathview.store import ReviewInput, open_store_for_folder
from pathview.training.data import load_folder

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "kaggle"
REVIEWED = 40
UNSURE = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "dest",
        type=Path,
        nargs="?",
        help="new folder for the reviewed copy (default: a new temporary folder)",
    )
    given: Path | None = parser.parse_args().dest
    if given is not None and given.exists():
        parser.error(f"{given} exists; give a new folder")
    dest = given or Path(tempfile.mkdtemp(prefix="pathview-retrain-example-")) / "patches"
    shutil.copytree(FIXTURES, dest)
    patches = load_folder(dest, dest / "labels.csv", workers=2)
    ids, pixels = patches.ids, patches.pixels
    labels = dict(zip(ids, patches.labels.tolist(), strict=True))
    model = load_model(device="cpu")
    p = score_pixels(model, pixels).p
    order = np.argsort(np.abs(p - 0.5), kind="stable")[:REVIEWED]
    counts = {v: 0 for v in Verdict}
    with open_store_for_folder(dest) as store:
        for rank, i in enumerate(order):
            pid, prob = ids[i], float(p[i])
            if rank < UNSURE:
                verdict = Verdict.UNSURE
            elif int(prob >= 0.5) == labels[pid]:
                verdict = Verdict.AGREE
            else:
                verdict = Verdict.DISAGREE
            counts[verdict] += 1
            store.record(
                ReviewInput(
                    pid,
                    verdict,
                    "ann",
                    pixel_sha1(pixels[i]),
                    f"{pid}.tif",
                    model_id=model.model_id,
                    p_tumour=prob,
                )
            )
    summary = ", ".join(f"{n} {v.value}" for v, n in counts.items())
    sys.stderr.write(f"{dest}: ann reviewed {REVIEWED} of {len(ids)} patches ({summary})\n")
    sys.stdout.write(f"{dest}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
