"""Typed model metadata: the content of a model directory's ``model.json``.

Training writes a :class:`ModelMetadata` and the app reads one; the JSON is parsed and
validated once, when it is read (:meth:`Record.parse`, called by
:func:`pathview.model.bundle.read_metadata`), and a wrong type or a missing required key
becomes a :class:`ModelLoadError` that names the key, e.g.
``temperature must be a number, got 'hot'``.

Each record keeps the keys it does not know (``extra``) and the order its keys came in, so
reading a model.json and writing it back loses nothing (the bundled model's file comes back
byte for byte). A record's optional field that is ``None`` is left out when written, unless
the file had it as ``null`` or the field is always written (``parent_model``); a field the
file lacked is not added while its value is the one parsing gave it.

The records, top down: :class:`ModelMetadata` holds the architecture
(:class:`Architecture`), input (``input_size``, ``microns_per_pixel``, ``resize_policy``,
:class:`Normalisation`, the input codec in a :class:`CodecRecord`), output (``classes``,
``temperature``), :class:`Calibration` (with its :class:`PriorShift`), :class:`CamLayers`, the
weights (:class:`WeightsRecord`) and int8 weights (:class:`Int8Record`, with its
:class:`Int8Sample`), the :class:`ParentModel`, training provenance (:class:`TrainingRecord`:
:class:`DataRecord` sources, :class:`InitialisedFrom`, :class:`TeacherRecord` of
:class:`TeacherModel`), validation (:class:`ValidationBlock` of :class:`Metrics`, with
:class:`Int8Validation`) and a retrained model's :class:`ReviewsRecord` and :class:`VerdictRecord`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pathview.model.codec import CODEC_KEY, InputCodec
from pathview.model.network import NetConfig

FORMAT_VERSION = 1

#: Values of ``resize_policy``: how a patch that is not input_size x input_size is brought to it.
RESIZE_POLICIES = ("centre_crop", "resize")

#: Keys every model.json must have for the app to use it.
REQUIRED_KEYS = (
    "architecture",
    "input_size",
    "normalisation",
    "classes",
    "temperature",
    "resize_policy",
    "weights",
    "cam_layers",
)


class ModelLoadError(Exception):
    """A model directory cannot be used: missing files, bad metadata or a weights checksum
    mismatch. The message says which and names the path."""


R = TypeVar("R", bound="Record")
T = TypeVar("T")


class _Reader:
    """Typed access to one JSON object; remembers which keys were read."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ModelLoadError(
                f"{where or 'model metadata'} must be a record (a JSON object), got {data!r}"
            )
        self.data = data
        self.where = where
        self.used: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, check: Callable[[Any, str], T], required: bool = False) -> T | None:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise ModelLoadError(f"model metadata lacks {self.name(key)}")
            return None
        value = self.data[key]
        if value is None:
            if required:
                raise ModelLoadError(f"{self.name(key)} must not be null")
            return None
        return check(value, self.name(key))

    def req(self, key: str, check: Callable[[Any, str], T]) -> T:
        value = self.get(key, check, required=True)
        assert value is not None
        return value

    def record(self, key: str, cls: type[R], required: bool = False) -> R | None:
        return self.get(key, lambda v, where: cls.parse(v, where), required)

    def extra(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k not in self.used}

    def nulls(self) -> frozenset[str]:
        return frozenset(k for k, v in self.data.items() if v is None)


# ----------------------------------------------------------------------------- value checks


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ModelLoadError(f"{where} must be a string, got {value!r}")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelLoadError(f"{where} must be an integer, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelLoadError(f"{where} must be a number, got {value!r}")
    return value  # kept as written (an int stays an int in the file)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ModelLoadError(f"{where} must be true or false, got {value!r}")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ModelLoadError(f"{where} must be a record (a JSON object), got {value!r}")
    return dict(value)


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ModelLoadError(f"{where} must be a list, got {value!r}")
    return list(value)


def _numbers(value: Any, where: str) -> list[float]:
    items = _list(value, where)
    return [_number(v, f"{where}[{i}]") for i, v in enumerate(items)]


def _records(cls: type[R]) -> Callable[[Any, str], list[R]]:
    def check(value: Any, where: str) -> list[R]:
        return [cls.parse(v, f"{where}[{i}]") for i, v in enumerate(_list(value, where))]

    return check


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, InputCodec):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    return value


# ----------------------------------------------------------------------------- records


@dataclass
class Record:
    """Base of the metadata records: unknown keys (``extra``) and the source's key order and
    nulls are kept, so that writing a record back reproduces what was read."""

    extra: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False)
    _keys: tuple[str, ...] = field(default=(), kw_only=True, repr=False, compare=False)
    _nulls: frozenset[str] = field(default=frozenset(), kw_only=True, repr=False, compare=False)
    #: Known keys the source lacked, with the value parsing gave them: not written while the
    #: value is unchanged.
    _absent: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False, compare=False)

    #: JSON key of each field whose key differs from the field's name.
    _KEYS: ClassVar[dict[str, str]] = {}
    #: JSON keys written even when their value is None (as null).
    _ALWAYS: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def parse(cls: type[R], data: Any, where: str = "") -> R:
        """The record of a JSON object; raises ModelLoadError naming the key at fault."""
        reader = _Reader(data, where)
        values = cls._read(reader)
        record = cls(
            **values,
            extra=reader.extra(),
            _keys=tuple(reader.data),
            _nulls=reader.nulls(),
        )
        record._absent = {
            k: copy.deepcopy(v) for k, v in record._fields().items() if k not in reader.data
        }
        return record

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        raise NotImplementedError

    def _fields(self) -> dict[str, Any]:
        return {
            self._KEYS.get(f.name, f.name): getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("extra", "_keys", "_nulls", "_absent")
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form (a new dict): the source's keys in their order, then new ones."""
        known = self._fields()
        out: dict[str, Any] = {}
        order = [*self._keys, *known, *self.extra]
        for key in order:
            if key in out:
                continue
            if key in known:
                value = known[key]
                if key in self._absent and value == self._absent[key]:
                    continue  # not in the source and not changed since
                if value is not None or key in self._nulls or key in self._ALWAYS:
                    out[key] = _dump(value)
            elif key in self.extra:
                out[key] = copy.deepcopy(self.extra[key])  # the record keeps its own
        return out


@dataclass
class Metrics(Record):
    """AUC, accuracy at 0.5 and ECE of a model on ``n`` patches (:func:`summarise`); extra
    figures (the int8 ``max_abs_dp`` / ``mean_abs_dp``) are kept in ``extra``."""

    n: int | None = None
    auc: float | None = None
    accuracy: float | None = None
    ece: float | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "n": r.get("n", _int),
            "auc": r.get("auc", _number),
            "accuracy": r.get("accuracy", _number),
            "ece": r.get("ece", _number),
        }

    def figure(self, key: str, default: float = math.nan) -> float:
        """A metric by name (``auc``, ``ece``, or one of ``extra``); ``default`` if absent."""
        value = getattr(self, key, None) if key in ("auc", "accuracy", "ece") else None
        if value is None:
            value = self.extra.get(key)
        return default if value is None else float(value)


@dataclass
class DataRecord(Record):
    """A data set a model was trained or measured on: where it is and its size (other keys,
    such as a retraining's review sources or its id file, are kept in ``extra``)."""

    #: A folder, or (a retraining's merged sources) a list of folders.
    images: str | list[str] | None = None
    labels: str | list[str] | None = None
    n: int | None = None
    n_tumour: int | None = None
    description: str | None = None
    note: str | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "images": r.get("images", _paths),
            "labels": r.get("labels", _paths),
            "n": r.get("n", _int),
            "n_tumour": r.get("n_tumour", _int),
            "description": r.get("description", _str),
            "note": r.get("note", _str),
        }


def _paths(value: Any, where: str) -> str | list[str]:
    if isinstance(value, list):
        return [_str(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return _str(value, where)


def _data(value: Any, where: str) -> DataRecord | str:
    """A data record, or (older and held-out blocks) a description."""
    return value if isinstance(value, str) else DataRecord.parse(value, where)


@dataclass
class Int8Sample(Record):
    """The patches the int8 activation ranges were observed on."""

    data: str | None = None
    labels: str | None = None
    n: int | None = None
    seed: int | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "data": r.get("data", _str),
            "labels": r.get("labels", _str),
            "n": r.get("n", _int),
            "seed": r.get("seed", _int),
        }


@dataclass
class Architecture(Record):
    """The network's shape (a :class:`NetConfig`) and its parameter count."""

    config: NetConfig = field(default_factory=NetConfig)
    parameters: int | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        for key in ("stem", "stages", "dropout", "name"):
            r.used.add(key)
        try:
            config = NetConfig.from_dict(dict(r.data))
        except KeyError as exc:
            raise ModelLoadError(f"unsupported architecture: {r.where} lacks {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"unsupported architecture: {exc}") from exc
        return {"config": config, "parameters": r.get("parameters", _int)}

    def _fields(self) -> dict[str, Any]:
        return {**self.config.to_dict(), "parameters": self.parameters}

    @property
    def name(self) -> str:
        return self.config.name

    @classmethod
    def of(cls, config: NetConfig, parameters: int) -> Architecture:
        """The record of a network built from ``config``."""
        return cls(config=config, parameters=parameters)


@dataclass
class Normalisation(Record):
    """Per-channel mean and std of pixels / 255 (RGB)."""

    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    note: str | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        mean, std = r.req("mean", _numbers), r.req("std", _numbers)
        if len(mean) != 3 or len(std) != 3:
            raise ModelLoadError(f"{r.where}: mean and std must have 3 values each")
        if any(s <= 0 for s in std):
            raise ModelLoadError(f"{r.name('std')} must be positive, got {std}")
        return {"mean": mean, "std": std, "note": r.get("note", _str)}


@dataclass
class WeightsRecord(Record):
    """A weights file of the model directory and its sha256."""

    file: str = "weights.pt"
    sha256: str = ""
    bytes: int | None = None
    format: str | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "file": r.get("file", _str) or "weights.pt",
            "sha256": (r.get("sha256", _str) or "").lower(),
            "bytes": r.get("bytes", _int),
            "format": r.get("format", _str),
        }


@dataclass
class Int8Record(WeightsRecord):
    """The int8 weights (see :mod:`pathview.model.quantised`): made from the float32
    weights whose sha256 is ``source_sha256``."""

    file: str = "weights-int8.pt"
    source_sha256: str | None = None
    method: str | None = None
    engine: str | None = None
    torch: str | None = None
    #: What the activation ranges were observed on.
    calibration: Int8Sample | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        values = super()._read(r)
        if not r.has("file"):
            values["file"] = "weights-int8.pt"
        return {
            **values,
            "source_sha256": r.get("source_sha256", _str),
            "method": r.get("method", _str),
            "engine": r.get("engine", _str),
            "torch": r.get("torch", _str),
            "calibration": r.record("calibration", Int8Sample),
        }


@dataclass
class CamLayers(Record):
    """Grad-CAM layers: the default and each candidate's map side (pixels)."""

    default: str | None = None
    candidates: dict[str, int] = field(default_factory=dict)

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        candidates = r.get("candidates", _object) or {}
        for key, side in candidates.items():
            _int(side, r.name(f"candidates.{key}"))
        return {"default": r.get("default", _str), "candidates": candidates}

    def as_dict(self) -> dict[str, Any]:
        """The ``{"default": ..., "candidates": ...}`` form :mod:`pathview.explain` reads."""
        return self.to_dict()


@dataclass
class PriorShift(Record):
    """A prior shift folded into the last bias after calibration (Bayes' rule)."""

    method: str | None = None
    from_prevalence: float | None = None
    to_prevalence: float | None = None
    prevalence_source: str | None = None
    logit_offset: float | None = None
    heldout_after: Metrics | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "method": r.get("method", _str),
            "from_prevalence": r.get("from_prevalence", _number),
            "to_prevalence": r.get("to_prevalence", _number),
            "prevalence_source": r.get("prevalence_source", _str),
            "logit_offset": r.get("logit_offset", _number),
            "heldout_after": r.record("heldout_after", Metrics),
        }


@dataclass
class Calibration(Record):
    """How the output probabilities were calibrated (temperature or Platt scaling)."""

    method: str | None = None
    fitted_on: str | None = None
    scale_a: float | None = None
    offset_b: float | None = None
    before: Metrics | None = None
    after: Metrics | None = None
    prior_shift: PriorShift | None = None
    #: sha256 of the weights before ``python -m pathview.training.calibrate`` refitted them.
    recalibrated_from: str | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "method": r.get("method", _str),
            "fitted_on": r.get("fitted_on", _str),
            "scale_a": r.get("scale_a", _number),
            "offset_b": r.get("offset_b", _number),
            "before": r.record("before", Metrics),
            "after": r.record("after", Metrics),
            "prior_shift": r.record("prior_shift", PriorShift),
            "recalibrated_from": r.get("recalibrated_from", _str),
        }


@dataclass
class ParentModel(Record):
    """The model a fine-tuned model started from."""

    name: str | None = None
    sha256: str | None = None
    path: str | None = None
    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"name", "sha256"})

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "name": r.get("name", _str),
            "sha256": r.get("sha256", _str),
            "path": r.get("path", _str),
        }


@dataclass
class TrainingSummary(Record):
    """How an earlier model was trained, as a model built on it records it."""

    data: list[DataRecord] | None = None
    n_train: int | None = None
    heldout: str | None = None
    epochs: int | None = None
    minutes: float | None = None
    arguments: dict[str, Any] | None = None
    _ALWAYS: ClassVar[frozenset[str]] = frozenset(
        {"data", "n_train", "heldout", "epochs", "minutes", "arguments"}
    )

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "data": r.get("data", _records(DataRecord)),
            "n_train": r.get("n_train", _int),
            "heldout": r.get("heldout", _str),
            "epochs": r.get("epochs", _int),
            "minutes": r.get("minutes", _number),
            "arguments": r.get("arguments", _object),
        }


@dataclass
class InitialisedFrom(Record):
    """The weights training started from (``--init-from``)."""

    sha256: str | None = None
    training: TrainingSummary | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {"sha256": r.get("sha256", _str), "training": r.record("training", TrainingSummary)}


@dataclass
class TeacherModel(Record):
    """One distillation teacher: identity, how it was trained and validated."""

    path: str | None = None
    name: str | None = None
    sha256: str | None = None
    architecture: dict[str, Any] | None = None
    training: TrainingSummary | None = None
    validation: dict[str, ValidationBlock] | None = None
    _ALWAYS: ClassVar[frozenset[str]] = frozenset(
        {"path", "name", "sha256", "architecture", "training", "validation"}
    )

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "path": r.get("path", _str),
            "name": r.get("name", _str),
            "sha256": r.get("sha256", _str),
            "architecture": r.get("architecture", _object),
            "training": r.record("training", TrainingSummary),
            "validation": r.get("validation", _validation),
        }


@dataclass
class TeacherRecord(Record):
    """Distillation: the teacher models and the weight of their targets in the loss."""

    models: list[TeacherModel] = field(default_factory=list)
    distill_weight: float = 0.5
    targets: str | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        weight = r.get("distill_weight", _number)
        return {
            "models": r.get("models", _records(TeacherModel)) or [],
            "distill_weight": 0.5 if weight is None else weight,
            "targets": r.get("targets", _str),
        }


def _teacher(value: Any, where: str) -> TeacherRecord | str:
    if isinstance(value, str):  # older metadata recorded the path only
        return value
    return TeacherRecord.parse(value, where)


@dataclass
class TrainingRecord(Record):
    """What the model was trained on and how (``training`` in model.json). Keys only one
    training script writes (the retraining's review counts, say) are kept in ``extra``."""

    data: list[DataRecord] = field(default_factory=list)
    n_train: int | None = None
    n_heldout: int | None = None
    heldout: str | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    steps: int | None = None
    minutes: float | None = None
    device: str | None = None
    world_size: int | None = None
    torch: str | None = None
    seed: int | None = None
    teacher: TeacherRecord | str | None = None
    initialised_from: InitialisedFrom | None = None
    #: The command-line arguments of the run (as JSON).
    arguments: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "data": r.get("data", _records(DataRecord)) or [],
            "n_train": r.get("n_train", _int),
            "n_heldout": r.get("n_heldout", _int),
            "heldout": r.get("heldout", _str),
            "epochs": r.get("epochs", _int),
            "best_epoch": r.get("best_epoch", _int),
            "steps": r.get("steps", _int),
            "minutes": r.get("minutes", _number),
            "device": r.get("device", _str),
            "world_size": r.get("world_size", _int),
            "torch": r.get("torch", _str),
            "seed": r.get("seed", _int),
            "teacher": r.get("teacher", _teacher),
            "initialised_from": r.record("initialised_from", InitialisedFrom),
            "arguments": r.get("arguments", _object) or {},
        }

    def summary(self) -> TrainingSummary:
        """What a model built on this one records of its training."""
        return TrainingSummary(
            data=self.data,
            n_train=self.n_train,
            heldout=self.heldout,
            epochs=self.epochs,
            minutes=self.minutes,
            arguments=self.arguments or None,
        )


@dataclass
class Int8Validation(Record):
    """The int8 weights' figures on a validation set (with ``max_abs_dp`` / ``mean_abs_dp``,
    how far they move P(tumour) from float32, in each ``Metrics.extra``)."""

    sha256: str | None = None
    plain: Metrics | None = None
    tta: Metrics | None = None
    #: Where the figures were scored (``cpu``) and the input codec, as words.
    device: str | None = None
    input_codec: str | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "sha256": r.get("sha256", _str),
            "plain": r.record("plain", Metrics),
            "tta": r.record("tta", Metrics),
            "device": r.get("device", _str),
            "input_codec": r.get("input_codec", _str),
        }


@dataclass
class ValidationBlock(Record):
    """The model's figures on one data set, single view (``plain``) and with TTA."""

    #: What the data is: a record (``images``, ``labels``, ``n``, ...) or a description.
    data: DataRecord | str | None = None
    plain: Metrics | None = None
    tta: Metrics | None = None
    int8: Int8Validation | None = None
    #: The device the figures were scored on and the input codec applied, as words
    #: (``pathview.training.evaluate`` records both; older blocks have neither).
    device: str | None = None
    input_codec: str | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "data": r.get("data", _data),
            "plain": r.record("plain", Metrics),
            "tta": r.record("tta", Metrics),
            "int8": r.record("int8", Int8Validation),
            "device": r.get("device", _str),
            "input_codec": r.get("input_codec", _str),
        }

    @property
    def images(self) -> str | None:
        """The images folder of the data, when the data is a record that names one."""
        if not isinstance(self.data, DataRecord) or self.data.images is None:
            return None
        return str(self.data.images)

    def views(self) -> dict[str, Metrics]:
        """The float32 figures present: ``plain`` and/or ``tta``."""
        out = {"plain": self.plain, "tta": self.tta}
        return {k: v for k, v in out.items() if v is not None}


def _validation(value: Any, where: str) -> dict[str, ValidationBlock]:
    blocks = _object(value, where)
    return {k: ValidationBlock.parse(v, f"{where}.{k}") for k, v in blocks.items()}


@dataclass
class CodecRecord(Record):
    """The ``input_codec`` record: the lossy codec every input goes through before
    normalisation (:class:`~pathview.model.codec.InputCodec`), validated when read."""

    codec: InputCodec = field(default_factory=lambda: InputCodec(quality=75))
    note: str | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        for key in ("format", "quality", "subsampling"):
            r.used.add(key)
        try:
            codec = InputCodec.from_metadata({CODEC_KEY: dict(r.data)})
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"unsupported input codec: {exc}") from exc
        assert codec is not None
        return {"codec": codec, "note": r.get("note", _str)}

    def _fields(self) -> dict[str, Any]:
        written = self.codec.to_dict()
        return {**written, "note": self.note or written.get("note")}

    @classmethod
    def of(cls, codec: InputCodec) -> CodecRecord:
        """The record of ``codec`` (with its standard note)."""
        return cls(codec=codec, note=codec.to_dict().get("note"))


def _classes(value: Any, where: str) -> dict[str, str]:
    classes = _object(value, where)
    for key, name in classes.items():
        _str(name, f"{where}.{key}")
    return classes


def _resize_policy(value: Any, where: str) -> str:
    policy = _str(value, where)
    if policy not in RESIZE_POLICIES:
        raise ModelLoadError(f"unknown resize_policy {policy!r}")
    return policy


def _positive(value: Any, where: str) -> float:
    number = _number(value, where)
    if not (math.isfinite(number) and number > 0):
        raise ModelLoadError(f"{where} must be a positive number, got {value!r}")
    return number


def _input_size(value: Any, where: str) -> int:
    size = _int(value, where)
    if size <= 0:
        raise ModelLoadError(f"{where} must be positive, got {size}")
    return size


@dataclass
class ReviewsRecord(Record):
    """The reviews a retrained model learnt from (``pathview.training.retrain``): how many,
    by whom, under which rule; the full lists (sources, events, missing ids) stay in
    ``extra``."""

    count: int = 0
    reviewers: list[str] = field(default_factory=list)
    rule: str | None = None
    n_agree: int = 0
    n_disagree: int = 0
    n_unsure: int = 0
    n_excluded: int = 0
    n_with_truth: int = 0
    n_differs_from_truth: int = 0
    review_weight: float = 1.0
    reviewed_with_models: list[str] = field(default_factory=list)

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        def count(key: str) -> int:
            return r.get(key, _int) or 0

        weight = r.get("review_weight", _number)
        return {
            "count": count("count"),
            "reviewers": r.get("reviewers", _list) or [],
            "rule": r.get("rule", _str),
            "n_agree": count("n_agree"),
            "n_disagree": count("n_disagree"),
            "n_unsure": count("n_unsure"),
            "n_excluded": count("n_excluded"),
            "n_with_truth": count("n_with_truth"),
            "n_differs_from_truth": count("n_differs_from_truth"),
            "review_weight": 1.0 if weight is None else weight,
            "reviewed_with_models": r.get("reviewed_with_models", _list) or [],
        }


#: The three verdicts a retraining can end with (:class:`VerdictRecord`).
VERDICTS = ("better", "no measurable change", "worse")


def _verdict_result(value: Any, where: str) -> str:
    text = _str(value, where)
    if text not in VERDICTS:
        raise ModelLoadError(f"{where} must be one of {', '.join(VERDICTS)}, got {text!r}")
    return text


@dataclass
class VerdictRecord(Record):
    """How a retrained model compares with its parent on the fixed validation set: a paired
    bootstrap of the difference in one metric (``metric``, e.g. ``auc_tta``), its 95% interval
    and the verdict it gives (``better`` when the interval lies above zero, ``worse`` when it
    lies below, ``no measurable change`` otherwise)."""

    result: str = "no measurable change"
    metric: str = "auc"
    parent: float | None = None
    new: float | None = None
    delta: float | None = None
    ci95: list[float] = field(default_factory=list)
    n: int | None = None
    resamples: int | None = None
    validation: str | None = None

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        return {
            "result": r.req("result", _verdict_result),
            "metric": r.get("metric", _str) or "auc",
            "parent": r.get("parent", _number),
            "new": r.get("new", _number),
            "delta": r.get("delta", _number),
            "ci95": r.get("ci95", _list) or [],
            "n": r.get("n", _int),
            "resamples": r.get("resamples", _int),
            "validation": r.get("validation", _str),
        }

    @property
    def improved(self) -> bool:
        """True only for a measured improvement."""
        return self.result == "better"


@dataclass
class ModelMetadata(Record):
    """The whole of model.json; see the module docstring for the records it holds."""

    # In the order training writes them.
    format_version: int | None = FORMAT_VERSION
    name: str | None = None
    created: str | None = None
    architecture: Architecture = field(default_factory=Architecture)
    input_size: int = 96
    #: The training patches' scale in microns per pixel (PatchCamelyon's: 0.972), what slide
    #: tiles are cut at; None when not recorded (``pathview.slide`` then uses PCam's).
    microns_per_pixel: float | None = None
    resize_policy: str = "centre_crop"
    resize_policy_note: str | None = None
    normalisation: Normalisation = field(default_factory=Normalisation)
    classes: dict[str, str] = field(default_factory=lambda: {"0": "normal", "1": "tumour"})
    output: str | None = None
    temperature: float = 1.0
    calibration: Calibration | None = None
    cam_layers: CamLayers = field(default_factory=CamLayers)
    parent_model: ParentModel | None = None
    training: TrainingRecord | None = None
    validation: dict[str, ValidationBlock] | None = None
    input_codec: CodecRecord | None = None
    #: The reviews a retrained model learnt from (``pathview.training.retrain``).
    reviews: ReviewsRecord | None = None
    #: How a retrained model compares with its parent (``pathview.training.retrain``).
    verdict: VerdictRecord | None = None
    weights: WeightsRecord = field(default_factory=WeightsRecord)
    int8: Int8Record | None = None

    _KEYS: ClassVar[dict[str, str]] = {"input_codec": CODEC_KEY}

    @classmethod
    def _read(cls, r: _Reader) -> dict[str, Any]:
        missing = [k for k in REQUIRED_KEYS if not r.has(k)]
        if missing:
            raise ModelLoadError(f"model metadata lacks {', '.join(missing)}")
        return {
            "architecture": r.record("architecture", Architecture, required=True),
            "input_size": r.req("input_size", _input_size),
            "resize_policy": r.req("resize_policy", _resize_policy),
            "normalisation": r.record("normalisation", Normalisation, required=True),
            "classes": r.req("classes", _classes),
            "temperature": r.req("temperature", _positive),
            "cam_layers": r.record("cam_layers", CamLayers, required=True),
            "weights": r.record("weights", WeightsRecord, required=True),
            "format_version": r.get("format_version", _int),
            "name": r.get("name", _str),
            "created": r.get("created", _str),
            "resize_policy_note": r.get("resize_policy_note", _str),
            "microns_per_pixel": r.get("microns_per_pixel", _positive),
            "output": r.get("output", _str),
            "calibration": r.record("calibration", Calibration),
            "parent_model": r.record("parent_model", ParentModel),
            "training": r.record("training", TrainingRecord),
            "validation": r.get("validation", _validation),
            "input_codec": r.record(CODEC_KEY, CodecRecord),
            "int8": r.record("int8", Int8Record),
            "reviews": r.record("reviews", ReviewsRecord),
            "verdict": r.record("verdict", VerdictRecord),
        }

    _ALWAYS: ClassVar[frozenset[str]] = frozenset({"parent_model"})

    @property
    def codec(self) -> InputCodec | None:
        """The input codec (None: patches go in as they are)."""
        return self.input_codec.codec if self.input_codec is not None else None

    @property
    def model_id(self) -> str:
        """The weights' sha256: the model's identity."""
        return self.weights.sha256

    def block(self, key: str) -> ValidationBlock | None:
        """A validation block by name (``heldout``, ``external``, ``retraining``), if any."""
        return (self.validation or {}).get(key)

    def set_validation(self, key: str, block: ValidationBlock | Mapping[str, Any]) -> None:
        """Set (or replace) one validation block, in place."""
        if not isinstance(block, ValidationBlock):
            block = ValidationBlock.parse(block, f"validation.{key}")
        if self.validation is None:
            self.validation = {}
        self.validation[key] = block

    def validation_dict(self) -> dict[str, Any]:
        """The validation blocks as JSON (for logs and printing)."""
        return {k: v.to_dict() for k, v in (self.validation or {}).items()}

    def copy(self) -> ModelMetadata:
        """An independent copy (records and all)."""
        return ModelMetadata.parse(self.to_dict())
