"""The fixed split of a labelled pool of lossless Kaggle patches between the bundled model's
training and the review-loop benchmark.

The bundled model learns from part of ``kaggle-pool`` (the original lossless Kaggle files the
users open); the simulated-review benchmark (``benchmarks/bench_review_loop.py``) must use
only the rest, or it would measure reviews of patches the parent already learnt. One rule
decides both sides: the ``n_model`` ids with the smallest salted SHA-1 belong to the model
(their first ``n_heldout`` are marked ``valid``, the held-out split the training command
selects checkpoints on), every other id to the benchmark. The rule orders all the ids of the
pool's labels CSV (apply it to the whole CSV, not to a subset, or the cut moves); it depends on
those ids alone, so it gives the same split on every machine.

Usage (writes the model's part as an ``id,label,split`` CSV for ``--labels``)::

    python -m pathview.training.pool_split --labels kaggle-pool/labels.csv --out pool-model.csv
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

#: Salt of the rule; changing it (or the sizes) gives another split.
SALT = "pathview-bundled-model-v2"
#: Ids of the pool the bundled model trains on, and of those the ones it holds out.
N_MODEL = 1200
N_HELDOUT = 500


def _order(ids: Iterable[str]) -> list[str]:
    return sorted(set(ids), key=lambda i: hashlib.sha1(f"{SALT}:{i}".encode()).digest())


def model_ids(ids: Iterable[str], n_model: int = N_MODEL) -> list[str]:
    """The ids of the pool that the bundled model's training may use, sorted."""
    return sorted(_order(ids)[:n_model])


def benchmark_ids(ids: Iterable[str], n_model: int = N_MODEL) -> list[str]:
    """The ids of the pool the bundled model never saw (the review-loop benchmark's), sorted."""
    return sorted(_order(ids)[n_model:])


def model_rows(
    labels: dict[str, int], n_model: int = N_MODEL, n_heldout: int = N_HELDOUT
) -> list[tuple[str, int, str]]:
    """(id, label, split) of the model's part: ``valid`` for the first ``n_heldout`` of the
    rule's order, ``train`` for the others."""
    if not 0 <= n_heldout <= n_model:
        raise ValueError(f"n_heldout must be within 0..{n_model}, got {n_heldout}")
    chosen = _order(labels)[:n_model]
    held = set(chosen[:n_heldout])
    return [(i, int(labels[i]), "valid" if i in held else "train") for i in sorted(chosen)]


def main(argv: Sequence[str] | None = None) -> int:
    from pathview.io.labels import read_labels

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", type=Path, required=True, help="the pool's id,label CSV")
    ap.add_argument("--out", type=Path, required=True, help="id,label,split CSV to write")
    ap.add_argument("--n-model", type=int, default=N_MODEL)
    ap.add_argument("--n-heldout", type=int, default=N_HELDOUT)
    args = ap.parse_args(argv)
    labels = read_labels(args.labels).labels
    if len(labels) <= args.n_model:
        raise SystemExit(
            f"{args.labels} has {len(labels)} labelled ids: fewer than --n-model "
            f"{args.n_model} plus any for the benchmark"
        )
    rows = model_rows(labels, args.n_model, args.n_heldout)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label", "split"])
        writer.writerows(rows)
    n_valid = sum(1 for r in rows if r[2] == "valid")
    print(
        f"{args.out}: {len(rows)} of {len(labels)} ids for the model ({n_valid} valid), "
        f"{len(labels) - len(rows)} left to the benchmark"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
