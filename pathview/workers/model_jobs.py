"""Model jobs: loading and Grad-CAM on ONE dedicated thread, scoring in a child process.

Grad-CAM hooks mutate the network, so two model jobs must never run at once. Scoring a
folder runs in a child process (:mod:`pathview.workers.scoring_process`) when the model
comes from a model directory, so its decoding and inference never hold this process's
interpreter lock while the GUI thread wants it. With an injected loader (tests), or with
``PATHVIEW_SCORING=thread``, or if the child cannot load the model, scoring runs on the model
thread instead, cut into batches: the thread's event loop runs one batch, then whatever else
was asked meanwhile (a Grad-CAM for the newly selected patch), then the next batch.

Every request carries an id; the GUI-side controller drops results of requests it no longer
wants. With TTA each batch also carries every flip/rotation's P(tumour)
(``ScoreBatch.views``), which the session keeps for the stability sort key and the metrics
panel.
"""

from __future__ import annotations

import linecache
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from pathview.core import Cancelled, CancelToken, PatchRef, RefSequence
from pathview.explain import (
    DEFAULT_METHOD,
    METHODS,
    Explanation,
    cam_layer_choices,
    default_cam_layer,
    explain_patch,
)
from pathview.explain.names import layer_labels
from pathview.model.metadata import ModelMetadata, VerdictRecord
from pathview.scoring import ScoreBatch, iter_score_batches
from pathview.workers.base import next_request_id, register_thread
from pathview.workers.scoring_process import ScoringProcess

log = logging.getLogger(__name__)

#: Environment variable: "thread" scores on the model thread instead of a child process.
SCORING_ENV = "PATHVIEW_SCORING"

#: (model_dir or None for the bundled model, device) -> classifier.
ModelLoader = Callable[[Path | None, str], Any]
#: (classifier, pixels HxWx3 uint8, method, layer) -> explanation.
Explainer = Callable[[Any, np.ndarray, str, str], Explanation]


def preload_model_libraries() -> None:
    """Import the model stack (torch, pytorch-grad-cam and what they pull in) on the calling
    thread, which must be the GUI thread.

    PySide6 hooks every ``import`` and that hook is not thread-safe: a first import of a big
    package on the model thread while the GUI thread imports too can crash the interpreter
    ("none_dealloc"). Importing up front costs ~2 s once per process, at start-up.

    That hook also reads the source of every module imported after PySide6 (to look for its
    ``__feature__`` imports), and Python's line cache keeps every line it read: about 2,800
    files and 150 MB of strings for this stack, held for the life of the process. The cache
    is emptied afterwards (it only serves tracebacks, which read the files again as needed).
    """
    import pytorch_grad_cam  # noqa: F401

    import pathview.model  # noqa: F401

    linecache.clearcache()


def inference_threads() -> int:
    """CPU threads for inference in the app: all cores but one (at least one)."""
    return max(1, (os.cpu_count() or 2) - 1)


#: Nice increment of the model thread (Linux: nice is per thread, and threads it starts
#: inherit it). The GUI thread then wins the CPU whenever both want it.
MODEL_THREAD_NICE = 10


def lower_thread_priority(increment: int = MODEL_THREAD_NICE) -> bool:
    """Lower the calling thread's scheduling priority where the OS allows it per thread.

    Measured on a 2-core machine: scoring at normal priority left the GUI thread waiting for
    the CPU (Qt's raster painting hands work to helper threads and waits for them), with
    event-loop stalls of 100 ms and more. A niced model thread still uses every idle cycle.
    Returns whether the priority was changed (Linux only; elsewhere a no-op).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + increment))
    except OSError:
        return False
    return True


def default_model_loader(model_dir: Path | None, device: str) -> Any:
    from pathview.model import load_model

    return load_model(model_dir, device=device)


def default_explainer(classifier: Any, pixels: np.ndarray, method: str, layer: str) -> Explanation:
    return explain_patch(classifier, pixels, method=method or DEFAULT_METHOD, layer=layer or None)


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI may know about the loaded model (the network itself stays on its thread)."""

    model_id: str
    default_layer: str
    layers: tuple[str, ...]  # finest first
    methods: dict[str, str]  # key -> display name
    device: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # the model's name in its metadata ("" when it has none)
    precision: str = ""  # "int8" or "float32": the number format P(tumour) is computed in
    #: Why the device or the precision is not the one asked for ("" when they are).
    note: str = ""
    #: A retrained model's verdict against its parent (None: not retrained, or no verdict).
    verdict: VerdictRecord | None = None
    #: The reader's name of each layer in ``layers`` ("Block 2 of 3, 12×12").
    layer_names: dict[str, str] = field(default_factory=dict)


def _model_name(meta: object) -> str:
    """The name in a model's metadata: a typed record's ``name`` or a dict's "name" key."""
    name = meta.get("name") if isinstance(meta, dict) else getattr(meta, "name", None)
    return str(name) if name else ""


def describe_model(classifier: Any) -> ModelInfo:
    """Summarise a classifier for the GUI (probing layers runs the network: model thread)."""
    try:
        choices = cam_layer_choices(classifier)
        default_layer = default_cam_layer(classifier)
    except Exception:  # a classifier without an explainable network still scores
        choices, default_layer = {}, ""
    layers = tuple(choices)
    if default_layer and default_layer not in layers:
        layers = (default_layer, *layers)
    network = getattr(classifier, "network", None)
    modules = (
        [n for n, _ in network.named_modules()] if isinstance(network, torch.nn.Module) else []
    )
    names = layer_labels({name: choices.get(name, 0) for name in layers}, modules)
    meta = getattr(classifier, "metadata", None)
    return ModelInfo(
        model_id=str(getattr(classifier, "model_id", "unknown")),
        default_layer=default_layer,
        layers=layers,
        methods=dict(METHODS),
        device=str(getattr(classifier, "device", "")),
        metadata=meta.to_dict() if isinstance(meta, ModelMetadata) else {},
        name=_model_name(meta),
        precision=str(getattr(classifier, "precision", "")),
        note="; ".join(
            n
            for n in (
                getattr(classifier, "device_note", None),
                getattr(classifier, "precision_note", None),
            )
            if n
        ),
        verdict=meta.verdict if isinstance(meta, ModelMetadata) else None,
        layer_names=names,
    )


class _ModelRunner(QObject):
    """Lives on the model thread; all its slots run there, one at a time."""

    model_loaded = Signal(ModelInfo)
    model_failed = Signal(str)
    batch_scored = Signal(int, ScoreBatch)  # request id, batch
    scoring_ended = Signal(int, str)  # request id, "done" | "cancelled" | error text
    explained = Signal(int, str, Explanation)  # request id, patch id, explanation
    explain_error = Signal(int, str, str)
    _step_requested = Signal()

    def __init__(self, loader: ModelLoader, explainer: Explainer) -> None:
        super().__init__()
        self._loader = loader
        self._explainer = explainer
        self._classifier: Any = None
        self._niced = False
        self._job: tuple[int, Iterator[ScoreBatch], CancelToken] | None = None
        self._step_requested.connect(self._step, Qt.ConnectionType.QueuedConnection)

    @Slot(object, str)
    def load(self, model_dir: Path | None, device: str) -> None:
        self._classifier = None
        if not self._niced:  # once per thread: each call lowers the priority further
            self._niced = lower_thread_priority()
        # Leave a core to the GUI thread: on a 2-core laptop, torch's default of one thread
        # per core starves the event loop while scoring.
        torch.set_num_threads(inference_threads())
        try:
            classifier = self._loader(model_dir, device)
        except Exception as exc:  # any failure means: no model, the app still browses
            self.model_failed.emit(f"{type(exc).__name__}: {exc}")
            return
        self._classifier = classifier
        self.model_loaded.emit(describe_model(classifier))

    @Slot(int, object, object, bool, object, object, bool)
    def score(
        self,
        request_id: int,
        root: Path,
        refs: Sequence[PatchRef],
        tta: bool,
        token: CancelToken,
        cache: Path | None = None,
        insight: bool = False,
    ) -> None:
        if self._job is not None:
            self._job[2].cancel()
            self.scoring_ended.emit(self._job[0], "cancelled")
            self._job = None
        if self._classifier is None:
            self.scoring_ended.emit(request_id, "no model loaded")
            return
        batches = iter_score_batches(
            root,
            refs,
            self._classifier,
            tta=tta,
            cancel=token,
            cache=cache,
            quality=insight,
            features=insight,
        )
        self._job = (request_id, batches, token)
        self._step_requested.emit()

    @Slot()
    def _step(self) -> None:
        if self._job is None:
            return
        request_id, batches, token = self._job
        try:
            batch = next(batches)
        except StopIteration:
            self._job = None
            self.scoring_ended.emit(request_id, "done")
            return
        except Cancelled:
            self._job = None
            self.scoring_ended.emit(request_id, "cancelled")
            return
        except Exception as exc:
            self._job = None
            traceback.print_exc()
            self.scoring_ended.emit(request_id, f"{type(exc).__name__}: {exc}")
            return
        self.batch_scored.emit(request_id, batch)
        if token.cancelled:
            self._job = None
            self.scoring_ended.emit(request_id, "cancelled")
            return
        self._step_requested.emit()  # queued: pending Grad-CAM requests run first

    @Slot(int, str, object, str, str)
    def explain(
        self, request_id: int, patch_id: str, pixels: np.ndarray, method: str, layer: str
    ) -> None:
        if self._classifier is None:
            self.explain_error.emit(request_id, patch_id, "no model loaded")
            return
        try:
            explanation = self._explainer(self._classifier, pixels, method, layer)
        except Exception as exc:
            self.explain_error.emit(request_id, patch_id, f"{type(exc).__name__}: {exc}")
            return
        self.explained.emit(request_id, patch_id, explanation)


class ModelWorker(QObject):
    """GUI-side handle of the model thread. Signals fire in the GUI thread."""

    model_loaded = Signal(ModelInfo)
    model_failed = Signal(str)  # reason
    #: The scoring child process has loaded its model (its id); with the child off, never.
    process_model_loaded = Signal(str)
    # request id, batch; with TTA it carries each view's P(tumour) (ScoreBatch.views)
    scores_ready = Signal(int, ScoreBatch)
    scoring_progressed = Signal(int, int, int)  # request id, done, total
    scoring_finished = Signal(int, str)  # request id, "done" | "cancelled" | error
    explanation_ready = Signal(int, str, Explanation)  # request id, patch id, explanation
    explanation_failed = Signal(int, str, str)  # request id, patch id, reason
    #: An explanation asked for ahead of time (``explain_ahead``): request id, patch id, it.
    explanation_prefetched = Signal(int, str, Explanation)
    prefetch_failed = Signal(int)  # an explain_ahead request's id: it gave no explanation

    _load_requested = Signal(object, str)
    _score_requested = Signal(int, object, object, bool, object, object, bool)
    _explain_requested = Signal(int, str, object, str, str)

    def __init__(
        self,
        parent: QObject | None = None,
        loader: ModelLoader | None = None,
        explainer: Explainer | None = None,
        scoring_process: bool | None = None,
    ) -> None:
        """``scoring_process``: score in a child process (default: when ``loader`` is the
        default one, i.e. models are model directories the child can load too, unless
        ``PATHVIEW_SCORING=thread``)."""
        super().__init__(parent)
        preload_model_libraries()
        self._thread = QThread()
        self._thread.setObjectName("model")
        register_thread(self._thread)
        self._runner = _ModelRunner(loader or default_model_loader, explainer or default_explainer)
        self._runner.moveToThread(self._thread)
        self._thread.finished.connect(self._runner.deleteLater)
        self._load_requested.connect(self._runner.load)
        self._score_requested.connect(self._runner.score)
        self._explain_requested.connect(self._runner.explain)
        self._runner.model_loaded.connect(self._on_loaded)
        self._runner.model_failed.connect(self._on_failed)
        self._runner.batch_scored.connect(self._on_batch)
        self._runner.scoring_ended.connect(self._on_scoring_ended)
        self._runner.explained.connect(self._on_explained)
        self._runner.explain_error.connect(self._on_explain_error)
        self._thread.start()
        self._score_id = 0
        self._score_token = CancelToken()
        self._explain_id = 0
        self._ahead: set[int] = set()  # explain_ahead requests not answered yet
        self.info: ModelInfo | None = None
        self.failure: str | None = None
        if scoring_process is None:
            scoring_process = loader is None and os.environ.get(SCORING_ENV, "") != "thread"
        self._process: ScoringProcess | None = None
        self._process_usable = False
        self._on_process = False  # the running request was sent to the child
        self._score_args: tuple[Path, Sequence[PatchRef], bool, Path | None, bool] | None = None
        if scoring_process:
            self._process = ScoringProcess(self)
            self._process.batch_scored.connect(self._on_batch)
            self._process.scoring_ended.connect(self._on_process_ended)
            self._process.failed.connect(self._on_process_failed)
            self._process.loaded.connect(self.process_model_loaded)

    @property
    def scoring_in_process(self) -> bool:
        """Whether the next scoring request goes to the child process."""
        return self._process is not None and self._process_usable

    @property
    def scoring(self) -> bool:
        return self._score_id != 0

    @property
    def scoring_request(self) -> int:
        return self._score_id

    def load(self, model_dir: Path | None = None, device: str = "auto") -> None:
        self.info = None
        self.failure = None
        self._load_requested.emit(model_dir, device)
        if self._process is not None:
            self._process_usable = True
            self._process.load(model_dir, device)

    def score(
        self,
        root: Path,
        refs: Sequence[PatchRef],
        tta: bool = False,
        cache: Path | None = None,
        insight: bool = False,
    ) -> int:
        """Score ``refs`` (a new request replaces the running one); returns the request id.
        With ``cache`` (a score cache file) the patches it answers come first, unscored,
        and what is scored is recorded there. With ``insight`` the batches also carry
        quality rows and embeddings (``ScoreBatch.quality``, ``ScoreBatch.features``); a
        patch answered from the cache then carries its cached embedding and quality rows."""
        self.cancel_scoring()
        self._score_token = CancelToken()
        self._score_id = next_request_id()
        self._score_total = len(refs)
        # A list is copied (the caller may change it); a RefSequence is already a snapshot.
        snapshot = refs if isinstance(refs, RefSequence) else list(refs)
        self._score_args = (Path(root), snapshot, tta, cache, insight)
        self._on_process = self.scoring_in_process
        if self._process is not None and self._on_process:
            self._process.score(self._score_id, Path(root), snapshot, tta, cache, insight)
        else:
            self._score_requested.emit(
                self._score_id, Path(root), snapshot, tta, self._score_token, cache, insight
            )
        return self._score_id

    def cancel_scoring(self) -> None:
        if self._score_id:
            self._score_token.cancel()
            if self._process is not None and self._on_process:
                self._process.cancel(self._score_id)
            finished = self._score_id
            self._score_id = 0
            self.scoring_finished.emit(finished, "cancelled")

    def explain(self, patch_id: str, pixels: np.ndarray, method: str, layer: str) -> int:
        """Ask for an explanation; only the latest request's result is delivered."""
        self._explain_id = next_request_id()
        self._explain_requested.emit(self._explain_id, patch_id, pixels, method, layer)
        return self._explain_id

    def forget_explanation(self) -> None:
        self._explain_id = 0

    def explain_ahead(self, patch_id: str, pixels: np.ndarray, method: str, layer: str) -> int:
        """Ask for an explanation of a patch not shown yet; every such result is delivered
        (``explanation_prefetched``), after whatever the model thread was already asked."""
        request = next_request_id()
        self._ahead.add(request)
        self._explain_requested.emit(request, patch_id, pixels, method, layer)
        return request

    def forget_prefetch(self) -> None:
        """Drop the results of every explain_ahead request still running."""
        self._ahead.clear()

    @property
    def prefetching(self) -> int:
        """explain_ahead requests not answered yet."""
        return len(self._ahead)

    def shutdown(self) -> None:
        """Cancel everything and stop the thread (waits for a running batch to end)."""
        self.cancel_scoring()
        self._explain_id = 0
        self._ahead.clear()
        if self._process is not None:
            self._process.shutdown()
        self._thread.quit()
        self._thread.wait()

    # -- results arrive here, in the GUI thread ---------------------------------------------
    def _on_loaded(self, info: ModelInfo) -> None:
        self.info = info
        self.model_loaded.emit(info)

    def _on_failed(self, reason: str) -> None:
        self.failure = reason
        self.model_failed.emit(reason)

    def _on_batch(self, request_id: int, batch: ScoreBatch) -> None:
        if request_id == self._score_id:
            self.scores_ready.emit(request_id, batch)
            self.scoring_progressed.emit(request_id, batch.done, batch.total)

    def _on_scoring_ended(self, request_id: int, outcome: str) -> None:
        if request_id == self._score_id:
            self._score_id = 0
            self.scoring_finished.emit(request_id, outcome)

    def _on_process_ended(self, request_id: int, outcome: str) -> None:
        if self._on_process:  # else a late reply of a request that moved to the thread
            self._on_scoring_ended(request_id, outcome)

    def _on_process_failed(self, reason: str) -> None:
        """The child could not load the model (or start): score on the model thread, and
        move a request the child was given there."""
        log.warning("the scoring process has no model (%s): scoring uses the model thread", reason)
        self._process_usable = False
        if self._score_id and self._on_process and self._score_args is not None:
            self._on_process = False
            root, refs, tta, cache, insight = self._score_args
            self._score_requested.emit(
                self._score_id, root, refs, tta, self._score_token, cache, insight
            )

    def _on_explained(self, request_id: int, patch_id: str, explanation: Explanation) -> None:
        if request_id in self._ahead:
            self._ahead.discard(request_id)
            self.explanation_prefetched.emit(request_id, patch_id, explanation)
        elif request_id == self._explain_id:
            self.explanation_ready.emit(request_id, patch_id, explanation)

    def _on_explain_error(self, request_id: int, patch_id: str, reason: str) -> None:
        if request_id in self._ahead:  # the patch is explained again when it is shown
            self._ahead.discard(request_id)
            self.prefetch_failed.emit(request_id)
        elif request_id == self._explain_id:
            self.explanation_failed.emit(request_id, patch_id, reason)
