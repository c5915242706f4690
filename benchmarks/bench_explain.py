"""Time Grad-CAM explanations per patch on the CPU: single calls and batched calls.

Usage::

    python benchmarks/bench_explain.py [--model-dir DIR] [--methods gradcam ...]
        [--patches N] [--repeats R] [--batch-size B] [--threads T]

Loads the bundled model (``pathview.model.default_model_dir()``) unless ``--model-dir``
names another; when no bundled model exists yet it falls back to an untrained network of
the bundled architecture (training's "pv-small"; same cost, but say so in any figure you
report). Patches come from
the bundled demo patches (or ``tests/data/kaggle``). Prints median and p90 milliseconds per
patch. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pathview.core.resources import demo_folder  # noqa: E402
from pathview.explain import METHODS, default_cam_layer, explain_batch, explain_patch  # noqa: E402
from pathview.io.decode import read_patch  # noqa: E402


class _UntrainedClassifier:
    """Stand-in with the Classifier attributes explain uses, for before a model is bundled."""

    def __init__(self) -> None:
        from pathview.model.network import NetConfig, PatchNet

        try:
            from pathview.training.train import ARCHITECTURES

            config = ARCHITECTURES["pv-small"]
        except (ImportError, KeyError):
            config = NetConfig()
        self.network = PatchNet(config).eval()
        self.device = torch.device("cpu")
        self.temperature = 1.0
        sides = self.network.feature_sides(96)
        self.cam_layers = {
            "default": max((k for k, v in sides.items() if v == 12 and k.count(".") == 1)),
            "candidates": {k: v for k, v in sides.items() if k.count(".") <= 1},
        }
        self.model_id = f"untrained PatchNet {config.stages}"

    def preprocess(self, pixels: np.ndarray) -> torch.Tensor:
        batch = pixels[None] if pixels.ndim == 3 else pixels
        x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float() / 255.0
        return (x - 0.5) / 0.25


def load_classifier(model_dir: Path | None) -> Any:
    """The bundled (or given) model, else an untrained stand-in (announced on stdout)."""
    try:
        from pathview.model import load_model

        return load_model(model_dir, device="cpu")
    except Exception as exc:
        if model_dir is not None:
            raise
        print(f"! no usable bundled model ({type(exc).__name__}: {exc}); timing an untrained")
        print("! network of the bundled architecture instead")
        return _UntrainedClassifier()


def load_patches(n: int) -> np.ndarray:
    """``n`` real 96 x 96 patches (cycled if fewer exist), or random pixels as a last resort."""
    files: list[Path] = []
    for folder in (demo_folder(), ROOT / "tests" / "data" / "kaggle"):
        files.extend(sorted(folder.glob("*.tif")))
    pixels = [p for p in (read_patch(f).pixels for f in files[:n]) if p is not None]
    pixels = [p for p in pixels if p.shape == (96, 96, 3)]
    if not pixels:
        print("! no patch files found; using random pixels")
        return np.random.default_rng(0).integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)
    return np.stack([pixels[i % len(pixels)] for i in range(n)])


def summarise(per_patch_ms: list[float]) -> str:
    p90 = float(np.percentile(per_patch_ms, 90))
    return f"median {statistics.median(per_patch_ms):7.2f} ms   p90 {p90:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--methods", nargs="+", default=["gradcam"], choices=list(METHODS))
    parser.add_argument("--patches", type=int, default=32, help="distinct patches to time")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the patches")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    clf = load_classifier(args.model_dir)
    patches = load_patches(args.patches)
    layer = default_cam_layer(clf)
    print(
        f"model {getattr(clf, 'model_id', '?')}  layer {layer}  torch {torch.__version__}  "
        f"threads {torch.get_num_threads()}  patches {len(patches)} x {args.repeats}"
    )
    for method in args.methods:
        explain_patch(clf, patches[0], method=method)  # warm-up: first-call allocations
        single: list[float] = []
        for _ in range(args.repeats):
            for pixels in patches:
                t0 = time.perf_counter()
                explain_patch(clf, pixels, method=method)
                single.append((time.perf_counter() - t0) * 1000.0)
        batched: list[float] = []
        for _ in range(args.repeats):
            for start in range(0, len(patches), args.batch_size):
                chunk = patches[start : start + args.batch_size]
                t0 = time.perf_counter()
                explain_batch(clf, chunk, method=method, batch_size=args.batch_size)
                batched.append((time.perf_counter() - t0) * 1000.0 / len(chunk))
        print(f"{METHODS[method]:<11} single          {summarise(single)}")
        print(f"{METHODS[method]:<11} batch of {args.batch_size:<6} {summarise(batched)}")


if __name__ == "__main__":
    main()
