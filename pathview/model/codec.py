"""Matching inputs to the codec the training patches were stored with.

The bundled model learnt from PCam patches saved as JPEG (quality 75, 4:2:0 chroma), while
users open the lossless Kaggle ``.tif`` originals. A model whose metadata has an
``input_codec`` record sends every patch through that codec (encode, then decode) before
normalisation, in training and scoring alike, so that lossless inputs carry the same
compression artefacts as the training data and sit in the same domain. A patch that already is
such a JPEG changes by a few grey levels at most (re-encoding with the same tables is nearly
idempotent).

The record, as stored in ``model.json``::

    "input_codec": {"format": "jpeg", "quality": 75, "subsampling": "4:2:0", "note": "..."}

Encoding and decoding use OpenCV's libjpeg-turbo bindings (``cv2.imencode``/``imdecode``,
which run without the GIL, so batches split over threads); their output is identical to
Pillow's ``Image.save(..., "JPEG", quality=q)`` followed by ``Image.open`` (the way the
training files were written and are read), which the tests check.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

#: Key of the record in model.json.
CODEC_KEY = "input_codec"
#: Chroma subsampling libjpeg (and so torchvision and Pillow by default) applies.
SUPPORTED_SUBSAMPLING = "4:2:0"
# Below this many patches a second thread costs more than it saves.
_MIN_PATCHES_PER_THREAD = 64


@dataclass(frozen=True)
class InputCodec:
    """A lossy codec every input goes through before normalisation (JPEG only)."""

    quality: int
    subsampling: str = SUPPORTED_SUBSAMPLING
    format: str = "jpeg"

    def __post_init__(self) -> None:
        if self.format != "jpeg":
            raise ValueError(f"unsupported input codec {self.format!r}: only 'jpeg'")
        if not 1 <= int(self.quality) <= 100:
            raise ValueError(f"JPEG quality must be 1..100, got {self.quality}")
        if self.subsampling != SUPPORTED_SUBSAMPLING:
            raise ValueError(
                f"unsupported chroma subsampling {self.subsampling!r}: only "
                f"{SUPPORTED_SUBSAMPLING!r}"
            )

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> InputCodec | None:
        """The codec a model's metadata prescribes; None when it has no record. Raises
        ValueError for a record this version cannot apply."""
        record = meta.get(CODEC_KEY)
        if record is None:
            return None
        if not isinstance(record, dict) or "quality" not in record:
            raise ValueError(f"{CODEC_KEY} must be a record with a 'quality', got {record!r}")
        return cls(
            quality=int(record["quality"]),
            subsampling=str(record.get("subsampling", SUPPORTED_SUBSAMPLING)),
            format=str(record.get("format", "jpeg")).lower(),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able record stored in model.json."""
        return {
            "format": self.format,
            "quality": int(self.quality),
            "subsampling": self.subsampling,
            "note": (
                f"every patch is JPEG-encoded (quality {self.quality}, {self.subsampling} "
                "chroma) and decoded before normalisation, the format the training patches "
                "were stored in, so that lossless inputs carry the same artefacts"
            ),
        }

    def describe(self) -> str:
        """Short human-readable form, e.g. 'JPEG q75 (4:2:0)'."""
        return f"JPEG q{self.quality} ({self.subsampling})"

    def apply(self, pixels: np.ndarray, threads: int | None = None) -> np.ndarray:
        """uint8 N x H x W x 3 RGB -> the same patches after encoding and decoding.

        Large batches are split over up to ``threads`` threads (default
        ``torch.get_num_threads()``); ``threads=1`` runs on the calling thread (the scoring
        loop's decoding threads do so).
        """
        if pixels.ndim != 4 or pixels.shape[-1] != 3 or pixels.dtype != np.uint8:
            raise ValueError(
                f"expected uint8 N x H x W x 3 RGB pixels, got {pixels.dtype} {pixels.shape}"
            )
        n = pixels.shape[0]
        if n == 0:
            return pixels.copy()
        out = np.empty_like(pixels)
        if threads is None:
            threads = torch.get_num_threads()
        threads = max(1, min(threads, os.cpu_count() or 1))
        threads = min(threads, n // _MIN_PATCHES_PER_THREAD) or 1
        bounds = np.linspace(0, n, threads + 1).astype(int)
        jobs = [(pixels, out, int(a), int(b)) for a, b in itertools.pairwise(bounds)]
        if threads == 1:
            self._roundtrip(*jobs[0])
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda job: self._roundtrip(*job), jobs))
        return out

    def _roundtrip(self, pixels: np.ndarray, out: np.ndarray, start: int, stop: int) -> None:
        import cv2

        params = [cv2.IMWRITE_JPEG_QUALITY, int(self.quality)]
        for i in range(start, stop):
            # OpenCV works in BGR order; the encoder converts to YCbCr from there.
            ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(pixels[i, :, :, ::-1]), params)
            decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else None
            if decoded is None or decoded.shape != pixels.shape[1:]:
                raise ValueError(f"JPEG round trip of a {pixels.shape[1:]} patch failed")
            out[i] = decoded[:, :, ::-1]
