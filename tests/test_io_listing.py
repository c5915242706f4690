"""Folder listing: streamed batches, filtering, recursion, cancel."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathview.core import CancelToken
from pathview.io import FolderError, iter_patches, list_patches


def _make_flat_folder(root: Path, n: int) -> None:
    for i in range(n):
        (root / f"{i:040x}.tif").write_bytes(b"")  # listing must not open files


def test_lists_thousands_of_files_in_batches(tmp_path: Path) -> None:
    _make_flat_folder(tmp_path, 5000)
    (tmp_path / "train_labels.csv").write_text("id,label\n")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.tif").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.tif").write_bytes(b"")
    batches = list(iter_patches(tmp_path, batch_size=1000))
    assert [len(b) for b in batches] == [1000] * 5
    ids = {ref.id for batch in batches for ref in batch}
    assert len(ids) == 5000
    assert f"{7:040x}" in ids
    assert all(ref.relpath == f"{ref.id}.tif" for batch in batches for ref in batch)


def test_extensions_are_case_insensitive_and_ids_drop_the_extension(tmp_path: Path) -> None:
    for name in ("a.TIF", "b.tiff", "c.png", "d.JPG", "e.jpeg", "f.webp", "g.bmp", "h"):
        (tmp_path / name).write_bytes(b"")
    refs = list_patches(tmp_path)
    assert [r.id for r in refs] == ["a", "b", "c", "d", "e", "f"]


def test_recursive_listing_gives_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".pathview").mkdir()
    (tmp_path / ".pathview" / "x.tif").write_bytes(b"")
    (tmp_path / "top.tif").write_bytes(b"")
    (tmp_path / "a" / "one.tif").write_bytes(b"")
    (tmp_path / "a" / "b" / "two.png").write_bytes(b"")
    assert [r.relpath for r in list_patches(tmp_path)] == ["top.tif"]
    assert [r.relpath for r in list_patches(tmp_path, recursive=True)] == [
        "a/b/two.png",
        "a/one.tif",
        "top.tif",
    ]


def test_cancel_stops_the_stream(tmp_path: Path) -> None:
    _make_flat_folder(tmp_path, 3000)
    token = CancelToken()
    seen = 0
    for batch in iter_patches(tmp_path, cancel=token, batch_size=500):
        seen += len(batch)
        token.cancel()
    assert seen == 500


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FolderError, match="not a folder"):
        list(iter_patches(tmp_path / "nope"))
    file_path = tmp_path / "f.tif"
    file_path.write_bytes(b"")
    with pytest.raises(FolderError):
        list(iter_patches(file_path))


def test_empty_folder_yields_nothing(tmp_path: Path) -> None:
    assert list(iter_patches(tmp_path)) == []
