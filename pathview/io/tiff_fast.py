"""A direct reader for the uncompressed, 8-bit RGB TIFFs that Kaggle ships.

Every Kaggle / PCam ``.tif`` is a classic (not Big) TIFF whose first image is 96 x 96, RGB,
8 bits per sample, chunky (interleaved) and uncompressed, stored in one or more strips.
tifffile parses such a file in Python and holds the GIL while it does (about 0.3 ms a file),
so two decode threads are slower than one. This reader validates the first IFD with
:mod:`struct` and copies the strips with numpy: a few microseconds of Python a file.

It accepts only files whose layout it fully understands and returns ``None`` for anything
else (compression, tiles, planar or extra samples, other bit depths or photometrics, BigTIFF,
strips that do not exactly tile the image, offsets beyond the end of the file); the caller
then falls back to tifffile, so errors for damaged files keep their kinds. Where it accepts
a file its pixels are identical to ``tifffile.TiffFile(path).pages.first.asarray()``
(tests/test_tiff_fast.py checks every fixture and a generated corpus).
"""

from __future__ import annotations

import struct

import numpy as np

_TYPE_SIZES = {1: 1, 3: 2, 4: 4, 16: 8}  # BYTE, SHORT, LONG, LONG8 (others are not needed)
_TYPE_CODES = {1: "B", 3: "H", 4: "I", 16: "Q"}

# Tags read; any tag that changes how pixels are laid out but is not listed here with an
# accepted value makes the reader decline.
_WIDTH, _LENGTH, _BITS, _COMPRESSION, _PHOTOMETRIC = 256, 257, 258, 259, 262
_STRIP_OFFSETS, _SAMPLES, _ROWS_PER_STRIP, _STRIP_COUNTS = 273, 277, 278, 279
_PLANAR, _PREDICTOR, _TILE_WIDTH, _EXTRA_SAMPLES, _SAMPLE_FORMAT = 284, 317, 322, 338, 339
_DECLINE_IF_PRESENT = frozenset({_TILE_WIDTH, 323, 324, 325, _EXTRA_SAMPLES})


def _values(
    data: bytes | bytearray, order: str, typ: int, count: int, field: bytes
) -> tuple[int, ...] | None:
    size = _TYPE_SIZES.get(typ)
    if size is None or count < 1 or count > 1 << 20:
        return None
    nbytes = size * count
    fmt = f"{order}{count}{_TYPE_CODES[typ]}"
    if nbytes <= 4:
        return struct.unpack(fmt, field[:nbytes])
    (offset,) = struct.unpack(order + "I", field)
    if offset + nbytes > len(data):
        return None
    return struct.unpack_from(fmt, data, offset)


def decode_rgb8(data: bytes | bytearray, max_pixels: int) -> np.ndarray | None:
    """H x W x 3 uint8 pixels of an uncompressed 8-bit RGB strip TIFF, or ``None``.

    ``None`` means "not a layout this reader handles", never "corrupt": decode those with
    tifffile. An image of more than ``max_pixels`` is left to tifffile too (which refuses it
    from its header against the same limit). The array shares memory with ``data`` (pass a
    ``bytearray`` for a writable one).
    """
    if len(data) < 8:
        return None
    head = bytes(data[:4])
    if head == b"II*\x00":
        order = "<"
    elif head == b"MM\x00*":
        order = ">"
    else:
        return None  # BigTIFF (43) and everything else
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    if ifd < 8 or ifd + 2 > len(data):
        return None
    (n_entries,) = struct.unpack_from(order + "H", data, ifd)
    end = ifd + 2 + 12 * n_entries
    if n_entries == 0 or end > len(data):
        return None
    tags: dict[int, tuple[int, ...]] = {}
    for i in range(n_entries):
        pos = ifd + 2 + 12 * i
        tag, typ, count = struct.unpack_from(order + "HHI", data, pos)
        if tag in _DECLINE_IF_PRESENT:
            return None
        if tag in (
            _WIDTH, _LENGTH, _BITS, _COMPRESSION, _PHOTOMETRIC, _STRIP_OFFSETS, _SAMPLES,
            _ROWS_PER_STRIP, _STRIP_COUNTS, _PLANAR, _PREDICTOR, _SAMPLE_FORMAT,
        ):  # fmt: skip
            values = _values(data, order, typ, count, bytes(data[pos + 8 : pos + 12]))
            if values is None:
                return None
            tags[tag] = values

    def one(tag: int, default: int | None = None) -> int | None:
        v = tags.get(tag)
        if v is None:
            return default
        return v[0] if len(v) == 1 else None

    width, height = one(_WIDTH), one(_LENGTH)
    if not width or not height or width * height > max_pixels:
        return None
    if one(_COMPRESSION, 1) != 1 or one(_PHOTOMETRIC) != 2 or one(_SAMPLES) != 3:
        return None
    if one(_PLANAR, 1) != 1:
        return None
    if tags.get(_BITS) != (8, 8, 8):
        return None
    sample_format = tags.get(_SAMPLE_FORMAT, (1,))
    if any(v != 1 for v in sample_format) or len(sample_format) not in (1, 3):
        return None
    offsets, counts = tags.get(_STRIP_OFFSETS), tags.get(_STRIP_COUNTS)
    if offsets is None or counts is None or len(offsets) != len(counts):
        return None
    rows_per_strip = one(_ROWS_PER_STRIP, height)
    if rows_per_strip is None or rows_per_strip < 1:
        return None
    rows_per_strip = min(rows_per_strip, height)
    n_strips = -(-height // rows_per_strip)
    if len(offsets) != n_strips:
        return None
    row_bytes = width * 3
    for k, (off, cnt) in enumerate(zip(offsets, counts, strict=True)):
        rows = min(rows_per_strip, height - k * rows_per_strip)
        if cnt != rows * row_bytes or off + cnt > len(data):
            return None
    total = height * row_bytes
    if n_strips == 1:
        flat = np.frombuffer(data, dtype=np.uint8, count=total, offset=offsets[0])
    else:
        flat = np.empty(total, dtype=np.uint8)
        pos = 0
        for off, cnt in zip(offsets, counts, strict=True):
            flat[pos : pos + cnt] = np.frombuffer(data, dtype=np.uint8, count=cnt, offset=off)
            pos += cnt
    return flat.reshape(height, width, 3)


def read_file(path: str, size: int) -> bytearray:
    """The bytes of a file in a writable buffer (one read: the GIL is released while it runs)."""
    buf = bytearray(size)
    with open(path, "rb", buffering=0) as fh:
        n = fh.readinto(buf)
    if n is None or n < size:
        del buf[n or 0 :]
    return buf
