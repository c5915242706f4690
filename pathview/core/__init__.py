"""Small shared types and constants. Imports nothing from the rest of pathview."""

from pathview.core.progress import Cancelled, CancelToken, ProgressFn
from pathview.core.types import (
    CENTRE_BOX,
    IMAGE_EXTENSIONS,
    NATIVE_SIZE,
    PatchRef,
    Verdict,
    implied_label,
)

__all__ = [
    "CENTRE_BOX",
    "IMAGE_EXTENSIONS",
    "NATIVE_SIZE",
    "CancelToken",
    "Cancelled",
    "PatchRef",
    "ProgressFn",
    "Verdict",
    "implied_label",
]
