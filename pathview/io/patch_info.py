"""One patch file loaded for display: its pixels, integrity check, hash and size, and the
file status the grid badges (no Qt)."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pathview.core import NATIVE_SIZE, PatchRef
from pathview.io.decode import pixel_sha1, read_patch
from pathview.io.integrity import Integrity, check_integrity


class FileStatus(enum.IntEnum):
    """What decoding a file taught us; UNKNOWN until its thumbnail or score was loaded."""

    UNKNOWN = 0
    OK = 1
    ODD_SIZE = 2  # decodes, but is not 96 x 96
    ALTERED = 3  # named like a Kaggle id, pixels do not hash to it
    UNREADABLE = 4


@dataclass(frozen=True)
class PatchInfo:
    """What loading one file yields: pixels (or the reason there are none) and its checks."""

    patch_id: str
    pixels: np.ndarray | None
    error: str | None
    integrity: Integrity
    sha1: str | None
    file_size: int | None
    size: tuple[int, int] | None

    @property
    def status(self) -> FileStatus:
        if self.pixels is None:
            return FileStatus.UNREADABLE
        if self.integrity is Integrity.ALTERED:
            return FileStatus.ALTERED
        if self.size != (NATIVE_SIZE, NATIVE_SIZE):
            return FileStatus.ODD_SIZE
        return FileStatus.OK

    @property
    def reason(self) -> str:
        """A short human reason for a non-OK status (empty when OK)."""
        status = self.status
        if status is FileStatus.UNREADABLE:
            return self.error or "unreadable"
        if status is FileStatus.ALTERED:
            return "pixels do not match the Kaggle id (altered or re-encoded)"
        if status is FileStatus.ODD_SIZE and self.size is not None:
            return f"{self.size[0]} x {self.size[1]} px, not 96 x 96"
        return ""


def load_patch_info(root: Path, ref: PatchRef) -> PatchInfo:
    """Decode one patch and run its integrity check. Never raises for a bad file."""
    path = ref.path(root)
    decoded = read_patch(path)
    try:
        file_size: int | None = os.stat(path).st_size
    except OSError:
        file_size = None
    pixels = decoded.pixels
    sha1 = None if pixels is None else pixel_sha1(pixels)
    return PatchInfo(
        patch_id=ref.id,
        pixels=pixels,
        error=None if decoded.error is None else str(decoded.error),
        integrity=check_integrity(ref.id, pixels, sha1),
        sha1=sha1,
        file_size=file_size,
        size=decoded.size,
    )
