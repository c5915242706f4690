"""The patch facts the panel shows are formatted by a pure, Qt-free function."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pathview.explain import ExplainStatus, Explanation
from pathview.io import Integrity, PatchInfo
from pathview.triage import ReviewCode
from pathview.ui.facts import PatchFacts, PatchRow, format_patch_facts

ROOT = Path(__file__).resolve().parents[1]
NAN = math.nan


def row(p: float = 0.8, spread: float = NAN, truth: int = -1, review: int = 0) -> PatchRow:
    return PatchRow("sub/abc.tif", p, spread, truth, review)


def info(**changes: object) -> PatchInfo:
    values: dict[str, object] = dict(
        patch_id="abc",
        pixels=np.zeros((96, 96, 3), np.uint8),
        error=None,
        integrity=Integrity.VERIFIED,
        sha1="abc",
        file_size=27935,
        size=(96, 96),
    )
    values.update(changes)
    return PatchInfo(**values)  # type: ignore[arg-type]


def explanation(heat: np.ndarray | None, focus: float | None = 0.25) -> Explanation:
    return Explanation(
        map=heat,
        status=ExplainStatus.OK if heat is not None else ExplainStatus.NO_EVIDENCE,
        reason="" if heat is not None else "flat map",
        centre_focus=focus,
        p_tumour=0.8,
        logit=1.4,
        target="tumour",
        method="gradcam",
        layer="stages.1",
        map_side=(6, 6),
        class_specific=True,
    )


def facts(**kwargs: object) -> PatchFacts:
    args: dict[str, object] = dict(
        row=row(), info=info(), explanation=None, has_model=True, heatmap_enabled=True
    )
    args.update(kwargs)
    return format_patch_facts(
        args["row"],  # type: ignore[arg-type]
        args["info"],  # type: ignore[arg-type]
        args["explanation"],  # type: ignore[arg-type]
        has_model=bool(args["has_model"]),
        heatmap_enabled=bool(args["heatmap_enabled"]),
        method_names={"gradcam": "Grad-CAM"},
    )


def test_nothing_selected_is_all_dashes() -> None:
    assert facts(row=None) == PatchFacts()
    assert PatchFacts().probability == "—"


def test_probability_with_and_without_model_and_tta() -> None:
    f = facts()
    assert f.probability == "0.800  → tumour" and f.p_value == 0.8
    assert facts(row=row(p=0.2, spread=0.05)).probability == "0.200 ± 0.050 (TTA spread)  → normal"
    assert facts(row=row(p=NAN)).probability == "not scored"
    unscored = facts(row=row(p=NAN), has_model=False)
    assert unscored.probability == "no model" and unscored.p_value is None


def test_truth_review_file_and_integrity() -> None:
    f = facts(row=row(truth=1, review=int(ReviewCode.DISAGREE)))
    assert (f.name, f.truth, f.review) == ("sub/abc.tif", "1 (tumour)", "disagreed")
    assert facts(row=row(truth=0)).truth == "0 (normal)" and facts().truth == "unknown"
    assert facts().review == "unreviewed"
    assert f.file == "96 × 96 px, 27,935 bytes" and f.integrity == "verified"
    loading = facts(info=None)
    assert loading.file == "loading…" and loading.integrity == "loading…"
    broken = facts(info=info(pixels=None, error="not a TIFF", size=None, file_size=None))
    assert broken.file == "unreadable" and broken.integrity == "verified — not a TIFF"


def test_heat_map_line() -> None:
    assert facts().explanation == "computing…"
    assert facts(has_model=False).explanation == "no model"
    assert facts(heatmap_enabled=False).explanation == "hidden"
    shown = facts(explanation=explanation(np.zeros((96, 96), np.float32)))
    assert shown.explanation == "Grad-CAM, stages.1"  # no readable name known
    assert shown.explanation_tip == "method gradcam, layer stages.1"
    named = format_patch_facts(
        row(),
        info(),
        explanation(np.zeros((96, 96), np.float32)),
        has_model=True,
        heatmap_enabled=True,
        method_names={"gradcam": "Grad-CAM"},
        layer_names={"stages.1": "Block 2 of 3, 12×12"},
    )
    assert named.explanation == "Grad-CAM, block 2 of 3, 12×12"
    assert shown.centre_focus == "25% of the map inside the centre box"
    flat = facts(explanation=explanation(None, focus=None))
    assert flat.explanation == f"Grad-CAM, stages.1: {ExplainStatus.NO_EVIDENCE} (flat map)"
    assert flat.centre_focus == "—"


@pytest.mark.slow
def test_the_formatter_imports_no_qt() -> None:
    code = (
        "import sys, pathview.ui.facts; "
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'qtpy', 'superqt'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
