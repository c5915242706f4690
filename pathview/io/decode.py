"""Decoding patch files into uint8 RGB arrays, with typed errors instead of exceptions.

Conversions (documented, applied in this order):
- greyscale (H x W or H x W x 1) is replicated into three channels;
- grey + alpha (H x W x 2) keeps the grey channel, three times;
- RGBA (H x W x 4) is composited over white (alpha as coverage), as a viewer would show it;
- 16-bit images are scaled to 8 bits (value >> 8);
- float images: the value range decides. All values in [0, 1] are scaled by 255; otherwise
  values in [0, 255] are taken as they are (rounded); negative values, values above 255, NaN
  and infinity are refused (``BAD_VALUES``) rather than clipped into a wrong picture;
- palette / CMYK / other modes are converted to RGB by Pillow.
Any other size than 96 x 96 decodes fine; ``Decoded.native`` says whether it is native.

Refused before any pixel is decoded: an image whose header says it has more than
``MAX_PIXELS`` pixels (``TOO_LARGE``: a decompression bomb - a small file that would inflate
to gigabytes), and a file name that is not valid UTF-8 (``BAD_NAME``: its id could not be
written to a CSV or the review store). A file the user may not read is ``UNREADABLE``, a
dangling or looping symbolic link ``BROKEN_LINK``; neither is "corrupt".
"""

from __future__ import annotations

import enum
import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pathview.core import NATIVE_SIZE
from pathview.core.files import printable
from pathview.io.tiff_fast import decode_rgb8, read_file

TIFF_EXTENSIONS = frozenset({".tif", ".tiff"})
PIL_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp"})
# Files up to this size are read whole and tried with the direct reader first (a Kaggle patch
# is 27,935 bytes); a larger one goes straight to tifffile, so a big file the direct reader
# would decline is not read twice.
_FAST_READ_MAX_BYTES = 1024 * 1024
#: The most pixels (width x height) an image may have: 4096 x 4096, 170 times a 96 x 96 patch
#: dimension-wise and 48 MiB as RGB. Checked from the file's header, before decoding.
MAX_PIXELS = 4096 * 4096
#: ... and at most this many bytes per pixel before conversion (float32 RGBA).
MAX_BYTES_PER_PIXEL = 16
# The direct TIFF reader is given MAX_PIXELS too and leaves larger images to tifffile's check.


class DecodeErrorKind(str, enum.Enum):
    """Why a file could not be turned into pixels."""

    MISSING = "missing"
    EMPTY = "empty"
    UNSUPPORTED = "unsupported format"
    CORRUPT = "corrupt or truncated"
    BAD_SHAPE = "unsupported pixel layout"
    BAD_VALUES = "unsupported pixel values"
    TOO_LARGE = "too many pixels"
    UNREADABLE = "unreadable"
    BROKEN_LINK = "broken link"
    BAD_NAME = "bad file name"


@dataclass(frozen=True, slots=True)
class DecodeError:
    """A typed, displayable reason why a file has no pixels."""

    kind: DecodeErrorKind
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Decoded:
    """Result of decoding one file: pixels (H x W x 3 uint8 RGB) or an error, never both."""

    path: Path
    pixels: np.ndarray | None
    error: DecodeError | None = None
    source_mode: str = ""

    @property
    def ok(self) -> bool:
        return self.pixels is not None

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) of the decoded image, or None when it failed."""
        if self.pixels is None:
            return None
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    @property
    def native(self) -> bool:
        """True for the native 96 x 96 PCam size."""
        return self.size == (NATIVE_SIZE, NATIVE_SIZE)


def pixel_sha1(pixels: np.ndarray) -> str:
    """SHA-1 of the raw row-major RGB bytes; equals the Kaggle id for untouched Kaggle files."""
    return hashlib.sha1(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()


class _BadValues(ValueError):
    """Pixel values outside every range the module knows how to read."""


class _TooLarge(ValueError):
    """The header announces more than MAX_PIXELS pixels."""


def _check_pixel_count(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise _TooLarge(
            f"{width} x {height} = {width * height:,} pixels, over the limit of {MAX_PIXELS:,}"
        )


def _float_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Float pixels to uint8: [0, 1] scaled by 255, else [0, 255] as is, else refused."""
    if arr.size and not np.isfinite(arr).all():
        raise _BadValues("float pixel values that are not finite (NaN or infinity)")
    lo = float(arr.min()) if arr.size else 0.0
    hi = float(arr.max()) if arr.size else 0.0
    if lo < 0.0:
        raise _BadValues(f"negative float pixel values (minimum {lo:g})")
    if hi <= 1.0:
        arr = arr * 255.0
    elif hi > 255.0:
        raise _BadValues(
            f"float pixel values above 255 (maximum {hi:g}): neither [0, 1] nor [0, 255]"
        )
    return np.clip(arr + 0.5, 0, 255).astype(np.uint8)


def _to_rgb8(arr: np.ndarray) -> np.ndarray:
    """Bring a decoded array to H x W x 3 uint8 following the module's documented rules."""
    if arr.dtype == np.uint8:
        pass
    elif arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        arr = _float_to_uint8(arr)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    else:
        raise ValueError(f"pixel type {arr.dtype} is not supported")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"array of shape {arr.shape} is not an image")
    channels = arr.shape[2]
    if channels == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif channels == 2:
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    elif channels == 4:
        rgb = arr[:, :, :3].astype(np.float32)
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = np.clip(rgb * alpha + 255.0 * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)
    elif channels != 3:
        raise ValueError(f"{channels} channels is not an image layout pathview reads")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError("image has no pixels")
    return np.ascontiguousarray(arr)


def _read_tiff(path: Path, size: int) -> tuple[np.ndarray, str]:
    # Kaggle's own layout (uncompressed 8-bit RGB strips) is read directly; anything else,
    # including every damaged file, goes through tifffile so errors keep their kinds.
    if size <= _FAST_READ_MAX_BYTES:
        fast = decode_rgb8(read_file(str(path), size), MAX_PIXELS)
        if fast is not None:
            return fast, "tiff/rgb/uint8"
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        _check_pixel_count(int(page.imagewidth), int(page.imagelength))
        # Many samples per pixel (or wide ones) inflate a small pixel count too.
        nbytes = int(np.prod(page.shape, dtype=np.int64)) * np.dtype(page.dtype).itemsize
        if nbytes > MAX_PIXELS * MAX_BYTES_PER_PIXEL:
            raise _TooLarge(
                f"{nbytes:,} bytes of samples, over the limit of "
                f"{MAX_PIXELS * MAX_BYTES_PER_PIXEL:,} ({MAX_PIXELS:,} pixels)"
            )
        arr = page.asarray()
        photometric = getattr(page.photometric, "name", str(page.photometric))
        mode = f"tiff/{photometric.lower()}/{arr.dtype}"
    # A multi-page or planar-configured tiff can come back as C x H x W: fix the common case.
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (1, 2, 3, 4):
        arr = np.moveaxis(arr, 0, -1)
    return arr, mode


def _read_pil(path: Path) -> tuple[np.ndarray, str]:
    from PIL import Image

    img: Image.Image
    try:
        opened = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own, larger limit (a warning turned into an error counts too).
        raise _TooLarge(f"over the limit of {MAX_PIXELS:,} pixels ({exc})") from exc
    with opened as img:
        _check_pixel_count(*img.size)
        img.load()
        mode = img.mode
        if mode in ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L"):
            conv: Image.Image = img
        elif mode == "P" and "transparency" in img.info:
            conv = img.convert("RGBA")
        else:
            conv = img.convert("RGB")
        arr = np.asarray(conv)
    if mode.startswith("I;16"):
        arr = arr.astype(np.uint16)
    return arr, f"{path.suffix.lower().lstrip('.')}/{mode}"


def _stat_error(p: Path, exc: OSError) -> DecodeError:
    if os.path.islink(p):
        if exc.errno == errno.ELOOP:
            return DecodeError(DecodeErrorKind.BROKEN_LINK, "symbolic link loop")
        if isinstance(exc, FileNotFoundError):
            target = printable(os.readlink(p))
            return DecodeError(
                DecodeErrorKind.BROKEN_LINK, f"dangling symbolic link (to {target!r})"
            )
    if isinstance(exc, FileNotFoundError):
        return DecodeError(DecodeErrorKind.MISSING, "file not found")
    if isinstance(exc, PermissionError):
        return DecodeError(DecodeErrorKind.UNREADABLE, "permission denied")
    return DecodeError(DecodeErrorKind.MISSING, printable(str(exc)))


def read_patch(path: str | Path) -> Decoded:
    """Decode one patch file into uint8 RGB pixels.

    Never raises for a bad file: a missing, empty, unreadable, truncated, non-image, too large
    or unsupported file, a broken link or an undecodable file name comes back as
    ``Decoded(pixels=None, error=DecodeError(...))``.
    """
    p = Path(path)
    try:
        p.name.encode("utf-8")
    except UnicodeEncodeError:
        return Decoded(
            p,
            None,
            DecodeError(
                DecodeErrorKind.BAD_NAME, f"file name {printable(p.name)!r} is not valid UTF-8"
            ),
        )
    suffix = p.suffix.lower()
    if suffix not in TIFF_EXTENSIONS and suffix not in PIL_EXTENSIONS:
        return Decoded(p, None, DecodeError(DecodeErrorKind.UNSUPPORTED, f"extension {suffix!r}"))
    try:
        size = p.stat().st_size
    except OSError as exc:
        return Decoded(p, None, _stat_error(p, exc))
    if size == 0:
        return Decoded(p, None, DecodeError(DecodeErrorKind.EMPTY, "zero-byte file"))
    try:
        arr, mode = _read_tiff(p, size) if suffix in TIFF_EXTENSIONS else _read_pil(p)
    except _TooLarge as exc:
        return Decoded(p, None, DecodeError(DecodeErrorKind.TOO_LARGE, str(exc)))
    except PermissionError:
        return Decoded(p, None, DecodeError(DecodeErrorKind.UNREADABLE, "permission denied"))
    except Exception as exc:  # decoders raise many types for bad bytes; all mean "corrupt"
        detail = printable(f"{type(exc).__name__}: {exc}".strip())
        return Decoded(p, None, DecodeError(DecodeErrorKind.CORRUPT, detail[:300]))
    try:
        rgb = _to_rgb8(arr)
    except _BadValues as exc:
        return Decoded(p, None, DecodeError(DecodeErrorKind.BAD_VALUES, str(exc)), mode)
    except ValueError as exc:
        return Decoded(p, None, DecodeError(DecodeErrorKind.BAD_SHAPE, str(exc)), mode)
    return Decoded(p, rgb, None, mode)
