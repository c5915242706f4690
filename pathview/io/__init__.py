"""Reading patch folders, image files and label tables. Pure Python, no Qt."""

from pathview.io.decode import Decoded, DecodeError, DecodeErrorKind, pixel_sha1, read_patch
from pathview.io.integrity import Integrity, check_integrity, looks_like_kaggle_id
from pathview.io.labels import LabelProblem, LabelsError, LabelTable, find_labels_csv, read_labels
from pathview.io.listing import FolderError, iter_patches, list_patches
from pathview.io.patch_info import FileStatus, PatchInfo, load_patch_info

__all__ = [
    "DecodeError",
    "DecodeErrorKind",
    "Decoded",
    "FileStatus",
    "FolderError",
    "Integrity",
    "LabelProblem",
    "LabelTable",
    "LabelsError",
    "PatchInfo",
    "check_integrity",
    "find_labels_csv",
    "iter_patches",
    "list_patches",
    "load_patch_info",
    "looks_like_kaggle_id",
    "pixel_sha1",
    "read_labels",
    "read_patch",
]
