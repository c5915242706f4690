"""Review records as the app writes them, for stores, logs and retraining inputs."""

from __future__ import annotations

from pathlib import Path

from pathview.core import Verdict
from pathview.io import pixel_sha1, read_patch
from pathview.store import REVIEWER, ReviewInput


def verdict_for(label: int, p: float) -> Verdict:
    """The verdict that makes the training label ``label`` given the model's P(tumour)."""
    return Verdict.AGREE if int(p >= 0.5) == label else Verdict.DISAGREE


def file_review(
    folder: Path,
    pid: str,
    verdict: Verdict,
    reviewer: str,
    p: float,
    model_id: str = "",
    role: str = REVIEWER,
) -> ReviewInput:
    """A review of ``folder/<pid>.tif`` carrying the SHA-1 of its pixels and its relative path,
    as the app records it when a reviewer presses a key."""
    pixels = read_patch(folder / f"{pid}.tif").pixels
    assert pixels is not None
    return ReviewInput(
        pid,
        verdict,
        reviewer,
        pixel_sha1(pixels),
        f"{pid}.tif",
        model_id=model_id,
        p_tumour=p,
        role=role,
    )
