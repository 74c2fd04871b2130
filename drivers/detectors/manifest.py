"""The model manifest (models/manifest.yaml): which detectors exist and how to feed and read them.

Model files are not shipped with the project; they are looked up by ``file`` under a configured model
folder and checked against ``sha256`` before use. Adding a detector (say one trained on lift footage)
is one more entry here, not code, as long as its outputs follow a known layout family
(yolox, nanodet, yolov5, yolov8, picodet, fastestdet).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from drivers.detectors.fastestdet import FastestdetLayout
from drivers.detectors.nanodet import NanodetLayout
from drivers.detectors.picodet import PicodetLayout
from drivers.detectors.types import ModelError
from drivers.detectors.yolov5 import Yolov5Layout
from drivers.detectors.yolov8 import Yolov8Layout
from drivers.detectors.yolox import YoloxLayout
from edge.core.configbase import Strict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MANIFEST = PROJECT_ROOT / "models" / "manifest.yaml"

Layout = Annotated[
    YoloxLayout | NanodetLayout | Yolov5Layout | Yolov8Layout | PicodetLayout | FastestdetLayout,
    Field(discriminator="family"),
]


class InputSpec(Strict):
    name: str | None = Field(default=None, description="input tensor name; None for the network's only input")
    width: int = Field(ge=32, le=4096, description="input width in pixels")
    height: int = Field(ge=32, le=4096, description="input height in pixels")


class Preprocess(Strict):
    channels: Literal["bgr", "rgb"] = Field(default="bgr", description="channel order the network expects")
    mean: tuple[float, float, float] = Field(
        default=(0.0, 0.0, 0.0), description="subtracted per channel, in the network's channel order, 0-255 scale"
    )
    std: tuple[float, float, float] = Field(
        default=(1.0, 1.0, 1.0), description="divisor per channel, in the network's channel order"
    )
    pad: Literal["bottom_right", "centre", "stretch"] = Field(
        description="letterbox: image resized keeping aspect, padded at right/bottom or on both sides; "
        "stretch: resized to the input size without keeping the aspect, no padding"
    )
    pad_value: float = Field(default=0.0, ge=0, le=255, description="grey level of the padding, before mean/std")

    @model_validator(mode="after")
    def _std_positive(self) -> Preprocess:
        if any(s <= 0 for s in self.std):
            raise ValueError("std values must be positive")
        return self


class ModelSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="name used in the lift config")
    file: str = Field(min_length=1, description="path of the ONNX file under the model folder")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the file, checked at load")
    input: InputSpec
    preprocess: Preprocess
    layout: Layout = Field(description="output layout family and its tensor names")
    classes: list[str] = Field(min_length=1, description="class names, in the network's class order")
    ebike_classes: list[str] = Field(min_length=1, description="classes that count as an e-bike sighting")
    source: str = Field(min_length=1, description="where the file comes from (repository @ commit)")
    licence: str = Field(min_length=1, description="licence of the model file")

    @model_validator(mode="after")
    def _classes_known(self) -> ModelSpec:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("class names must be unique")
        unknown = [c for c in self.ebike_classes if c not in self.classes]
        if unknown:
            raise ValueError(f"ebike_classes {unknown} are not among the model's classes")
        return self

    @property
    def ebike_class_ids(self) -> frozenset[int]:
        return frozenset(self.classes.index(c) for c in self.ebike_classes)

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return self.layout.expected_shapes(self.input.width, self.input.height, len(self.classes))


class Manifest(Strict):
    models: list[ModelSpec] = Field(min_length=1, description="available detectors")

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        names = [m.name for m in self.models]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"model names used twice: {dup}")
        return self

    def get(self, name: str) -> ModelSpec:
        for spec in self.models:
            if spec.name == name:
                return spec
        raise ModelError(f"unknown model {name!r}; the manifest has {[m.name for m in self.models]}")


def load_manifest(path: Path | None = None) -> Manifest:
    path = Path(path) if path is not None else DEFAULT_MANIFEST
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ModelError(f"model manifest {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ModelError(f"model manifest {path}: not valid YAML: {exc}") from exc
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ModelError(f"model manifest {path}: {problems}") from exc


def default_model_dir() -> Path:
    """$EDGE_MODEL_DIR, else $EDGE_SHARED/models (the shared test models)."""
    if os.environ.get("EDGE_MODEL_DIR"):
        return Path(os.environ["EDGE_MODEL_DIR"])
    shared = os.environ.get("EDGE_SHARED")
    if shared:
        return Path(shared) / "models"
    return PROJECT_ROOT.parent / "shared" / "models"


_verified: dict[Path, tuple[float, int, str]] = {}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_file(spec: ModelSpec, model_dir: Path | None = None) -> Path:
    """The model's file under ``model_dir``, after checking that it exists and its sha256 matches."""
    folder = Path(model_dir) if model_dir is not None else default_model_dir()
    path = (folder / spec.file).resolve()
    try:
        stat = path.stat()
    except OSError:
        raise ModelError(
            f"model {spec.name!r}: file {path} not found (model folder {folder}; get it from {spec.source})"
        ) from None
    cached = _verified.get(path)
    if cached and cached[:2] == (stat.st_mtime, stat.st_size) and cached[2] == spec.sha256:
        return path
    actual = sha256_of(path)
    if actual != spec.sha256:
        raise ModelError(
            f"model {spec.name!r}: file {path} has sha256 {actual}, the manifest says {spec.sha256}: "
            "the file is corrupt or a different model"
        )
    _verified[path] = (stat.st_mtime, stat.st_size, actual)
    return path
