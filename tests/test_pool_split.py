"""The fixed split of a labelled pool between the bundled model's training and the
review-loop benchmark (pathview.training.pool_split)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from pathview.training.pool_split import benchmark_ids, main, model_ids, model_rows


def _ids(n: int) -> list[str]:
    return [hashlib.sha1(str(i).encode()).hexdigest() for i in range(n)]


def test_the_model_and_the_benchmark_get_disjoint_parts_that_cover_the_pool() -> None:
    ids = _ids(300)
    model, bench = model_ids(ids, 100), benchmark_ids(ids, 100)
    assert len(model) == 100 and len(bench) == 200
    assert not set(model) & set(bench) and set(model) | set(bench) == set(ids)
    # The ids alone decide: any order of the same ids gives the same parts.
    assert model_ids(list(reversed(ids)), 100) == model
    assert benchmark_ids(sorted(ids), 100) == bench


def test_the_model_rows_hold_out_the_first_of_the_rules_order() -> None:
    labels = {pid: i % 2 for i, pid in enumerate(_ids(50))}
    rows = model_rows(labels, n_model=20, n_heldout=8)
    assert [r[0] for r in rows] == model_ids(labels, 20)
    assert sum(r[2] == "valid" for r in rows) == 8
    assert all(r[1] == labels[r[0]] for r in rows)
    # A larger model part keeps the same held-out ids: the first of one order.
    bigger = model_rows(labels, n_model=30, n_heldout=8)
    assert {r[0] for r in bigger if r[2] == "valid"} == {r[0] for r in rows if r[2] == "valid"}
    with pytest.raises(ValueError, match="n_heldout"):
        model_rows(labels, n_model=5, n_heldout=6)


def test_the_command_writes_the_models_part_as_a_labels_csv(tmp_path: Path) -> None:
    labels_csv = tmp_path / "labels.csv"
    ids = _ids(40)
    labels_csv.write_text(
        "id,label\n" + "".join(f"{pid},{i % 2}\n" for i, pid in enumerate(ids)), encoding="utf-8"
    )
    out = tmp_path / "model.csv"
    assert main(["--labels", str(labels_csv), "--out", str(out), "--n-model", "10",
                 "--n-heldout", "4"]) == 0  # fmt: skip
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == model_ids(ids, 10)
    assert sum(r["split"] == "valid" for r in rows) == 4
    with pytest.raises(SystemExit, match="fewer than --n-model"):
        main(["--labels", str(labels_csv), "--out", str(out), "--n-model", "40"])
