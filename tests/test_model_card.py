"""The model card is rendered from the model's metadata, numbers included."""

from __future__ import annotations

from pathlib import Path

from pathview.model import default_model_dir, read_metadata
from pathview.model.codec import InputCodec
from pathview.model.provenance import codec_text
from pathview.training.model_card import CARD_NAME, main, render_card


def test_card_carries_the_recorded_numbers() -> None:
    meta = read_metadata(default_model_dir()).to_dict()
    card = render_card(meta, {"command": "bench", "figures": {"model only": 2345.6}})
    assert meta["weights"]["sha256"] in card
    external = meta["validation"]["external"]
    for view in ("plain", "tta"):
        assert f"{external[view]['auc']:.4f}" in card
        assert f"{external[view]['ece']:.4f}" in card
    assert "| model only | 2,346 |" in card
    assert f"T = {meta['temperature']:.4f}" in card


def test_card_is_written_beside_the_weights(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for f in default_model_dir().iterdir():
        if f.name != CARD_NAME:
            (model / f.name).write_bytes(f.read_bytes())
    assert main([str(model)]) == 0
    text = (model / CARD_NAME).read_text()
    assert text.startswith(f"# Model card: {read_metadata(model).name}")


def test_card_names_the_distillation_teachers() -> None:
    meta = read_metadata(default_model_dir()).to_dict()
    model = {
        "path": "runs/teacher/model",
        "name": "teacher-net",
        "sha256": "ab" * 32,
        "architecture": {"parameters": 681105},
        "training": {"epochs": 70, "n_train": 23928},
        "validation": {"external": {"plain": {"auc": 0.97101}, "tta": {"auc": 0.97758}}},
    }
    teacher = {
        "models": [model, {**model, "name": "second", "sha256": "cd" * 32}],
        "distill_weight": 0.5,
        "targets": "the mean of the teacher models' calibrated P(tumour)",
    }
    meta["training"] = {**meta.get("training", {}), "teacher": teacher}
    card = render_card(meta)
    assert "Distilled from `teacher-net` from `runs/teacher/model` (id abababababab; 681" in card
    assert "70 epochs on 23,928 patches; `kaggle-tif` AUC 0.9710 single view" in card
    assert "AUC 0.9710 single view, 0.9776 with TTA) and `second` from" in card
    assert "0.5 x cross-entropy with the mean of the teacher models' calibrated" in card
    meta["training"]["teacher"] = None
    assert "Distilled" not in render_card(meta)


def test_card_states_the_prior_the_probabilities_are_calibrated_for() -> None:
    meta = read_metadata(default_model_dir()).to_dict()
    meta["calibration"] = {
        **meta["calibration"],
        "prior_shift": {
            "from_prevalence": 0.49958,
            "to_prevalence": 0.405,
            "prevalence_source": "the Kaggle training set",
            "logit_offset": -0.383,
            "heldout_after": {"n": 1199, "auc": 0.97, "accuracy": 0.9, "ece": 0.041},
        },
    }
    card = render_card(meta)
    assert "calibrated for a tumour prevalence of 40.5% (the Kaggle training set)" in card
    assert "from the held-out patches' 50.0% (logit offset -0.3830" in card
    assert "ECE 0.0410, accuracy 0.9000" in card


def test_card_states_the_translation_augmentation_only_when_used() -> None:
    meta = read_metadata(default_model_dir()).to_dict()
    args = meta["training"]["arguments"]
    meta["training"]["arguments"] = {**args, "shift": 0}
    assert "random translations" not in render_card(meta)
    meta["training"]["arguments"] = {**args, "shift": 6}
    assert "the 8 flips/rotations, random translations of up to 6 pixels, H&E" in render_card(meta)


def test_card_says_which_weights_training_started_from() -> None:
    meta = read_metadata(default_model_dir()).to_dict()
    init = {"sha256": "ef" * 32, "training": {"epochs": 60, "n_train": 23928}}
    meta["training"] = {**meta.get("training", {}), "initialised_from": init}
    card = render_card(meta)
    assert "- Training started from the weights of model efefefefefef (60 epochs on 23,928" in card
    meta["training"]["initialised_from"] = None
    assert "started from the weights" not in render_card(meta)


def test_card_describes_int8_weights_and_their_figures_only_when_present() -> None:
    meta = read_metadata(default_model_dir()).to_dict()
    meta.pop("int8", None)
    external = meta["validation"]["external"]
    external.pop("int8", None)
    card = render_card(meta)
    assert "int8" not in card
    meta["int8"] = {
        "file": "weights-int8.pt",
        "bytes": 730_000,
        "sha256": "ab" * 32,
        "method": "post-training static quantisation",
        "calibration": {"n": 1024, "data": "../shared/data/pcam/pcam-jpeg/images"},
        "torch": "2.14.1",
    }
    figures = {"n": 1500, "auc": 0.98765, "accuracy": 0.91234, "ece": 0.01234}
    external["int8"] = {
        "plain": {**figures, "max_abs_dp": 0.0706, "mean_abs_dp": 0.0042},
        "tta": {**figures, "auc": 0.98888, "max_abs_dp": 0.05, "mean_abs_dp": 0.003},
    }
    # Rows name the codec the block records; say JPEG q75 here whatever the bundled model has.
    meta["input_codec"] = InputCodec(quality=75).to_dict()
    external["input_codec"] = "JPEG q75 (4:2:0)"
    card = render_card(meta)
    assert "int8 weights `weights-int8.pt` (0.73 MB, sha256 `abababababab`)" in card
    assert "observed on 1,024 patches of PCam `pcam-jpeg`" in card
    assert "| 1500 | 0.9877 | 0.9123 | 0.0123 |" in card
    model_id = meta["weights"]["sha256"][:12]
    assert f"8-view TTA | `{model_id}`, int8, cpu, JPEG q75 (4:2:0) | 1500 | 0.9889 |" in card
    assert "by 0.0042 on average (largest 0.0706)" in card


def test_card_states_the_input_codec_when_the_model_has_one() -> None:
    from pathview.model.codec import CODEC_KEY

    meta = read_metadata(default_model_dir()).to_dict()
    meta[CODEC_KEY] = InputCodec(quality=75).to_dict()
    card = render_card(meta)
    assert "- Input codec (JPEG quality 75, 4:2:0): every patch is JPEG-encoded" in card
    meta.pop(CODEC_KEY)
    assert "Input codec" not in render_card(meta)


def test_every_metrics_row_names_model_number_format_device_and_codec() -> None:
    meta = read_metadata(default_model_dir()).to_dict()
    codec = codec_text(read_metadata(default_model_dir()).codec)
    card = render_card(meta)
    rows = [line for line in card.splitlines() if line.startswith("| ")]
    metric_rows = [r for r in rows if "single view |" in r or "8-view TTA |" in r]
    assert len(metric_rows) == 6  # held-out 2, kaggle-tif float32 2, kaggle-tif int8 2
    model_id = meta["weights"]["sha256"][:12]
    for row in metric_rows:
        assert f"`{model_id}`" in row
        assert ", float32, " in row or ", int8, " in row
        assert row.split(" | ")[1].endswith(f", cpu, {codec}")
    assert sum(", int8, " in r for r in metric_rows) == 2
    # A block that records its device says so; one without an input codec says "none".
    meta = {**meta, "input_codec": None}
    external = {**meta["validation"]["external"], "device": "cuda", "input_codec": None}
    meta["validation"] = {"external": {k: v for k, v in external.items() if k != "int8"}}
    rows = [r for r in render_card(meta).splitlines() if "kaggle-tif" in r and "| 1500 |" in r]
    assert rows and all(", float32, cuda, none |" in r for r in rows)


def test_card_says_what_the_training_patches_were_source_by_source() -> None:
    meta = read_metadata(default_model_dir()).to_dict()
    jpeg = {"images": "data/pcam-jpeg/images", "n": 100, "n_tumour": 50}
    pool = {"images": "data/kaggle-pool/images", "n": 20, "n_tumour": 8}
    meta["training"] = {**meta.get("training", {}), "data": [jpeg]}
    card = render_card(meta)
    assert "- Trained on JPEG (quality ~75) patches and validated on lossless" in card
    assert "| held-out training-source patches (JPEG; checkpoint choice" in card
    meta["training"]["data"] = [jpeg, pool]
    card = render_card(meta)
    assert "| held-out training-source patches (JPEG and lossless .tif; checkpoint" in card
    assert (
        "- Trained on JPEG (quality ~75) patches together with original lossless Kaggle `.tif` "
        "files and validated on lossless" in card
    )
    assert "Kaggle `kaggle-pool` (original lossless `.tif` files, byte-exact): 20 patches" in card
