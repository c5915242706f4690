"""The on-disk model directory: weights file + ``model.json`` metadata, with sha256 checks.

Layout::

    <model_dir>/
        model.json    metadata (architecture, input size, normalisation, classes, temperature,
                      training data, validation metrics and data, weights sha256, parent model)
        weights.pt    a plain torch ``state_dict`` (loaded with ``weights_only=True``)
        weights-int8.pt  optional: the same network quantised to int8 for x86 CPUs, recorded
                      under ``int8`` in model.json with its own sha256 (see quantised.py)

Shared by the app (loading) and ``training/`` (writing), so both agree on the format.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pathview.core.files import atomic_text_writer
from pathview.model.metadata import (
    FORMAT_VERSION,
    REQUIRED_KEYS,
    RESIZE_POLICIES,
    ModelLoadError,
    ModelMetadata,
    WeightsRecord,
)

METADATA_FILE = "model.json"
DEFAULT_WEIGHTS_FILE = "weights.pt"

__all__ = [
    "DEFAULT_WEIGHTS_FILE",
    "FORMAT_VERSION",
    "METADATA_FILE",
    "REQUIRED_KEYS",
    "RESIZE_POLICIES",
    "ModelLoadError",
    "ModelMetadata",
    "load_state_dict",
    "read_metadata",
    "sha256_file",
    "verified_file",
    "verified_weights_path",
    "write_metadata",
    "write_model_dir",
    "write_weights_file",
]


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(model_dir: str | os.PathLike[str]) -> ModelMetadata:
    """Parse and validate ``model.json``; raises ModelLoadError with a clear reason (a missing
    or unreadable file, a missing required key, a value of the wrong type, naming the key)."""
    path = Path(model_dir) / METADATA_FILE
    if not Path(model_dir).is_dir():
        raise ModelLoadError(f"model directory not found: {model_dir}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"model metadata missing: {path}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"model metadata unreadable: {path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelLoadError(f"model metadata is not a JSON object: {path}")
    try:
        return ModelMetadata.parse(meta)
    except ModelLoadError as exc:
        raise ModelLoadError(f"{exc} (in {path})") from exc


def verified_weights_path(model_dir: str | os.PathLike[str], meta: ModelMetadata) -> Path:
    """Path of the weights file after checking it exists and matches the recorded sha256."""
    return verified_file(model_dir, meta.weights, DEFAULT_WEIGHTS_FILE)


def verified_file(model_dir: str | os.PathLike[str], record: WeightsRecord, default: str) -> Path:
    """Path of the file a metadata record (``file``, ``sha256``) names, after checking it is a
    plain file name in ``model_dir``, exists and matches the recorded sha256."""
    name = record.file or default
    expected = record.sha256.lower()
    path = Path(model_dir) / name
    if Path(name).name != name:
        raise ModelLoadError(f"weights file name must be a plain file name, got {name!r}")
    if not path.is_file():
        raise ModelLoadError(f"weights file missing: {path}")
    if len(expected) != 64:
        raise ModelLoadError(f"model metadata has no valid weights sha256 for {path}")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelLoadError(
            f"weights checksum mismatch for {path}: metadata says {expected[:12]}..., "
            f"file is {actual[:12]}... (corrupt or replaced weights)"
        )
    return path


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a plain tensor state_dict onto the CPU (never unpickles arbitrary objects)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise ModelLoadError(f"cannot read weights {path}: {exc}") from exc
    if not isinstance(state, dict):
        raise ModelLoadError(f"weights file {path} does not hold a state_dict")
    return state


def write_model_dir(
    model_dir: str | os.PathLike[str],
    state_dict: dict[str, torch.Tensor],
    metadata: ModelMetadata | Mapping[str, Any],
    weights_file: str = DEFAULT_WEIGHTS_FILE,
) -> ModelMetadata:
    """Write weights and metadata (sha256, size and file name filled in); returns the metadata
    (a copy: ``metadata`` is not changed).

    The weights are written first and the metadata last, each atomically, so a crash never
    leaves a model.json that points at half-written weights.
    """
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(metadata, ModelMetadata):
        meta = metadata.copy()
    else:
        # The weights record is filled in below: a placeholder keeps the key order.
        meta = ModelMetadata.parse({**metadata, "weights": metadata.get("weights") or {}})
    if meta.format_version is None:
        meta.format_version = FORMAT_VERSION
    meta.weights = write_weights_file(
        out, {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, weights_file
    )
    write_metadata(out, meta)
    return meta


def write_weights_file(
    model_dir: Path, state_dict: dict[str, Any], weights_file: str
) -> WeightsRecord:
    """Atomically write a state_dict into ``model_dir``; returns its metadata record (file,
    sha256, bytes, format)."""
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    data = buffer.getvalue()
    tmp = model_dir / f".{weights_file}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, model_dir / weights_file)
    return WeightsRecord(
        file=weights_file,
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        format="torch state_dict (torch.save), load with weights_only=True",
    )


def write_metadata(model_dir: str | os.PathLike[str], metadata: ModelMetadata) -> None:
    """Atomically (re)write ``model.json`` (used to add validation metrics after training)."""
    with atomic_text_writer(Path(model_dir) / METADATA_FILE, newline="\n") as handle:
        json.dump(metadata.to_dict(), handle, indent=2, sort_keys=False)
        handle.write("\n")
