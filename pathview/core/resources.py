"""Where the bundled model and demo patches are: inside the installed ``pathview`` package.

They travel in the wheel as package data (``pathview/resources/``) and are found through
:mod:`importlib.resources`, so an installed pathview finds them from any working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: Name of the bundled model under ``pathview/resources/model/``.
DEFAULT_MODEL_NAME = "pcam-default"


class ResourceError(RuntimeError):
    """The bundled resources are not available as files on disk."""


def resources_dir() -> Path:
    """The folder of bundled resources (``pathview/resources``) as a real directory.

    The app opens the demo as a folder and the model loader reads files by path, so pathview
    must be installed as files (as pip does), not run from a zip archive.
    """
    root = files("pathview").joinpath("resources")
    if not isinstance(root, Path):
        raise ResourceError(
            f"pathview's bundled resources are not plain files ({root!r}); "
            "install pathview with pip rather than running it from an archive"
        )
    return root


def bundled_model_dir() -> Path:
    """The directory of the bundled model (weights, ``model.json``, model card)."""
    return resources_dir() / "model" / DEFAULT_MODEL_NAME


def demo_folder() -> Path:
    """The bundled demo patches (64 Kaggle ``.tif`` files with their ``labels.csv``)."""
    return resources_dir() / "demo"


__all__ = [
    "DEFAULT_MODEL_NAME",
    "ResourceError",
    "bundled_model_dir",
    "demo_folder",
    "resources_dir",
]
