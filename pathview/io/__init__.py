"""Reading patch folders, image files and label tables. Pure Python, no Qt."""

from pathview.io.decode import Decoded, DecodeError, DecodeErrorKind, pixel_sha1, read_patch
from pathview.io.integrity import Integrity, check_integrity, looks_like_kaggle_id
from pathview.io.labels import LabelProblem, LabelsError, LabelTable, find_labels_csv, read_labels
from pathview.io.listing import FolderError, iter_patches, list_patches

__all__ = [
    "DecodeError",
    "DecodeErrorKind",
    "Decoded",
    "FolderError",
    "Integrity",
    "LabelProblem",
    "LabelTable",
    "LabelsError",
    "check_integrity",
    "find_labels_csv",
    "iter_patches",
    "list_patches",
    "looks_like_kaggle_id",
    "pixel_sha1",
    "read_labels",
    "read_patch",
]
