"""model.json is parsed once into typed records: validated, and written back without loss."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.models import make_tiny_model

from pathview.core.resources import bundled_model_dir
from pathview.model import ModelLoadError, default_model_dir, load_model, read_metadata
from pathview.model.bundle import write_metadata
from pathview.model.codec import InputCodec
from pathview.model.metadata import ModelMetadata, TeacherRecord

BUNDLED = bundled_model_dir()


def edit(model_dir: Path, change: Any) -> Path:
    path = model_dir / "model.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))
    return model_dir


def test_the_bundled_model_json_round_trips_byte_for_byte(tmp_path: Path) -> None:
    text = (BUNDLED / "model.json").read_text(encoding="utf-8")
    meta = read_metadata(BUNDLED)
    assert meta.to_dict() == json.loads(text)
    write_metadata(tmp_path, meta)
    assert (tmp_path / "model.json").read_text(encoding="utf-8") == text


def test_the_records_carry_the_bundled_models_values() -> None:
    meta = read_metadata(default_model_dir())
    raw = json.loads((BUNDLED / "model.json").read_text())
    assert meta.model_id == raw["weights"]["sha256"]
    assert meta.temperature == raw["temperature"]
    assert meta.normalisation.mean == raw["normalisation"]["mean"]
    assert meta.architecture.config.stages == tuple(map(tuple, raw["architecture"]["stages"]))
    recorded = raw.get("input_codec")
    assert meta.codec == (InputCodec(quality=recorded["quality"]) if recorded else None)
    assert meta.int8 is not None and meta.int8.source_sha256 == meta.model_id
    assert meta.calibration is not None and meta.calibration.prior_shift is not None
    assert meta.calibration.prior_shift.to_prevalence == 0.405
    external = meta.block("external")
    assert external is not None and external.tta is not None
    assert external.tta.auc == raw["validation"]["external"]["tta"]["auc"]
    assert external.int8 is not None and external.int8.plain is not None
    assert external.int8.plain.figure("max_abs_dp") == pytest.approx(
        raw["validation"]["external"]["int8"]["plain"]["max_abs_dp"]
    )
    assert meta.training is not None and isinstance(meta.training.teacher, TeacherRecord)
    assert meta.training.data[0].n_tumour == raw["training"]["data"][0]["n_tumour"]
    assert meta.int8.calibration is not None and meta.int8.calibration.n == 1024
    assert len(meta.training.teacher.models) == len(raw["training"]["teacher"]["models"])


def test_a_temperature_that_is_not_a_number_is_a_load_error(tmp_path: Path) -> None:
    model = edit(make_tiny_model(tmp_path / "m"), lambda m: m.update(temperature="hot"))
    with pytest.raises(ModelLoadError, match=r"temperature must be a number, got 'hot'"):
        load_model(model, device="cpu")


def _set(path: str, value: Any) -> Any:
    def change(meta: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node[key]
        node[last] = value

    return change


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("input_size", "96", "input_size must be an integer"),
        ("input_size", True, "input_size must be an integer"),
        ("temperature", -1.0, "temperature must be a positive number"),
        ("temperature", None, "temperature must not be null"),
        ("normalisation.mean", ["a", 0.5, 0.5], r"normalisation.mean\[0\] must be a number"),
        ("normalisation.std", [0.2, 0.2], "mean and std must have 3 values"),
        ("normalisation", [0.5, 0.5, 0.5], "normalisation must be a record"),
        ("classes", {"0": 0, "1": "tumour"}, r"classes.0 must be a string"),
        ("cam_layers.default", 3, "cam_layers.default must be a string"),
        ("cam_layers.candidates", {"stem": "big"}, "cam_layers.candidates.stem must be an int"),
        ("weights.sha256", 12345, "weights.sha256 must be a string"),
        ("resize_policy", "stretch", "unknown resize_policy 'stretch'"),
        ("architecture.name", "vit", "unsupported architecture"),
        ("calibration", "platt", "calibration must be a record"),
        ("validation", {"heldout": {"plain": {"auc": "high"}}}, "validation.heldout.plain.auc"),
        ("name", 7, "name must be a string"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_load_error_naming_the_key(
    tmp_path: Path, path: str, value: Any, message: str
) -> None:
    model = edit(make_tiny_model(tmp_path / "m"), _set(path, value))
    with pytest.raises(ModelLoadError, match=message) as caught:
        load_model(model, device="cpu")
    assert str(model / "model.json") in str(caught.value)


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    model = edit(make_tiny_model(tmp_path / "m"), lambda m: m.pop("normalisation"))
    with pytest.raises(ModelLoadError, match="lacks normalisation"):
        read_metadata(model)
    model = edit(model, lambda m: m.update(normalisation={"mean": [0.5] * 3}))
    with pytest.raises(ModelLoadError, match=r"lacks normalisation\.std"):
        read_metadata(model)


def test_unknown_keys_are_kept_at_every_level(tmp_path: Path) -> None:
    def add(meta: dict[str, Any]) -> None:
        meta["reviewer_note"] = {"by": "ann", "n": 3}
        meta["normalisation"]["colour_space"] = "sRGB"
        meta["weights"]["compressed"] = False
        meta["validation"] = {"site-b": {"data": "site B", "plain": {"n": 4, "kappa": 0.7}}}

    model = edit(make_tiny_model(tmp_path / "m"), add)
    before = json.loads((model / "model.json").read_text())
    meta = read_metadata(model)
    assert meta.extra["reviewer_note"] == {"by": "ann", "n": 3}
    assert meta.normalisation.extra == {"colour_space": "sRGB"}
    block = meta.block("site-b")
    assert block is not None and block.plain is not None
    assert block.plain.figure("kappa") == 0.7 and block.plain.auc is None
    assert meta.to_dict() == before
    meta.temperature = 2.0
    write_metadata(model, meta)
    after = json.loads((model / "model.json").read_text())
    assert after == {**before, "temperature": 2.0}
    assert load_model(model, device="cpu").temperature == 2.0


def test_a_dropped_record_is_left_out_and_nulls_stay_null(tmp_path: Path) -> None:
    model = tmp_path / "bundled"
    shutil.copytree(BUNDLED, model)
    meta = read_metadata(model)
    assert meta.parent_model is None and "parent_model" in meta.to_dict()  # written as null
    meta.int8 = None
    written = meta.to_dict()
    assert "int8" not in written
    assert written["parent_model"] is None
    assert ModelMetadata.parse(written).int8 is None


def test_a_retrained_models_merged_sources_are_lists_of_folders(tmp_path: Path) -> None:
    source = {"images": ["a/images", "b/images"], "labels": ["a.csv", "b.csv"], "n": 9}
    reviewed = {"reviews": ["store.sqlite"], "n": 2, "n_tumour": 1}
    model = edit(
        make_tiny_model(tmp_path / "m"),
        lambda m: m.update(training={"data": [source, reviewed], "world_size": 1}),
    )
    meta = read_metadata(model)
    assert meta.training is not None
    merged, reviews = meta.training.data
    assert merged.images == ["a/images", "b/images"] and merged.n == 9
    assert reviews.images is None and reviews.extra == {"reviews": ["store.sqlite"]}
    assert meta.to_dict()["training"] == {"data": [source, reviewed], "world_size": 1}
    bad = edit(model, lambda m: m["training"]["data"][0].update(images=["a", 3]))
    with pytest.raises(ModelLoadError, match=r"training\.data\[0\]\.images\[1\] must be a string"):
        read_metadata(bad)


def test_verdict_record_round_trips_and_refuses_an_unknown_result() -> None:
    from pathview.model.metadata import VERDICTS, ModelLoadError, ModelMetadata

    data = json.loads((default_model_dir() / "model.json").read_text())
    data["verdict"] = {
        "result": "worse",
        "metric": "auc_tta",
        "delta": -0.01,
        "ci95": [-0.02, -0.001],
    }
    meta = ModelMetadata.parse(data)
    assert meta.verdict is not None and meta.verdict.result == "worse"
    assert not meta.verdict.improved
    assert meta.to_dict()["verdict"] == data["verdict"]
    assert set(VERDICTS) == {"better", "no measurable change", "worse"}
    data["verdict"] = {"result": "great"}
    with pytest.raises(ModelLoadError, match=r"verdict\.result"):
        ModelMetadata.parse(data)
