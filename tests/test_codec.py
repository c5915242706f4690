"""The input codec: lossless patches sent through the JPEG the training patches were stored in."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support.models import make_tiny_model, spy_on_encoding
from support.patches import kaggle_pixels

from pathview.io import read_patch
from pathview.model import ModelLoadError, load_model
from pathview.model.codec import CODEC_KEY, InputCodec
from pathview.training.data import through_codec
from pathview.training.loop import predict_logits
from pathview.training.train import load_network

JPEG75 = {"format": "jpeg", "quality": 75, "subsampling": "4:2:0"}


def pillow_roundtrip(patch: np.ndarray, quality: int) -> np.ndarray:
    """How the PCam JPEG patches were written and how the app reads a .jpg."""
    buffer = io.BytesIO()
    Image.fromarray(patch).save(buffer, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as img:
        return np.asarray(img.convert("RGB"))


def with_codec(model_dir: Path, record: object) -> Path:
    meta = json.loads((model_dir / "model.json").read_text())
    meta[CODEC_KEY] = record
    (model_dir / "model.json").write_text(json.dumps(meta))
    return model_dir


@pytest.mark.parametrize("n", [3, 200])  # one thread, and a batch split over threads
def test_codec_output_is_pillows_jpeg_save_and_open(data_dir: Path, n: int) -> None:
    pixels = kaggle_pixels(data_dir, n)
    coded = InputCodec(quality=75).apply(pixels)
    assert coded.dtype == np.uint8 and coded.shape == pixels.shape
    expected = np.stack([pillow_roundtrip(p, 75) for p in pixels])
    np.testing.assert_array_equal(coded, expected)
    assert not np.array_equal(coded, pixels)  # it does change lossless pixels


def test_a_patch_stored_as_that_jpeg_changes_only_slightly(data_dir: Path) -> None:
    files = sorted((data_dir / "pcam-jpeg").glob("*.jpg"))[:16]
    stored = np.stack([read_patch(f).pixels for f in files])  # type: ignore[misc]
    lossless = kaggle_pixels(data_dir, 16)
    codec = InputCodec(quality=75)
    again = np.abs(codec.apply(stored).astype(int) - stored).mean()
    first = np.abs(codec.apply(lossless).astype(int) - lossless).mean()
    assert again < first / 2


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"format": "png", "quality": 75}, "only 'jpeg'"),
        ({"format": "jpeg", "quality": 0}, "quality"),
        ({"format": "jpeg", "quality": 75, "subsampling": "4:4:4"}, "subsampling"),
        ("jpeg75", "record"),
    ],
)
def test_a_codec_this_version_cannot_apply_is_a_load_error(
    tmp_path: Path, record: object, message: str
) -> None:
    model = with_codec(make_tiny_model(tmp_path / "m"), record)
    with pytest.raises(ModelLoadError, match=message):
        load_model(model, device="cpu")


def test_classifier_scores_the_coded_patches(tmp_path: Path, data_dir: Path) -> None:
    plain = load_model(make_tiny_model(tmp_path / "plain"), device="cpu", precision="float32")
    coded = load_model(
        with_codec(make_tiny_model(tmp_path / "coded"), JPEG75), device="cpu", precision="float32"
    )
    assert plain.codec is None and coded.codec == InputCodec(quality=75)
    pixels = kaggle_pixels(data_dir, 12)
    jpeg = np.stack([pillow_roundtrip(p, 75) for p in pixels])
    np.testing.assert_allclose(coded.predict(pixels).p, plain.predict(jpeg).p, atol=1e-6)
    assert not np.allclose(coded.predict(pixels).p, plain.predict(pixels).p, atol=1e-4)
    # Grad-CAM's input (preprocess) is the coded patch too.
    torch.testing.assert_close(coded.preprocess(pixels), plain.preprocess(jpeg))


def test_odd_sizes_are_fitted_to_96_before_the_codec(tmp_path: Path, data_dir: Path) -> None:
    coded = load_model(with_codec(make_tiny_model(tmp_path / "m"), JPEG75), device="cpu")
    pixels = kaggle_pixels(data_dir, 2)
    framed = np.pad(pixels, ((0, 0), (12, 12), (10, 10), (0, 0)), mode="reflect")
    # A larger patch is centre-cropped to the same 96 x 96 pixels, then coded.
    np.testing.assert_allclose(coded.predict(framed).p, coded.predict(pixels).p, atol=1e-6)
    small = pixels[0][:60, :60]
    single = coded.predict(small).p
    mixed = coded.predict([pixels[1], small, framed[0]]).p
    whole = coded.predict(pixels).p
    np.testing.assert_allclose(mixed, [whole[1], single[0], whole[0]], atol=1e-6)
    # A smaller one is resized up, rounded to uint8 as a stored patch would be, then coded.
    plain = load_model(make_tiny_model(tmp_path / "plain"), device="cpu", precision="float32")
    up = torch.nn.functional.interpolate(
        torch.from_numpy(small.copy()).permute(2, 0, 1)[None].float(),
        size=(96, 96),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
    up8 = up.round().clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(single, plain.predict(pillow_roundtrip(up8, 75)).p, atol=1e-6)


def test_training_sees_what_the_classifier_scores(tmp_path: Path, data_dir: Path) -> None:
    """training.data.through_codec + the raw network == Classifier.predict with the codec."""
    model = with_codec(make_tiny_model(tmp_path / "m"), JPEG75)
    net, meta = load_network(model)
    clf = load_model(model, device="cpu", precision="float32")
    pixels = kaggle_pixels(data_dir, 40)
    codec = meta.codec
    z = predict_logits(
        net,
        through_codec(pixels, codec, chunk=16),
        meta.normalisation.mean,
        meta.normalisation.std,
        torch.device("cpu"),
    )
    p = torch.sigmoid(torch.from_numpy(z) / meta.temperature).numpy()
    np.testing.assert_allclose(p, clf.predict(pixels).p, atol=1e-5)
    assert through_codec(pixels, None) is pixels


def test_the_record_says_what_happens_and_round_trips() -> None:
    record = InputCodec(quality=75).to_dict()
    assert {k: record[k] for k in JPEG75} == JPEG75
    assert "quality 75" in record["note"]
    assert InputCodec.from_metadata({CODEC_KEY: record}) == InputCodec(quality=75)
    assert InputCodec.from_metadata({}) is None
    assert InputCodec(quality=75).describe() == "JPEG q75 (4:2:0)"


def test_score_cli_says_inputs_go_through_the_codec(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from support.cli import run_cli

    folder = tmp_path / "patches"
    folder.mkdir()
    for f in sorted((data_dir / "kaggle").glob("*.tif"))[:6]:
        (folder / f.name).write_bytes(f.read_bytes())
    for name, record in (("plain", None), ("coded", JPEG75)):
        model = make_tiny_model(tmp_path / name)
        if record is not None:
            with_codec(model, record)
        out = tmp_path / f"{name}.csv"
        code = run_cli("score", folder, "--out", out, "--model", model, "--device", "cpu")
        said = capsys.readouterr().out
        assert code == 0
        assert ("inputs through JPEG q75 (4:2:0)" in said) == (record is not None)


def test_encoded_inputs_score_bit_for_bit_as_predict_does(tmp_path: Path, data_dir: Path) -> None:
    coded = load_model(with_codec(make_tiny_model(tmp_path / "m"), JPEG75), device="cpu")
    pixels = kaggle_pixels(data_dir, 40)
    fed = coded.encode_inputs(pixels)
    np.testing.assert_array_equal(fed, coded.codec.apply(pixels))  # type: ignore[union-attr]
    for tta in (False, True):
        np.testing.assert_array_equal(
            coded.predict(fed, tta=tta, encoded=True).p, coded.predict(pixels, tta=tta).p
        )
    # Another size: the resize policy, then the codec, as predict applies them.
    framed = np.pad(pixels[:3], ((0, 0), (12, 12), (10, 10), (0, 0)), mode="reflect")
    assert coded.encode_inputs(framed).shape == (3, 96, 96, 3)
    np.testing.assert_array_equal(
        coded.predict(coded.encode_inputs(framed), encoded=True).p, coded.predict(framed).p
    )
    # Without a codec there is nothing to encode.
    plain = load_model(make_tiny_model(tmp_path / "plain"), device="cpu")
    assert plain.encode_inputs(pixels) is pixels


def test_the_scoring_loop_encodes_in_its_decoding_threads(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathview.io import list_patches
    from pathview.scoring import score_patches
    from pathview.scoring.loop import input_encoder, network_threads

    folder = tmp_path / "patches"
    folder.mkdir()
    for f in sorted((data_dir / "kaggle").glob("*.tif"))[:20]:
        (folder / f.name).write_bytes(f.read_bytes())
    refs = list_patches(folder)
    coded = load_model(with_codec(make_tiny_model(tmp_path / "m"), JPEG75), device="cpu")
    assert input_encoder(coded) is not None
    assert input_encoder(load_model(make_tiny_model(tmp_path / "p"), device="cpu")) is None
    where = spy_on_encoding(monkeypatch, coded)
    torch.set_num_threads(2)
    batches = list(score_patches(folder, refs, coded, batch_size=8, quality=True))
    assert torch.get_num_threads() == 2  # restored after the run
    assert where and all(name.startswith("decode") for name in where)
    p = np.concatenate([b.scores.p for b in batches])
    pixels = np.stack([read_patch(r.path(folder)).pixels for b in batches for r in b.refs])
    np.testing.assert_array_equal(p, coded.predict(pixels, batch_size=8).p)
    # The quality rows describe the file's own pixels, not the encoded ones.
    from pathview.quality import PatchQuality
    from pathview.scoring.loop import assess_arrays

    quality = PatchQuality.concat([b.quality for b in batches if b.quality is not None])
    assert quality.sha1 == assess_arrays(list(pixels)).sha1
    assert network_threads(2, current=2) >= 1
    assert network_threads(1, current=1) == 1
