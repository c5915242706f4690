"""Score every explanation method x layer of a model for faithfulness on real patches.

Usage::

    python benchmarks/bench_explain_faithfulness.py [--model-dir DIR] [--patches N]
        [--methods gradcam ...] [--layers stages.1 ...] [--threads T]

Patches: the bundled demo patches (``pathview/resources/demo``, real Kaggle originals, half
tumour), ``--patches`` of them (default 32, balanced, in name order). Each method x layer is
scored with the two measures of :mod:`pathview.explain.faithfulness`:

- ``ROAD``: pytorch-grad-cam's ROADCombined at the percentiles 20/40/60/80, in logit units,
  higher is better;
- ``occlusion``: the Spearman correlation between the map and the drop in the explained logit
  when each 8 x 8 square is occluded, higher is better;

and ``no map`` counts the patches the method leaves without localised evidence (they score
0). The table is sorted by the mean of the two measures' ranks (ties by ROAD); the first row
is the best choice of default. Not a test: a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pathview.core.resources import demo_folder  # noqa: E402
from pathview.explain import METHODS, cam_layer_choices, default_cam_layer  # noqa: E402
from pathview.explain.cam import explain_tensor  # noqa: E402
from pathview.explain.faithfulness import (  # noqa: E402
    ROAD_PERCENTILES,
    explained_signs,
    occlusion_agreement,
    occlusion_drops,
    road_scores,
)
from pathview.explain.names import layer_labels  # noqa: E402
from pathview.io.decode import read_patch  # noqa: E402


def load_patches(n: int) -> tuple[list[str], np.ndarray]:
    """``n`` demo patches, alternately tumour and normal by their labels (name order)."""
    folder = demo_folder()
    labels: dict[str, int] = {}
    with open(folder / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            labels[row["id"]] = int(row["label"])
    by_class: dict[int, list[Path]] = {0: [], 1: []}
    for path in sorted(folder.glob("*.tif")):
        if path.stem in labels:
            by_class[labels[path.stem]].append(path)
    chosen: list[Path] = []
    for i in range(max(len(v) for v in by_class.values())):
        for label in (1, 0):
            if i < len(by_class[label]) and len(chosen) < n:
                chosen.append(by_class[label][i])
    pixels = [read_patch(p).pixels for p in chosen]
    kept = [(p.stem, px) for p, px in zip(chosen, pixels, strict=True) if px is not None]
    return [k for k, _ in kept], np.stack([px for _, px in kept])


def score_config(
    network: torch.nn.Module,
    inputs: torch.Tensor,
    signs: np.ndarray,
    drops: np.ndarray,
    method: str,
    layer: str,
    temperature: float,
) -> dict[str, Any]:
    explanations = explain_tensor(network, inputs, layer, method=method, temperature=temperature)
    maps = [e.map for e in explanations]
    road = road_scores(network, inputs, maps, signs)
    occlusion = occlusion_agreement(maps, drops)
    return {
        "method": method,
        "layer": layer,
        "road": road,
        "occlusion": occlusion,
        "no_map": sum(m is None for m in maps),
    }


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows sorted by the mean of their ROAD and occlusion ranks (1 = best), ties by ROAD."""
    for key in ("road", "occlusion"):
        order = sorted(rows, key=lambda r: -float(np.mean(r[key])))
        for rank, row in enumerate(order, 1):
            row[f"{key}_rank"] = rank
    for row in rows:
        row["rank"] = (row["road_rank"] + row["occlusion_rank"]) / 2
    return sorted(rows, key=lambda r: (r["rank"], -float(np.mean(r["road"]))))


def sem(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--patches", type=int, default=32)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--layers", nargs="+", default=None, help="default: every candidate")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from pathview.model import load_model

    started = time.perf_counter()
    clf = load_model(args.model_dir, device="cpu", precision="float32")
    ids, pixels = load_patches(args.patches)
    inputs = clf.preprocess(pixels)
    network = clf.network
    signs = explained_signs(network, inputs)
    drops = occlusion_drops(network, inputs, signs)
    choices = cam_layer_choices(clf)
    layers = args.layers or list(choices)
    names = layer_labels(choices)
    current = default_cam_layer(clf)
    print(
        f"model {clf.metadata.name} ({clf.model_id[:12]})  patches {len(ids)} "
        f"({int((signs > 0).sum())} called tumour)  ROAD percentiles {list(ROAD_PERCENTILES)}  "
        f"threads {torch.get_num_threads()}"
    )
    rows = []
    for method in args.methods:
        for layer in layers:
            rows.append(score_config(network, inputs, signs, drops, method, layer, clf.temperature))
            print(f"  scored {METHODS[method]} at {layer}", file=sys.stderr, flush=True)
    print()
    print(
        f"{'method':<11} {'layer':<17} {'shown as':<28} {'ROAD':>15} {'occlusion':>15} "
        f"{'no map':>7} {'rank':>5}"
    )
    for row in ranked(rows):
        mark = (
            "  <- current default" if (row["method"], row["layer"]) == ("gradcam", current) else ""
        )
        road, occ = row["road"], row["occlusion"]
        print(
            f"{METHODS[row['method']]:<11} {row['layer']:<17} {names.get(row['layer'], ''):<28} "
            f"{road.mean():+7.3f} ±{sem(road):5.3f} {occ.mean():+7.3f} ±{sem(occ):5.3f} "
            f"{row['no_map']:>7} {row['rank']:>5.1f}{mark}"
        )
    best = ranked(rows)[0]
    print()
    print(
        f"best: {METHODS[best['method']]} at {best['layer']} "
        f"({names.get(best['layer'], best['layer'])}); ± is the standard error over patches; "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
