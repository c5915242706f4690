"""Small shared types and constants. Imports nothing from the rest of pathview."""

from pathview.core.cache import LruCache
from pathview.core.progress import Cancelled, CancelToken, ProgressFn
from pathview.core.refs import RefSequence
from pathview.core.types import (
    CENTRE_BOX,
    IMAGE_EXTENSIONS,
    N_VIEWS,
    NATIVE_SIZE,
    PatchRef,
    Verdict,
    implied_label,
)

__all__ = [
    "CENTRE_BOX",
    "IMAGE_EXTENSIONS",
    "NATIVE_SIZE",
    "N_VIEWS",
    "CancelToken",
    "Cancelled",
    "LruCache",
    "PatchRef",
    "ProgressFn",
    "RefSequence",
    "Verdict",
    "implied_label",
]
