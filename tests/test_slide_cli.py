"""Slides headless: ``pathview score SLIDE``, ``pathview export-patches`` and retraining on the
exported folder, several slides one after the other and on a local Ray of 2 workers."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from support.cli import run_cli
from support.models import make_tiny_model, spy_on_encoding
from support.slides import SMALL_SVS, tissue_picture, write_pyramid

from pathview.core import Verdict
from pathview.core.resources import bundled_model_dir
from pathview.io import pixel_sha1, read_labels, read_patch
from pathview.model import load_model, read_metadata
from pathview.scoring.cluster import SlideJob, ray_available, score_slides, score_slides_on_ray
from pathview.scoring.slide import TILE_COLUMNS, score_grid, tile_spec_for
from pathview.slide import PCAM_MICRONS_PER_PIXEL, TileSpec, open_slide, tile_slide
from pathview.store import ReviewInput, ReviewStore, store_path_for_folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture
def slide_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "slides"
    folder.mkdir()
    shutil.copy(SMALL_SVS, folder / "cmu.svs")
    return folder


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_bundled_model_records_its_scale_and_a_model_without_one_gets_pcams(
    tiny_model: Path,
) -> None:
    assert tile_spec_for(read_metadata(bundled_model_dir())) == TileSpec(0.972, 96)
    assert read_metadata(tiny_model).microns_per_pixel is None
    assert tile_spec_for(read_metadata(tiny_model)).mpp == PCAM_MICRONS_PER_PIXEL


@pytest.mark.slow
def test_scoring_the_small_slide_agrees_with_cutting_its_tiles_by_hand(
    slide_dir: Path, tiny_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tiles.csv"
    code = run_cli("score", slide_dir / "cmu.svs", "--out", out, "--model", tiny_model,
                   "--device", "cpu")  # fmt: skip
    assert code == 0
    rows = read_rows(out)
    assert tuple(rows[0]) == TILE_COLUMNS
    whole = tifffile.imread(SMALL_SVS)  # level 0 of the SVS, decoded by tifffile, not OpenSlide
    side = round(96 * 0.972 / 0.499)
    assert len(rows) > 50 and {r["size"] for r in rows} == {str(side)}
    assert {r["level"] for r in rows} == {"0"} and {r["mpp"] for r in rows} == {"0.499"}
    cut = []
    for row in rows:
        x, y = int(row["x"]), int(row["y"])
        assert row["id"] == f"cmu_x{x}_y{y}" and row["slide"] == "cmu.svs"
        crop = whole[y : y + side, x : x + side]
        cut.append(cv2.resize(crop, (96, 96), interpolation=cv2.INTER_AREA))
    p_by_hand = load_model(tiny_model, device="cpu").predict(np.stack(cut)).p
    p_csv = np.array([float(r["label"]) for r in rows])
    assert np.abs(p_csv - p_by_hand).max() < 2e-3  # JPEG decoders may differ by a grey level


def test_a_slide_without_mpp_fails_with_a_message_naming_mpp(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = write_pyramid(tmp_path / "bare.tif", tissue_picture(600, 800), mpp=None)
    out = tmp_path / "t.csv"
    args = ["score", bare, "--out", out, "--model", tiny_model, "--device", "cpu"]
    assert run_cli(*args) == 1
    assert "--mpp" in capsys.readouterr().err and not out.exists()
    assert run_cli(*args, "--mpp", "0.5") == 0
    rows = read_rows(out)
    assert rows and {r["mpp"] for r in rows} == {"0.5"}


def test_several_slides_one_unreadable_write_the_rest_with_status_3(
    slide_dir: Path, tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    second = write_pyramid(slide_dir / "gen.tif", tissue_picture(600, 800), mpp=0.5)
    broken = slide_dir / "broken.svs"
    broken.write_bytes(b"II*\x00garbage")
    out = tmp_path / "t.csv"
    code = run_cli("score", second, broken, "--out", out, "--model", tiny_model,
                   "--device", "cpu")  # fmt: skip
    assert code == 3
    assert "broken.svs" in capsys.readouterr().err
    assert {r["slide"] for r in read_rows(out)} == {"gen.tif"}
    assert run_cli("score", broken, "--out", out, "--model", tiny_model) == 1


def review_tiles(slide_path: Path, model_dir: Path, n: int) -> dict[str, int]:
    """Review ``n`` tiles of a slide as the app records them: tile id, tile relpath, the
    SHA-1 of the pixels shown; alternate agree/disagree. Returns id -> implied label."""
    classifier = load_model(model_dir, device="cpu")
    labels = {}
    with open_slide(slide_path) as slide:
        grid = tile_slide(slide, tile_spec_for(classifier.metadata))
        scores = score_grid(slide, grid, classifier)
        with ReviewStore(store_path_for_folder(slide_path.parent)) as store:
            for i in range(n):
                p = float(scores.p[i])
                verdict = Verdict.AGREE if i % 2 else Verdict.DISAGREE
                store.record(
                    ReviewInput(
                        grid.id(i), verdict, "ann", pixel_sha1(grid.read(slide, i)),
                        grid.relpath(i), p_tumour=p, model_id=classifier.model_id,
                    )
                )  # fmt: skip
                called = int(p >= 0.5)
                labels[grid.id(i)] = called if verdict is Verdict.AGREE else 1 - called
    return labels


@pytest.mark.slow
def test_reviewed_tiles_export_as_a_patch_folder_that_retraining_takes(
    slide_dir: Path, tmp_path: Path, tiny_model: Path
) -> None:
    slide = slide_dir / "cmu.svs"
    expected = review_tiles(slide, tiny_model, 12)
    out = tmp_path / "patches"
    assert run_cli("export-patches", slide, "--reviewed", "--out", out) == 0
    assert read_labels(out / "labels.csv").labels == expected
    provenance = read_rows(out / "provenance.csv")
    assert [r["id"] for r in provenance] == sorted(expected)
    for row in provenance:
        decoded = read_patch(out / f"{row['id']}.tif")
        assert decoded.pixels is not None and decoded.pixels.shape == (96, 96, 3)
        assert pixel_sha1(decoded.pixels) == row["pixel_sha1"]
        assert row["slide"] == "cmu.svs" and row["id"] == f"cmu_x{row['x']}_y{row['y']}"
        assert (row["slide_mpp"], row["level"]) == ("0.499", "0")
    from pathview.training.retrain import main as retrain

    run = tmp_path / "run"
    code = retrain([str(a) for a in (
        "--images", out, "--from-scratch", "--arch", "pv-tiny", "--epochs", "1",
        "--parent", bundled_model_dir(), "--run-dir", run, "--val-fraction", "0.25",
        "--batch-size", "8", "--threads", "1", "--decode-workers", "1", "--progress", "log",
    )])  # fmt: skip
    assert code == 0
    assert load_model(run / "model", device="cpu").model_id


def test_export_patches_refuses_a_slide_nobody_reviewed(
    slide_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ReviewStore(store_path_for_folder(slide_dir)).close()
    code = run_cli("export-patches", slide_dir / "cmu.svs", "--reviewed", "--out", tmp_path / "o")
    assert code == 1 and "no reviewed tiles of cmu.svs" in capsys.readouterr().err


@pytest.mark.slow
def test_changed_pixels_are_left_out_of_the_export(
    slide_dir: Path, tmp_path: Path, tiny_model: Path
) -> None:
    slide = slide_dir / "cmu.svs"
    review_tiles(slide, tiny_model, 2)
    with ReviewStore(store_path_for_folder(slide_dir)) as store:
        store.record(ReviewInput("cmu_x0_y0", Verdict.AGREE, "ann", "0" * 40,
                                 "cmu.svs#x=0,y=0,size=187,mpp=0.499", p_tumour=0.9))  # fmt: skip
    out = tmp_path / "o"
    assert run_cli("export-patches", slide, "--reviewed", "--out", out) == 3
    assert len(read_labels(out / "labels.csv").labels) == 2


@pytest.mark.slow
@pytest.mark.skipif(not ray_available(), reason="the cluster extra (Ray) is not installed")
def test_two_slides_on_a_local_ray_of_two_workers_match_scoring_them_in_turn(
    slide_dir: Path, tiny_model: Path
) -> None:
    second = write_pyramid(slide_dir / "gen.tif", tissue_picture(600, 800), mpp=0.5)
    paths = [slide_dir / "cmu.svs", second]
    job = SlideJob(model_dir=str(tiny_model), device="cpu", precision="float32")
    in_turn = {
        o.path: o for o in score_slides(paths, job, load_model(tiny_model, "cpu", "float32"))
    }
    on_ray = {o.path: o for o in score_slides_on_ray(paths, job, num_cpus=2)}
    assert set(on_ray) == set(paths)
    for path in paths:
        a, b = in_turn[path].scores, on_ray[path].scores
        assert a is not None and b is not None
        assert np.array_equal(a.grid.xs, b.grid.xs) and np.allclose(a.p, b.p, atol=1e-6)


def test_a_codec_model_scores_a_slide_with_the_tiles_encoded_in_the_reading_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import torch

    from pathview.model.codec import CODEC_KEY

    model_dir = make_tiny_model(tmp_path / "coded")
    meta = json.loads((model_dir / "model.json").read_text())
    meta[CODEC_KEY] = {"format": "jpeg", "quality": 75, "subsampling": "4:2:0"}
    (model_dir / "model.json").write_text(json.dumps(meta))
    clf = load_model(model_dir, device="cpu")
    slide = open_slide(SMALL_SVS)
    grid = tile_slide(slide, tile_spec_for(clf.metadata))
    where = spy_on_encoding(monkeypatch, clf)
    torch.set_num_threads(2)
    scores = score_grid(slide, grid, clf, batch_size=16)
    assert torch.get_num_threads() == 2
    assert where and all(name.startswith("tiles") for name in where)
    tiles = np.stack([grid.read(slide, row) for row in range(len(grid))])
    # The same P, bit for bit, as predict with its own codec on the tiles read by hand.
    np.testing.assert_array_equal(scores.p, clf.predict(tiles, batch_size=16).p)
