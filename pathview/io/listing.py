"""Streaming, cancellable listing of the patch files in a folder.

Listing never stats or decodes a file: on a flat folder of 220,025 patches it is one pass of
``os.scandir`` (whose entries carry the file type on Linux and macOS without a stat call), and
the caller gets the first batch after ``batch_size`` names. Hidden entries (a leading dot, e.g.
the ``.pathview`` store folder) are skipped. A broken symbolic link with a patch name
(dangling, or part of a loop) is listed like a file, so that reading it reports why instead of
the patch silently disappearing; symbolic links to folders are not followed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pathview.core import IMAGE_EXTENSIONS, CancelToken, PatchRef


class FolderError(Exception):
    """The folder itself cannot be listed (missing, not a folder, no permission)."""


def _is_patch_name(name: str) -> bool:
    if name.startswith("."):
        return False
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in IMAGE_EXTENSIONS


def _is_listed_file(entry: os.DirEntry[str]) -> bool:
    """A regular file (or a link to one), or a broken link; not a folder or a link to one."""
    try:
        if entry.is_file():
            return True
    except OSError:
        pass  # a link loop raises ELOOP here
    # A link whose target is missing or loops is no file either: list it anyway.
    try:
        return entry.is_symlink() and not os.path.exists(entry.path)
    except OSError:
        return False


def iter_patches(
    root: str | os.PathLike[str],
    recursive: bool = False,
    cancel: CancelToken | None = None,
    batch_size: int = 2048,
) -> Iterator[list[PatchRef]]:
    """Yield the patch files under ``root`` in batches of at most ``batch_size``.

    Patch ids are file names without extension; ``relpath`` uses forward slashes relative to
    ``root``. Order is the file system's (the caller sorts). With ``recursive`` sub-folders are
    walked depth first. Stops quietly when ``cancel`` is set. Raises FolderError when ``root``
    cannot be listed; unreadable sub-folders are skipped.
    """
    top = Path(root)
    if not top.is_dir():
        raise FolderError(f"not a folder: {top}")
    stack: list[tuple[str, str]] = [(str(top), "")]
    batch: list[PatchRef] = []
    first = True
    while stack:
        dir_path, prefix = stack.pop()
        try:
            scan = os.scandir(dir_path)
        except OSError as exc:
            if first:
                raise FolderError(f"cannot list {dir_path}: {exc.strerror or exc}") from exc
            continue
        first = False
        subdirs: list[tuple[str, str]] = []
        with scan:
            for entry in scan:
                name = entry.name
                if _is_patch_name(name):
                    if not _is_listed_file(entry):
                        continue
                    batch.append(PatchRef(id=name[: name.rfind(".")], relpath=prefix + name))
                    if len(batch) >= batch_size:
                        if cancel is not None and cancel.cancelled:
                            return
                        yield batch
                        batch = []
                elif recursive and not name.startswith("."):
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            subdirs.append((entry.path, f"{prefix}{name}/"))
                    except OSError:
                        continue
        if cancel is not None and cancel.cancelled:
            return
        stack.extend(reversed(sorted(subdirs)))
    if batch and not (cancel is not None and cancel.cancelled):
        yield batch


def list_patches(
    root: str | os.PathLike[str], recursive: bool = False, cancel: CancelToken | None = None
) -> list[PatchRef]:
    """All patches under ``root`` as one list, sorted by relative path."""
    refs = [ref for batch in iter_patches(root, recursive, cancel) for ref in batch]
    refs.sort(key=lambda r: r.relpath)
    return refs
