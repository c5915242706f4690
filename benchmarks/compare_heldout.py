"""Score models on a training run's own held-out patches, each as the app scores it.

    python benchmarks/compare_heldout.py RUN_DIR MODEL_DIR [MODEL_DIR ...] [--json FIGURES.json]

The held-out patches are rebuilt from the run's ``args.json`` exactly as training drew them
(the same sources, seed and split rule; before any input codec), then each model scores them
through ``load_model(...).predict`` (its own input codec, float32, single view and 8-view TTA).
Figures are printed for all held-out patches and for each source on its own. This is how a
new bundled model is compared with the old one on patches neither trained on, before anyone
looks at the validation set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pathview.model import load_model
from pathview.stats.metrics import summarise
from pathview.training.data import holdout_mask_of_parts, load_folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args(argv)
    run = json.loads((args.run_dir / "args.json").read_text(encoding="utf-8"))
    parts = [
        load_folder(Path(img), Path(lab), 2, run.get("limit"), run["seed"])
        for img, lab in zip(run["images"], run["labels"], strict=True)
    ]
    masks = holdout_mask_of_parts(
        parts,
        run["holdout_split"],
        run["holdout_fraction"],
        run["seed"],
        run["holdout_split_fraction"],
    )
    offsets = np.cumsum([0] + [len(p) for p in parts])
    held = []
    for i, part in enumerate(parts):
        m = masks[offsets[i] : offsets[i + 1]]
        held.append((Path(run["images"][i]).parent.name, part.pixels[m], part.labels[m]))
    pixels = np.concatenate([h[1] for h in held])
    labels = np.concatenate([h[2] for h in held])
    print(f"held-out: {len(labels)} patches " + ", ".join(f"{n} {len(y)}" for n, _, y in held))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for model_dir in args.models:
        clf = load_model(model_dir, device="cpu", precision="float32")
        rows: dict[str, dict[str, float]] = {}
        for tta in (False, True):
            p = clf.predict(pixels, tta=tta).p
            view = "tta" if tta else "plain"
            rows[f"all/{view}"] = summarise(p, labels)
            start = 0
            for name, _, y in held:
                rows[f"{name}/{view}"] = summarise(p[start : start + len(y)], y)
                start += len(y)
        out[str(model_dir)] = rows
        codec = clf.metadata.codec
        print(f"\n{model_dir} (input codec {codec.describe() if codec else 'none'})")
        for key, r in rows.items():
            print(
                f"  {key:24s} n {int(r['n']):5d}  AUC {r['auc']:.4f}  "
                f"accuracy {r['accuracy']:.4f}  ECE {r['ece']:.4f}"
            )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
