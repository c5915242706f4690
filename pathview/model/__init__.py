"""The patch classifier: network, model directories (weights + metadata) and inference.

Pure Python + torch: no Qt, and no imports of pathview.io or pathview.store.
"""

from pathview.model.bundle import ModelLoadError, read_metadata, sha256_file
from pathview.model.classifier import (
    DEVICE_CHOICES,
    PRECISION_CHOICES,
    Classifier,
    Prediction,
    default_model_dir,
    dihedral_view,
    load_model,
    resolve_device,
)
from pathview.model.network import NetConfig, PatchNet

__all__ = [
    "DEVICE_CHOICES",
    "PRECISION_CHOICES",
    "Classifier",
    "ModelLoadError",
    "NetConfig",
    "PatchNet",
    "Prediction",
    "default_model_dir",
    "dihedral_view",
    "load_model",
    "read_metadata",
    "resolve_device",
    "sha256_file",
]
