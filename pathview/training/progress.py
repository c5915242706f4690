"""Training progress: epoch, batch, loss, speed and ETA.

On a terminal one status line is redrawn in place (at most a few times a second) and log
records are printed above it; otherwise (a log file, CI, a pipe) a plain log line is written
every ``log_every_s`` seconds, so logs stay readable. The loss is read from the device only
when a line is drawn: asking for it every step would synchronise the GPU each step.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import torch

log = logging.getLogger("pathview.training.progress")


@dataclass(frozen=True)
class StepInfo:
    """Where training is after one optimiser step (counts are 1-based and inclusive)."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    step: int
    total_steps: int
    loss: torch.Tensor | float


def format_duration(seconds: float) -> str:
    """H:MM:SS or M:SS."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class Progress:
    """Consumes :class:`StepInfo` (the ``on_step`` hook of ``train_model``) and shows it."""

    def __init__(
        self,
        stream: TextIO | None = None,
        tty: bool | None = None,
        redraw_s: float = 0.25,
        log_every_s: float = 30.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.redraw_s = redraw_s
        self.log_every_s = log_every_s
        self._now = clock or time.perf_counter
        self._t0: float | None = None
        self._first_step = 0
        self._last_draw = -1e9
        self._line = ""

    def line(self, info: StepInfo, now: float) -> str:
        """The status text for ``info``: epoch, batch, loss, steps/s and ETA.

        Speed and ETA are measured from the first step this object saw (a resumed run counts
        from where it resumed); they read "?" until a second step has been seen.
        """
        if self._t0 is None:
            self._t0, self._first_step = now, info.step
        done = info.step - self._first_step
        elapsed = now - self._t0
        rate = done / elapsed if done > 0 and elapsed > 0 else 0.0
        left = max(0, info.total_steps - info.step)
        eta = format_duration(left / rate) if rate > 0 else "?"
        speed = f"{rate:.1f} steps/s" if rate > 0 else "? steps/s"
        loss = float(info.loss.item()) if isinstance(info.loss, torch.Tensor) else info.loss
        pct = 100.0 * info.step / max(1, info.total_steps)
        return (
            f"epoch {info.epoch}/{info.epochs} batch {info.batch}/{info.batches} "
            f"({pct:3.0f}%) loss {loss:.4f} {speed} "
            f"elapsed {format_duration(elapsed)} ETA {eta}"
        )

    def __call__(self, info: StepInfo) -> None:
        now = self._now()
        if self._t0 is None:
            self._t0, self._first_step = now, info.step
            if not self.tty:  # the first log line after log_every_s, with a real speed
                self._last_draw = now
        last = info.step >= info.total_steps
        interval = self.redraw_s if self.tty else self.log_every_s
        if now - self._last_draw < interval and not last:
            return
        self._last_draw = now
        text = self.line(info, now)
        if self.tty:
            self._line = text
            self.stream.write("\r\x1b[K" + text)
            self.stream.flush()
        else:
            log.info("%s", text)

    def clear(self) -> None:
        """Wipe the status line (before something else is printed on the terminal)."""
        if self.tty and self._line:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def redraw(self) -> None:
        if self.tty and self._line:
            self.stream.write(self._line)
            self.stream.flush()

    def close(self) -> None:
        """End the status line so the next output starts on a fresh line."""
        if self.tty and self._line:
            self.stream.write("\n")
            self.stream.flush()
            self._line = ""


class ProgressLogHandler(logging.StreamHandler):
    """A stream handler that keeps the progress line below the log records on a terminal."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(progress.stream)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.clear()
        super().emit(record)
        self.progress.redraw()
