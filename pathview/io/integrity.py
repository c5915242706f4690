"""Kaggle integrity check: a Kaggle id is the SHA-1 of the patch's 96x96x3 uint8 RGB pixels."""

from __future__ import annotations

import enum
import re

import numpy as np

from pathview.core import NATIVE_SIZE
from pathview.io.decode import pixel_sha1

_KAGGLE_ID = re.compile(r"^[0-9a-f]{40}$")


class Integrity(str, enum.Enum):
    """Whether a file's pixels still match the Kaggle id it is named by."""

    VERIFIED = "verified"
    ALTERED = "altered"
    NOT_KAGGLE = "not a Kaggle id"
    UNREADABLE = "unreadable"


def looks_like_kaggle_id(patch_id: str) -> bool:
    """True for a 40-hex-digit lower-case name, the form of every Kaggle patch id."""
    return bool(_KAGGLE_ID.match(patch_id))


def check_integrity(patch_id: str, pixels: np.ndarray | None, sha1: str | None = None) -> Integrity:
    """Compare a Kaggle-style id with the SHA-1 of the pixels it names.

    A file named like a Kaggle id whose 96x96 RGB pixels do not hash to that id (renamed,
    re-encoded lossily, edited or resized) is ALTERED. Other names are NOT_KAGGLE: nothing to
    check. Missing pixels are UNREADABLE. ``sha1``, when given, is :func:`pixel_sha1` of these
    pixels, already computed by the caller (it is not hashed again).
    """
    if pixels is None:
        return Integrity.UNREADABLE
    if not looks_like_kaggle_id(patch_id):
        return Integrity.NOT_KAGGLE
    if pixels.shape != (NATIVE_SIZE, NATIVE_SIZE, 3):
        return Integrity.ALTERED
    digest = pixel_sha1(pixels) if sha1 is None else sha1
    return Integrity.VERIFIED if digest == patch_id else Integrity.ALTERED
