"""The HTML evaluation report (pathview.evaluation.html) and ``pathview report``."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import numpy as np
import pytest
from support.cli import run_cli
from support.models import make_tiny_model
from support.patches import copy_balanced_patches

import pathview.evaluation.html as report_module
from pathview.core import Verdict
from pathview.core.files import atomic_text_writer
from pathview.evaluation import build_report, summarise_reviewers
from pathview.evaluation.html import render_html, write_html_report
from pathview.store import ReviewInput, ReviewStore, open_store_for_folder

IDS = ["a", "b", "c", "d"]
P = np.array([0.1, 0.4, 0.35, 0.8], np.float32)
TRUTH = {"a": 0, "b": 0, "c": 1, "d": 1}

# Anything that would make the file depend on the network or on other files.
EXTERNAL = re.compile(r"https?://|<script|<link|<img|src=|@import|url\(", re.IGNORECASE)


def _report_with_reviewers(tmp_path: Path) -> str:
    with ReviewStore(tmp_path / "r.sqlite") as store:
        for pid, ann, bob in (("a", 0, 0), ("b", 0, 1), ("c", 1, 1), ("d", 1, 1)):
            for reviewer, label in (("ann", ann), ("bob", bob)):
                verdict = (
                    Verdict.AGREE if int(P[IDS.index(pid)] >= 0.5) == label else Verdict.DISAGREE
                )
                store.record(ReviewInput(pid, verdict, reviewer, p_tumour=float(P[IDS.index(pid)])))
        summary = summarise_reviewers(store)
    report = build_report(
        IDS,
        P,
        TRUTH,
        {"a": 0, "c": 1, "d": 1},
        data_name="/data/<fixture>",
        model_id="f" * 64,
        model_name="tiny",
        reviewers=summary,
        unstable=["c"],
    )
    return render_html(report, details={"ground truth": "labels.csv"}, generated_utc="now")


def test_html_names_data_and_model_and_holds_the_numbers(tmp_path: Path) -> None:
    page = _report_with_reviewers(tmp_path)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "/data/&lt;fixture&gt;" in page  # escaped
    assert "tiny ffffffffffff" in page and "f" * 64 in page
    # Truth: AUC 0.75, sensitivity 0.5, specificity 1, accuracy 0.75 at 0.5.
    assert "<td>0.7500</td><td>0.7500</td><td>0.5000</td><td>1.0000</td>" in page
    assert "ground truth AUC 0.7500" in page
    # Reviews (a 0, c 1, d 1): AUC 1.
    assert "reviews AUC 1.0000" in page
    assert page.count("<svg") == 3 and "<polyline" in page and "<circle" in page
    text = html.unescape(page)
    assert "Cohen's kappa 0.500 between ann, bob on 4 shared patches" in text
    assert "Adjudication queue: 1 patches" in page and "<li>b</li>" in page
    assert "1 of 4 patches change their call" in page and "<li>c</li>" in page


def test_html_is_self_contained(tmp_path: Path) -> None:
    page = _report_with_reviewers(tmp_path)
    assert not EXTERNAL.search(page), EXTERNAL.search(page)


def test_html_without_data_says_so() -> None:
    page = render_html(build_report(IDS, P, None, None), generated_utc="now")
    assert "no scored patch has ground truth" in page and "<svg" not in page
    one_class = render_html(build_report(IDS, P, {"a": 1, "b": 1}), generated_utc="now")
    assert "AUC undefined" in one_class and "n/a" in one_class


def test_write_uses_atomic_writer_and_keeps_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.html"
    out.write_text("old")
    used: list[Path] = []

    @contextlib.contextmanager
    def failing_writer(path: Path) -> Iterator[TextIO]:
        used.append(Path(path))
        with atomic_text_writer(path) as handle:
            yield handle
            raise OSError("disk full")

    monkeypatch.setattr(report_module, "atomic_text_writer", failing_writer)
    with pytest.raises(OSError):
        write_html_report(out, build_report(IDS, P, TRUTH))
    assert used == [out] and out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary left
    monkeypatch.undo()
    write_html_report(out, build_report(IDS, P, TRUTH))
    assert "AUC" in out.read_text()


# ------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path) -> Path:
    """8 real Kaggle patches (4 tumour) and their labels.csv."""
    return copy_balanced_patches(data_dir / "kaggle", tmp_path / "patches", 4)


def test_cli_writes_report_with_truth_reviews_and_agreement(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = sorted(p.stem for p in folder.glob("*.tif"))
    with open_store_for_folder(folder) as store:
        for i, pid in enumerate(ids[:4]):
            store.record(ReviewInput(pid, Verdict.AGREE, "ann", p_tumour=0.9))
            verdict = Verdict.DISAGREE if i == 0 else Verdict.AGREE
            store.record(ReviewInput(pid, verdict, "bob", p_tumour=0.9))
    out = tmp_path / "out" / "report.html"
    code = run_cli(
        "report", folder, "--out", out, "--model", tiny_dir, "--device", "cpu", "--stability"
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    page = out.read_text()
    assert not EXTERNAL.search(page)
    line = re.search(r"truth: (AUC \S+  accuracy \S+)", captured.out)
    assert line is not None and "on 8 labelled patches (4 tumour)" in captured.out
    assert f"ground truth {line.group(1).split('  ')[0]}" in page
    assert "reviews: AUC" in captured.out
    assert "Cohen's kappa" in captured.out and "1 to adjudicate" in captured.out
    assert f"<li>{ids[0]}</li>" in page  # the adjudication queue
    assert "Stability under the 8 flips/rotations" in page
    assert "tiny-test" in page and str(folder.resolve()) in page
    # What scored it: the tiny model has no int8 weights and no input codec.
    assert "<td>number format</td><td>float32</td>" in page
    assert "<td>device</td><td>cpu</td>" in page
    assert "<td>input codec</td><td>none</td>" in page
    assert "float32 on cpu, input codec none" in captured.out


def test_cli_source_and_threshold(
    folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    code = run_cli(
        "report", folder, "--out", out, "--model", tiny_dir, "--source", "truth",
        "--threshold", "0.25",
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "at threshold 0.25" in printed and "reviews:" not in printed
    assert "P(tumour) &gt;= 0.25 is called tumour" in out.read_text()


@pytest.mark.parametrize("case", ["no-folder", "nothing-to-compare", "bad-labels", "bad-model"])
def test_cli_failures_write_nothing(
    case: str, folder: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    target, extra = folder, []
    if case == "no-folder":
        target = tmp_path / "missing"
    elif case == "nothing-to-compare":
        (folder / "labels.csv").unlink()
    elif case == "bad-labels":
        extra = ["--labels", tmp_path / "nope.csv"]
    else:
        (tiny_dir / "weights.pt").rename(tmp_path / "weights.pt")
    try:
        code = run_cli("report", target, "--out", out, "--model", tiny_dir, *extra)
    finally:
        if case == "bad-model":
            (tmp_path / "weights.pt").rename(tiny_dir / "weights.pt")
    assert code == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("pathview report:")
    assert not out.exists()
