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
from pathlib import Path
from typing import Any

import torch

from pathview.core.files import atomic_text_writer

METADATA_FILE = "model.json"
DEFAULT_WEIGHTS_FILE = "weights.pt"
FORMAT_VERSION = 1

#: Keys every model.json must have for the app to use it.
REQUIRED_KEYS = (
    "architecture",
    "input_size",
    "normalisation",
    "classes",
    "temperature",
    "resize_policy",
    "weights",
    "cam_layers",
)

#: Values of ``resize_policy``: how a patch that is not input_size x input_size is brought to it.
RESIZE_POLICIES = ("centre_crop", "resize")


class ModelLoadError(Exception):
    """A model directory cannot be used: missing files, bad metadata or a weights checksum
    mismatch. The message says which and names the path."""


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and sanity-check ``model.json``; raises ModelLoadError with a clear reason."""
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
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelLoadError(f"model metadata {path} lacks {', '.join(missing)}")
    if meta["resize_policy"] not in RESIZE_POLICIES:
        raise ModelLoadError(f"unknown resize_policy {meta['resize_policy']!r} in {path}")
    return meta


def verified_weights_path(model_dir: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Path of the weights file after checking it exists and matches the recorded sha256."""
    return verified_file(model_dir, meta.get("weights") or {}, DEFAULT_WEIGHTS_FILE)


def verified_file(model_dir: str | os.PathLike[str], record: dict[str, Any], default: str) -> Path:
    """Path of the file a metadata record (``file``, ``sha256``) names, after checking it is a
    plain file name in ``model_dir``, exists and matches the recorded sha256."""
    name = record.get("file", default)
    expected = str(record.get("sha256", "")).lower()
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
    metadata: dict[str, Any],
    weights_file: str = DEFAULT_WEIGHTS_FILE,
) -> dict[str, Any]:
    """Write weights and metadata (sha256, size and file name filled in); returns the metadata.

    The weights are written first and the metadata last, each atomically, so a crash never
    leaves a model.json that points at half-written weights.
    """
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(metadata)
    meta.setdefault("format_version", FORMAT_VERSION)
    meta["weights"] = write_weights_file(
        out, {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, weights_file
    )
    write_metadata(out, meta)
    return meta


def write_weights_file(
    model_dir: Path, state_dict: dict[str, Any], weights_file: str
) -> dict[str, Any]:
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
    return {
        "file": weights_file,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "format": "torch state_dict (torch.save), load with weights_only=True",
    }


def write_metadata(model_dir: str | os.PathLike[str], metadata: dict[str, Any]) -> None:
    """Atomically (re)write ``model.json`` (used to add validation metrics after training)."""
    with atomic_text_writer(Path(model_dir) / METADATA_FILE, newline="\n") as handle:
        json.dump(metadata, handle, indent=2, sort_keys=False)
        handle.write("\n")
