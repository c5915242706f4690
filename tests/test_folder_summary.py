"""The folder summary (pathview.triage.folder_summary): counts, class balance, flags,
duplicate groups, clusters with mean P and review agreement, the map; in ``pathview report``."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.cli import run_cli

from pathview.triage import DuplicateGroups
from pathview.triage.folder_summary import map_png, map_svg, summarise_folder, summary_html


def test_summary_numbers_on_a_tiny_folder() -> None:
    # Six patches: two tight blobs of three in embedding space.
    features = np.array([[0, 0], [0.1, 0], [0, 0.1], [10, 10], [10.1, 10], [10, 10.1]], np.float32)
    p = np.array([0.9, 0.8, np.nan, 0.1, 0.2, 0.3])
    truth = np.array([1, 1, -1, 0, 1, -1])
    labels = np.array([1, 0, -1, 0, -1, -1])  # row 1's review contradicts the model
    flags = {
        "blank": np.array([0, 0, 0, 0, 0, 1], bool),
        "dark": np.array([1, 0, 0, 0, 0, 1], bool),
    }
    groups = DuplicateGroups(np.array([1, 1, 0, 0, 0, 0]), np.array([1, 1, 0, 2, 2, 0]))
    s = summarise_folder(p, truth, labels, flags, np.ones(6, bool), groups, features, k=2)
    assert s.patches == 6 and s.scored == 5
    assert s.truth == {"normal": 1, "tumour": 3, "no label": 2}
    assert s.called == {"normal": 3, "tumour": 2}
    assert s.reviewed == {"normal": 2, "tumour": 1}
    assert s.flagged["blank"] == 1 and s.flagged["dark"] == 2 and s.flagged["any flag"] == 2
    assert s.flagged["ink"] == 0
    assert (s.exact_groups, s.exact_patches, s.near_groups, s.near_patches) == (1, 2, 2, 4)
    # Group 1: reviews 1 and 0 disagree; group 2: truth 0 and 1 straddle.
    assert s.conflicts == 2
    a, b = sorted(s.clusters, key=lambda c: c.mean_p)
    assert (a.size, b.size) == (3, 3)
    assert a.mean_p == pytest.approx(0.2) and b.mean_p == pytest.approx(0.85)
    assert (a.reviewed, a.agreement) == (1, 1.0)  # row 3: label 0, call normal
    assert (b.reviewed, b.agreement) == (2, 0.5)  # rows 0 (agrees) and 1 (does not)
    assert a.truth_tumour == pytest.approx(0.5) and b.truth_tumour == 1.0
    page = summary_html(s)
    assert "2 groups (4 patches)" in page and "<h3>Clusters" in page
    # Without embeddings there are no clusters, and nothing breaks.
    bare = summarise_folder(p, truth, labels, {}, np.zeros(6, bool), groups)
    assert bare.clusters == [] and bare.flagged["any flag"] == 0 and bare.measured == 0


def test_map_pictures() -> None:
    xy = np.array([[0, 0], [1, 1], [1, 0]], np.float32)
    png = map_png(xy, np.array([0.0, 1.0, math.nan]))
    assert png.startswith(b"\x89PNG")
    svg = map_svg(xy, np.array([0.0, 1.0, math.nan]))
    assert svg.count("<rect") == 4  # the background and one cell per point
    assert "http" not in svg


@pytest.mark.slow
def test_report_has_the_folder_summary(tmp_path: Path, kaggle_folder: Path, tiny_dir: Path) -> None:
    first = sorted(kaggle_folder.glob("*.tif"))[0]
    shutil.copy(first, kaggle_folder / "copy_of_first.tif")
    out = tmp_path / "report.html"
    assert (
        run_cli("report", kaggle_folder, "--out", out, "--model", tiny_dir, "--device", "cpu") == 3
    )
    page = out.read_text()
    assert "<h2>Folder summary</h2>" in page
    assert "<td>scored</td><td>13</td>" in page  # 12 patches and the copy; one corrupt file
    assert re.search(r"<td>exact duplicates</td><td>1 group \(2 patches\)</td>", page)
    assert re.search(r"<td>labels CSV</td><td>\d+ normal, \d+ tumour, 1 without a label</td>", page)
    assert "<h3>Clusters of the embeddings" in page and "embedding map" in page
