"""Opening a whole-slide image: one small :class:`Slide` over OpenSlide or tiffslide.

:func:`open_slide` tries OpenSlide first (openslide-python with the ``openslide-bin`` wheel:
Aperio SVS, generic tiled TIFF and whatever else OpenSlide reads), and tiffslide where OpenSlide
is missing, cannot read the file, or would see less of it: an OME-TIFF keeps its pyramid in
SubIFDs, which OpenSlide does not list (it sees level 0 alone), so OME-TIFFs go to tiffslide.

Pixels come back as H x W x 3 uint8 RGB arrays. Conversions (documented, one rule each):

- transparent pixels (OpenSlide's RGBA outside the scanned area) are composited over white;
- 16-bit samples are scaled to 8 bits by ``value >> 8``, the rule patch decoding uses
  (:mod:`pathview.io.decode`); OpenSlide's libtiff path gives the same bytes;
- a slide with other than 3 samples per pixel (greyscale, fluorescence channels) or a float
  pixel type is refused with :class:`SlideError` rather than shown in made-up colours.

The slide's microns per pixel (level 0) come from its metadata only (:mod:`pathview.slide.mpp`):
OpenSlide's ``openslide.mpp-x``/``-y`` properties, then the TIFF resolution tags, then an answer
the user gave once and that was recorded beside the slide. Objective power ("20x") is never
used: a slide without any of these raises :class:`MissingMppError`, which the app turns into
a question (and ``pathview score`` into a message naming ``--mpp``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from pathview.slide.mpp import recorded_mpp, tiff_resolution_mpp

T = TypeVar("T")

#: File name endings offered as slides (what OpenSlide and tiffslide read).
SLIDE_SUFFIXES = (
    ".svs",
    ".tif",
    ".tiff",
    ".ndpi",
    ".vms",
    ".vmu",
    ".scn",
    ".mrxs",
    ".svslide",
    ".bif",
    ".czi",
    ".dcm",
)


class SlideError(Exception):
    """A slide cannot be used: unreadable, truncated, an unsupported pixel type. The message
    names the file and says why."""


class MissingMppError(SlideError):
    """The slide's metadata does not say how many microns a pixel is."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path.name}: the slide does not record its microns per pixel (no OpenSlide mpp "
            "property, no TIFF resolution tags, no recorded answer); give it (--mpp, or the "
            "app asks once and records the answer)"
        )
        self.path = path


def is_slide_path(path: Path) -> bool:
    """Whether ``path`` is a file whose name ends like a slide (see :data:`SLIDE_SUFFIXES`).

    A 96 x 96 ``.tif`` patch ends like one too; callers that take folders check for a folder
    first, and only a file is a slide."""
    return path.is_file() and path.name.lower().endswith(SLIDE_SUFFIXES)


@dataclass(frozen=True)
class SlideLevel:
    """One level of the pyramid: its size in pixels and its downsample from level 0."""

    width: int
    height: int
    downsample: float


class _Backend(Protocol):
    """What pathview uses of ``openslide.OpenSlide`` and ``tiffslide.TiffSlide`` (and their
    ``read_region``, whose signatures differ)."""

    @property
    def level_dimensions(self) -> Sequence[tuple[int, int]]: ...
    @property
    def level_downsamples(self) -> Sequence[float]: ...
    @property
    def properties(self) -> Mapping[str, Any]: ...
    def close(self) -> None: ...


def _open_openslide(path: Path) -> _Backend | None:
    try:
        import openslide
    except (ImportError, OSError):  # no wheel for this platform, or no shared library
        return None
    try:
        return openslide.OpenSlide(str(path))
    except openslide.OpenSlideUnsupportedFormatError:
        return None
    except openslide.OpenSlideError as exc:
        raise SlideError(f"{path.name}: OpenSlide cannot read it ({exc})") from exc


def _open_tiffslide(path: Path) -> _Backend:
    try:
        import tiffslide
    except ImportError as exc:
        raise SlideError(
            f"{path.name}: neither OpenSlide nor tiffslide can open it (tiffslide is not installed)"
        ) from exc
    try:
        return tiffslide.TiffSlide(str(path))
    except Exception as exc:  # tifffile, zarr and fsspec raise many types for a bad file
        raise SlideError(f"{path.name}: not a slide pathview can read ({exc})") from exc


def _inspect_tiff(path: Path) -> bool:
    """Whether ``path`` is an OME-TIFF; raises :class:`SlideError` for a TIFF whose tiles lie
    beyond the end of the file (a copy that stopped part-way). Not a TIFF: False."""
    import tifffile

    size = path.stat().st_size
    log = logging.getLogger("tifffile")
    level = log.level
    log.setLevel(logging.CRITICAL)  # a truncated file's "invalid page offset" is said below
    try:
        with tifffile.TiffFile(path) as tif:
            ome = bool(tif.is_ome)
            needed = max((_data_end(page) for page in tif.pages), default=0)
    except Exception:  # not a TIFF at all: OpenSlide's other formats
        return False
    finally:
        log.setLevel(level)
    if needed > size:
        raise SlideError(
            f"{path.name}: truncated: the file ends at {size:,} bytes but its image data runs "
            f"to {needed:,} (an incomplete copy or download?)"
        )
    return ome


def _data_end(page: Any) -> int:
    offsets = getattr(page, "dataoffsets", ())
    counts = getattr(page, "databytecounts", ())
    ends = [int(o) + int(c) for o, c in zip(offsets, counts, strict=False) if c]
    return max(ends, default=0)


class Slide:
    """An open whole-slide image: levels, level-0 microns per pixel, regions as RGB arrays.

    Reads are safe from several threads (OpenSlide is thread-safe; tiffslide reads are
    serialised by a lock). Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: Path, backend: _Backend, kind: str, mpp: float, mpp_source: str):
        self.path = path
        self.backend_name = kind
        self.mpp = mpp
        self.mpp_source = mpp_source
        self._backend = backend
        self._lock = threading.Lock() if kind == "tiffslide" else None
        self.levels = tuple(
            SlideLevel(int(w), int(h), float(d))
            for (w, h), d in zip(backend.level_dimensions, backend.level_downsamples, strict=True)
        )

    @property
    def name(self) -> str:
        """The file name (``CMU-1.svs``)."""
        return self.path.name

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level 0's width and height in pixels."""
        return self.levels[0].width, self.levels[0].height

    def best_level(self, downsample: float) -> int:
        """The coarsest level whose downsample is at most ``downsample`` (its resolution is at
        least the one needed); level 0 when none is coarse enough."""
        fine_enough = [
            i for i, lv in enumerate(self.levels) if lv.downsample <= downsample * (1 + 1e-6)
        ]
        return max(fine_enough, key=lambda i: self.levels[i].downsample, default=0)

    def read_region(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """``width`` x ``height`` pixels of ``level`` whose top-left corner is at level-0
        coordinates (``x``, ``y``), as H x W x 3 uint8 RGB; raises :class:`SlideError`."""
        try:
            if self._lock is None:
                region = self._backend.read_region((x, y), level, (width, height))  # type: ignore[attr-defined]
                return _rgb8(np.asarray(region), self.path)
            with self._lock:
                region = self._backend.read_region(  # type: ignore[attr-defined]
                    (x, y), level, (width, height), as_array=True
                )
            return _rgb8(np.asarray(region), self.path)
        except SlideError:
            raise
        except Exception as exc:
            raise SlideError(
                f"{self.name}: cannot read level {level} at ({x}, {y}) ({exc}); the file may "
                "be truncated or damaged"
            ) from exc

    def overview(self, max_side: int = 2048) -> tuple[np.ndarray, float]:
        """The whole slide at most ``max_side`` pixels on its longer side, read from the
        smallest level that is at least that large (in strips, so a slide without a pyramid
        is never held whole); returns the RGB array and its downsample from level 0."""
        import cv2

        w0, h0 = self.dimensions
        scale = min(1.0, max_side / max(w0, h0))
        out_w, out_h = max(1, round(w0 * scale)), max(1, round(h0 * scale))
        level = self.best_level(1 / scale)
        info = self.levels[level]
        out = np.empty((out_h, out_w, 3), np.uint8)
        strip = max(1, 4096 * 4096 // max(info.width, 1))  # rows of the level per read
        for top in range(0, info.height, strip):
            rows = min(strip, info.height - top)
            y0 = round(top * info.downsample)
            part = self.read_region(0, y0, level, info.width, rows)
            a, b = round(top * out_h / info.height), round((top + rows) * out_h / info.height)
            if b > a:
                out[a:b] = cv2.resize(part, (out_w, b - a), interpolation=cv2.INTER_AREA)
        return out, w0 / out_w

    def thumbnail(self, max_side: int = 512) -> np.ndarray:
        """A small picture of the whole slide (see :meth:`overview`)."""
        return self.overview(max_side)[0]

    def close(self) -> None:
        """Release the file."""
        self._backend.close()

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rgb8(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim == 2:
        raise SlideError(f"{path.name}: a single-channel slide is not supported (RGB only)")
    channels = arr.shape[2]
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise SlideError(f"{path.name}: {arr.dtype} pixels are not supported (8 or 16 bit only)")
    if channels == 4:
        alpha = arr[..., 3:4].astype(np.uint16)
        # OpenSlide's RGBA is premultiplied: colour + (255 - alpha) puts white behind it.
        return np.minimum(arr[..., :3].astype(np.uint16) + (255 - alpha), 255).astype(np.uint8)
    if channels != 3:
        raise SlideError(f"{path.name}: {channels} samples per pixel are not supported (RGB only)")
    return np.ascontiguousarray(arr)


def _mpp_of(path: Path, properties: Mapping[str, Any], override: float | None) -> tuple[float, str]:
    if override is not None:
        return float(override), "given"
    for prefix in ("openslide", "tiffslide"):
        x, y = properties.get(f"{prefix}.mpp-x"), properties.get(f"{prefix}.mpp-y")
        try:
            mx, my = float(x), float(y)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if mx > 0 and my > 0:
            return (mx + my) / 2, f"{prefix} properties"
    from_tags = tiff_resolution_mpp(path)
    if from_tags is not None:
        return from_tags, "TIFF resolution tags"
    answered = recorded_mpp(path)
    if answered is not None:
        return answered, "recorded answer"
    raise MissingMppError(path)


def open_slide(path: str | Path, mpp: float | None = None) -> Slide:
    """Open a slide with OpenSlide, else tiffslide (see the module docstring).

    ``mpp`` overrides the slide's microns per pixel (level 0) for this opening. Raises
    :class:`SlideError` for a missing, unreadable or unsupported file, and its subclass
    :class:`MissingMppError` when the microns per pixel are not known.
    """
    p = Path(path)
    if not p.is_file():
        raise SlideError(f"no such slide file: {p}")
    if mpp is not None and not mpp > 0:
        raise SlideError(f"microns per pixel must be a positive number, got {mpp}")
    backend = None if _inspect_tiff(p) else _open_openslide(p)
    kind = "openslide"
    if backend is None:
        backend, kind = _open_tiffslide(p), "tiffslide"
    try:
        properties = _read_lazily(p, lambda: dict(backend.properties))
        value, source = _mpp_of(p, properties, mpp)
        slide = _read_lazily(p, lambda: Slide(p, backend, kind, value, source))
        slide.read_region(0, 0, slide.best_level(1e9), 1, 1)  # fails now, not at the first tile
    except BaseException:
        with contextlib.suppress(Exception):
            backend.close()
        raise
    return slide


def _read_lazily(path: Path, read: Callable[[], T]) -> T:
    """``read()``, with what a backend raises on first reading a damaged file (tiffslide
    parses lazily) as a :class:`SlideError`."""
    try:
        return read()
    except SlideError:
        raise
    except Exception as exc:
        raise SlideError(f"{path.name}: not a slide pathview can read ({exc})") from exc
