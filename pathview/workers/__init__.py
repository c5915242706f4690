"""QtCore-only adapters that run the pure functions off the GUI thread and emit signals."""

from pathview.workers._qt_compat import immortalise_singletons

immortalise_singletons()  # before any Qt call: see pathview.workers._qt_compat

from pathview.workers.base import running_workers  # noqa: E402
from pathview.workers.evaluation import EvaluationWorker  # noqa: E402
from pathview.workers.listing import FolderLister  # noqa: E402
from pathview.workers.model_jobs import ModelInfo, ModelWorker  # noqa: E402
from pathview.workers.thumbnails import ThumbnailLoader  # noqa: E402

__all__ = [
    "EvaluationWorker",
    "FolderLister",
    "ModelInfo",
    "ModelWorker",
    "ThumbnailLoader",
    "running_workers",
]
