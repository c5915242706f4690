"""What a faster number format would buy on this CPU: fp32, bfloat16 autocast and int8.

    python benchmarks/bench_precision.py [--repeats 7] [--model DIR] [--source DIR --labels CSV]
        [--arch pv-small --arch pv-wide]

For the bundled model (or ``--model``), on the real fixture patches (tests/data/kaggle, or
``--source`` with ``--labels``):
- network forward throughput (batch 256, channels-last, inference_mode) in fp32 with
  batch-norm folded (what ``Classifier.predict`` runs), under bfloat16 autocast, and as an int8
  network (post-training static quantisation with torch.ao's FX graph mode and the x86
  backend, ``pathview.model.quantised.quantise``, calibrated on those same patches:
  activation ranges only, no labels);
- how far the bf16 and int8 probabilities move from fp32 (largest and mean |delta P|, and the
  fixtures' ROC AUC in each format).
Then, for each ``--arch`` (random weights: speed only, the same three formats), so that a
larger architecture's cost can be judged before anything is trained.

Not a test. The app scores with the int8 weights shipped in the model directory (made the same
way by ``python -m pathview.training.quantise``, on training patches rather than these). Medians of
``--repeats`` timed batches after two warm-up batches; figures vary with the machine's load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pathview.io import read_patch  # noqa: E402
from pathview.model import load_model  # noqa: E402
from pathview.model.classifier import fold_batchnorm  # noqa: E402
from pathview.model.network import PatchNet, count_parameters  # noqa: E402
from pathview.model.quantised import quantise  # noqa: E402
from pathview.stats import roc_auc  # noqa: E402
from pathview.training.train import ARCHITECTURES  # noqa: E402


def rate(fn: Callable[[torch.Tensor], object], x: torch.Tensor, repeats: int) -> float:
    """Median patches/s of ``fn(x)`` over ``repeats`` calls after two warm-up calls."""
    with torch.inference_mode():
        fn(x)
        fn(x)
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(x)
            rates.append(x.shape[0] / (time.perf_counter() - t0))
    return statistics.median(rates)


def formats(
    net: PatchNet, calibration: torch.Tensor
) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The three ways of running ``net``: name -> callable returning logits."""
    fast = fold_batchnorm(net).to(memory_format=torch.channels_last)
    int8 = quantise(net, calibration)

    def bf16(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fast(x).float()

    return {"fp32 (BN folded)": fast, "bf16 autocast": bf16, "int8 (PTQ, x86)": int8}


def main() -> int:
    """Run the benchmark and print two small tables."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--source", type=Path, default=ROOT / "tests" / "data" / "kaggle")
    p.add_argument(
        "--labels", type=Path, default=None, help="id,label CSV (default SOURCE/labels.csv)"
    )
    p.add_argument("--arch", action="append", choices=sorted(ARCHITECTURES), default=None)
    args = p.parse_args()
    archs = args.arch or ["pv-small", "pv-wide"]

    clf = load_model(args.model, device="cpu", precision="float32")
    files = sorted(args.source.glob("*.tif"))
    if not files:
        raise SystemExit(f"no .tif patches in {args.source}")
    labels: dict[str, int] = {}
    labels_csv = args.labels or args.source / "labels.csv"
    if labels_csv.exists():
        for line in labels_csv.read_text().splitlines()[1:]:
            pid, label = line.split(",")[:2]
            labels[pid] = int(label)
    pixels = np.stack([read_patch(f).pixels for f in files])  # type: ignore[misc]
    x_all = clf.preprocess(pixels)
    reps = -(-args.batch_size // x_all.shape[0])
    batch = torch.cat([x_all] * reps)[: args.batch_size].contiguous(
        memory_format=torch.channels_last
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; bundled model "
        f"{clf.model_id[:12]}; {len(files)} fixture patches; batch {args.batch_size}"
    )

    network = clf.network
    assert isinstance(network, PatchNet)
    runs = formats(network.cpu(), x_all)
    probs: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for name, fn in runs.items():
            probs[name] = torch.sigmoid(fn(x_all).float() / clf.temperature).numpy()
    y = np.array([labels.get(f.stem, -1) for f in files])
    have = y >= 0
    print(f"\nmodel {clf.metadata.name} ({count_parameters(network):,} parameters)")
    print(f"{'format':<18} {'patches/s':>10} {'max |dP|':>9} {'mean |dP|':>10} {'AUC':>7}")
    ref = probs["fp32 (BN folded)"]
    for name, fn in runs.items():
        d = np.abs(probs[name] - ref)
        auc = roc_auc(probs[name][have], y[have]) if have.any() else float("nan")
        speed = rate(fn, batch, args.repeats)
        print(f"{name:<18} {speed:>10,.0f} {d.max():>9.4f} {d.mean():>10.4f} {auc:>7.4f}")

    print("\narchitectures with random weights (speed only)")
    print(f"{'arch':<12} {'parameters':>10} " + " ".join(f"{n:>18}" for n in runs))
    torch.manual_seed(0)
    for arch in archs:
        net = PatchNet(ARCHITECTURES[arch]).eval()
        fns = formats(net, x_all)
        speeds = [rate(fn, batch, args.repeats) for fn in fns.values()]
        print(
            f"{arch:<12} {count_parameters(net):>10,} " + " ".join(f"{s:>16,.0f}/s" for s in speeds)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
