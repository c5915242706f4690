"""Scoring many slides: one after the other, or one Ray task per slide.

Scoring slides is embarrassingly parallel: each slide is opened, tiled and scored on its own.
:func:`score_slides` runs them one after the other in this process (one model load), and
:func:`score_slides_on_ray` hands each slide to a Ray task (the optional ``cluster`` extra,
``pip install pathview[cluster]``) that loads the model itself, so the same code runs on a
laptop's local Ray and on a lab's cluster (``address``). A slide that cannot be read is an
outcome with its error, never the end of the run.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathview.scoring.loop import Predictor
from pathview.scoring.slide import SlideScores, score_slide_file, tile_spec_for
from pathview.slide import MIN_TISSUE_FRACTION, SlideError, TileSpec


@dataclass(frozen=True)
class SlideJob:
    """How every slide of a run is scored: the model (directory, device, number format) and
    the scoring options. Plain values, so that a job travels to a Ray worker."""

    model_dir: str | None = None
    device: str = "auto"
    precision: str = "auto"
    tta: bool = False
    batch_size: int = 256
    mpp: float | None = None
    min_tissue: float = MIN_TISSUE_FRACTION


@dataclass(frozen=True)
class SlideOutcome:
    """One slide's scores, or why it has none."""

    path: Path
    scores: SlideScores | None = None
    error: str | None = None


def ray_available() -> bool:
    """Whether Ray (the ``cluster`` extra) is installed."""
    return importlib.util.find_spec("ray") is not None


def score_one(path: Path, job: SlideJob, classifier: Predictor, spec: TileSpec) -> SlideOutcome:
    """Score one slide; a :class:`pathview.slide.SlideError` becomes the outcome's error."""
    try:
        scores = score_slide_file(
            path, classifier, spec, job.mpp, job.tta, job.batch_size, job.min_tissue
        )
    except SlideError as exc:
        return SlideOutcome(path, error=str(exc))
    return SlideOutcome(path, scores)


def score_slides(
    paths: Sequence[Path], job: SlideJob, classifier: Any, spec: TileSpec | None = None
) -> Iterator[SlideOutcome]:
    """Score ``paths`` one after the other with ``classifier`` (a loaded
    :class:`pathview.model.Classifier`; its metadata gives the tile scale unless ``spec``)."""
    spec = spec or tile_spec_for(classifier.metadata)
    for path in paths:
        yield score_one(Path(path), job, classifier, spec)


def _score_in_task(path: str, job: SlideJob) -> SlideOutcome:
    """A Ray task's body: load the model here, on the worker, and score one slide."""
    from pathview.model import load_model

    classifier = load_model(
        Path(job.model_dir) if job.model_dir else None, job.device, job.precision
    )
    return score_one(Path(path), job, classifier, tile_spec_for(classifier.metadata))


def score_slides_on_ray(
    paths: Sequence[Path],
    job: SlideJob,
    address: str | None = None,
    num_cpus: int | None = None,
) -> Iterator[SlideOutcome]:
    """Score ``paths`` with one Ray task per slide; outcomes come as tasks finish.

    Connects to the cluster at ``address`` (``auto``: the one this machine belongs to), or
    starts a local Ray of ``num_cpus`` workers when ``address`` is None and Ray is not running
    yet (and shuts it down afterwards). Raises RuntimeError when Ray is not installed.
    """
    if not ray_available():
        raise RuntimeError("Ray is not installed: pip install 'pathview[cluster]'")
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        started = True
    try:
        task = ray.remote(num_cpus=1)(_score_in_task)
        pending = [task.remote(str(p), job) for p in paths]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started:
            ray.shutdown()
