"""The one scoring loop (pathview.scoring.loop): size grouping, input order, the views of the
same pass, decode threads that start and stop with it, and cancelling between batches."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from pathview.core import Cancelled, CancelToken, PatchRef
from pathview.io import list_patches, read_patch
from pathview.scoring import (
    ScoreBatch,
    iter_score_batches,
    predict_arrays,
    score_folder,
    score_patches,
    score_pixels,
)


def mean_p(pixels: np.ndarray) -> np.ndarray:
    """A stand-in for P(tumour) of N x H x W x 3 pixels: the mean of the red channel / 255."""
    return (pixels[..., 0].astype(np.float32).mean(axis=(1, 2)) / 255.0).astype(np.float32)


@dataclass
class _Prediction:
    p: np.ndarray
    spread: np.ndarray | None = None
    views: np.ndarray | None = None


@dataclass
class RecordingPredictor:
    """Scores with ``mean_p``; with TTA its 8 views are ``p`` shifted by k / 100 (view 0 is the
    plain score). Records the shape of every array it is given."""

    give_views: bool = True
    shapes: list[tuple[int, ...]] = field(default_factory=list)

    def predict(self, pixels: np.ndarray, tta: bool = False, batch_size: int = 256) -> _Prediction:
        assert pixels.ndim == 4, "the loop hands over one N x H x W x 3 array"
        self.shapes.append(pixels.shape)
        p = mean_p(pixels)
        if not tta:
            return _Prediction(p)
        views = np.stack([p + k / 100 for k in range(8)], axis=1).astype(np.float32)
        return _Prediction(
            views.mean(axis=1), views.std(axis=1), views if self.give_views else None
        )


def _decode_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("decode")]


@pytest.fixture
def mixed(tmp_path: Path, data_dir: Path) -> Path:
    """96 x 96 patches and 100 x 80 ones, interleaved by name, and one corrupt file."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in sorted((data_dir / "formats").glob("*.tif")):
        shutil.copy(path, folder / path.name)
    for i, path in enumerate(sorted((data_dir / "kaggle").glob("*.tif"))[:4]):
        shutil.copy(path, folder / f"k{i}_{path.name}")
    (folder / "k2_corrupt.tif").write_bytes(b"not an image")
    return folder


def test_one_predict_per_size_and_rows_in_input_order(mixed: Path) -> None:
    refs = list_patches(mixed)
    shapes = {read_patch(r.path(mixed)).size for r in refs} - {None}
    assert len(shapes) == 2  # the fixture really mixes sizes
    predictor = RecordingPredictor()
    batches = list(score_patches(mixed, refs, predictor, batch_size=len(refs)))
    assert len(batches) == 1
    (batch,) = batches
    assert len(predictor.shapes) == 2 and {s[1:3] for s in predictor.shapes} == {
        (96, 96),
        (80, 100),
    }
    assert [ref.id for ref, _ in batch.failed] == ["k2_corrupt"]
    assert batch.refs == [r for r in refs if r.id != "k2_corrupt"]  # input order kept
    expected = [float(mean_p(read_patch(r.path(mixed)).pixels[None])[0]) for r in batch.refs]  # type: ignore[index]
    np.testing.assert_array_equal(batch.scores.p, np.asarray(expected, np.float32))
    assert batch.done == batch.total == len(refs)


def test_views_come_from_the_same_pass(mixed: Path) -> None:
    refs = list_patches(mixed)
    plain = RecordingPredictor()
    (p_only,) = score_patches(mixed, refs, plain, batch_size=64)
    assert p_only.scores.views is None and p_only.scores.spread is None
    with_views = RecordingPredictor()
    (viewed,) = score_patches(mixed, refs, with_views, views=True, batch_size=64)
    assert len(with_views.shapes) == len(plain.shapes)  # no extra predict call
    np.testing.assert_array_equal(viewed.scores.p, p_only.scores.p)  # the identity view
    assert viewed.scores.spread is None
    assert viewed.scores.views is not None and viewed.scores.views.shape == (len(viewed.refs), 8)
    (tta,) = score_patches(mixed, refs, RecordingPredictor(), tta=True, batch_size=64)
    assert tta.scores.views is not None and tta.scores.spread is not None
    np.testing.assert_array_equal(tta.scores.views, viewed.scores.views)
    np.testing.assert_allclose(tta.scores.p, p_only.scores.p + 0.035, atol=1e-6)


def test_views_without_a_predictor_that_gives_them(mixed: Path) -> None:
    refs = list_patches(mixed)[:3]
    (tta,) = score_patches(mixed, refs, RecordingPredictor(give_views=False), tta=True)
    assert tta.scores.views is None and tta.scores.spread is not None
    with pytest.raises(ValueError, match="per-view"):
        list(score_patches(mixed, refs, RecordingPredictor(give_views=False), views=True))


def test_in_memory_pixels_score_as_files_do(tmp_path: Path, data_dir: Path) -> None:
    folder = tmp_path / "k"
    folder.mkdir()
    for path in sorted((data_dir / "kaggle").glob("*.tif"))[:7]:
        shutil.copy(path, folder / path.name)
    refs = list_patches(folder)
    pixels = np.stack([read_patch(r.path(folder)).pixels for r in refs])  # type: ignore[misc]
    from_files = score_folder(folder, RecordingPredictor(), tta=True, batch_size=3)
    in_memory = score_pixels(RecordingPredictor(), pixels, tta=True, batch_size=3)
    np.testing.assert_array_equal(in_memory.p, from_files.p)
    np.testing.assert_array_equal(in_memory.spread, from_files.spread)  # type: ignore[arg-type]
    np.testing.assert_array_equal(in_memory.views, from_files.views)  # type: ignore[arg-type]
    assert len(predict_arrays(RecordingPredictor(), [], tta=True)) == 0


def test_decoding_threads_live_as_long_as_the_loop(mixed: Path) -> None:
    assert _decode_threads() == []
    refs = list_patches(mixed)
    gen = score_patches(mixed, refs, RecordingPredictor(), batch_size=2, workers=2)
    next(gen)
    assert 1 <= len(_decode_threads()) <= 2
    gen.close()  # e.g. the app drops a scoring job
    assert _decode_threads() == []
    token = CancelToken()
    batches = iter_score_batches(mixed, refs, RecordingPredictor(), batch_size=2, cancel=token)
    first = next(batches)
    assert isinstance(first, ScoreBatch) and first.done == 2
    token.cancel()
    with pytest.raises(Cancelled):
        next(batches)
    assert _decode_threads() == []


def test_score_folder_stops_between_batches_when_cancelled(mixed: Path) -> None:
    token = CancelToken()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 4:
            token.cancel()

    result = score_folder(
        mixed, RecordingPredictor(), batch_size=2, progress=progress, cancel=token
    )
    assert result.cancelled and seen == [0, 2, 4]
    assert len(result.ids) + len(result.failed) == 4 and len(result.p) == len(result.ids)
    assert _decode_threads() == []


def test_refs_may_be_any_sequence(mixed: Path) -> None:
    refs = tuple(PatchRef(r.id, r.relpath) for r in list_patches(mixed))
    batches = list(iter_score_batches(mixed, refs, RecordingPredictor(), tta=True, batch_size=4))
    assert [b.done for b in batches] == [4, 8, len(refs)]
    assert all(b.views is not None and b.views.shape == (len(b.ids), 8) for b in batches)
    assert sum(len(b.ids) + len(b.failed) for b in batches) == len(refs)
