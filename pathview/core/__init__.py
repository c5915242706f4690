"""Small shared types and constants. Imports nothing from the rest of pathview."""

from pathview.core.cache import LruCache
from pathview.core.progress import Cancelled, CancelToken, ProgressFn
from pathview.core.refs import RefSequence
from pathview.core.types import (
    CENTRE_BOX,
    IMAGE_EXTENSIONS,
    N_VIEWS,
    NATIVE_SIZE,
    VIEW_SINGLE,
    VIEW_TTA,
    VIEWS,
    PatchRef,
    Verdict,
    implied_label,
    verdict_for_label,
)

__all__ = [
    "CENTRE_BOX",
    "IMAGE_EXTENSIONS",
    "NATIVE_SIZE",
    "N_VIEWS",
    "VIEWS",
    "VIEW_SINGLE",
    "VIEW_TTA",
    "CancelToken",
    "Cancelled",
    "LruCache",
    "PatchRef",
    "ProgressFn",
    "RefSequence",
    "Verdict",
    "implied_label",
    "verdict_for_label",
]
