"""The face-model manifest (models/faces.yaml): which detectors, embeddings and liveness models a gate can use.

The lift's detectors have the same arrangement (models/manifest.yaml, drivers/detectors/manifest.py): model
files are not shipped, they are looked up under the model folder and their sha256 is checked before use. A
gate names a detector and an embedding; everything a model needs to be fed and compared (input size,
preprocessing, metric, default threshold and margin) comes from here, so changing a model is configuration.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import Field, ValidationError, model_validator

from drivers.detectors.manifest import PROJECT_ROOT, default_model_dir, sha256_of
from edge.core.configbase import Strict

FACE_MANIFEST = PROJECT_ROOT / "models" / "faces.yaml"
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class FaceModelError(ValueError):
    """A face model that is unknown, missing, corrupt or unreadable; the message says which and why."""


class _FileModel(Strict):
    name: str = Field(pattern=NAME, description="name used in the gate config")
    file: str | None = Field(default=None, description="path of the model file under the model folder")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="sha256 of the file")
    source: str = Field(min_length=1, description="where the model comes from (repository @ commit)")
    licence: str = Field(min_length=1, description="licence of the model")

    @model_validator(mode="after")
    def _file_has_checksum(self) -> _FileModel:
        if (self.file is None) != (self.sha256 is None):
            raise ValueError(f"model {self.name!r}: give both file and sha256, or neither")
        return self

    def path(self, model_dir: Path | None = None) -> Path:
        """The model's file, after checking it exists and its sha256 matches the manifest."""
        if self.file is None:
            raise FaceModelError(f"model {self.name!r} has no file")
        folder = Path(model_dir) if model_dir is not None else default_model_dir()
        return _checked(self.name, (folder / self.file).resolve(), self.sha256 or "", self.source)


@lru_cache(maxsize=32)
def _checked_cached(name: str, path: Path, sha256: str, source: str, mtime: float, size: int) -> Path:
    actual = sha256_of(path)
    if actual != sha256:
        raise FaceModelError(
            f"model {name!r}: file {path} has sha256 {actual}, the manifest says {sha256}: "
            "the file is corrupt or a different model"
        )
    return path


def _checked(name: str, path: Path, sha256: str, source: str) -> Path:
    try:
        stat = path.stat()
    except OSError:
        raise FaceModelError(
            f"model {name!r}: file {path} not found (get it from {source}; the model folder is "
            "$EDGE_MODEL_DIR, else $EDGE_SHARED/models)"
        ) from None
    return _checked_cached(name, path, sha256, source, stat.st_mtime, stat.st_size)


class InputSize(Strict):
    width: int = Field(ge=16, le=1024, description="input width in pixels")
    height: int = Field(ge=16, le=1024, description="input height in pixels")


class EmbeddingPreprocess(Strict):
    channels: Literal["rgb", "bgr"] = Field(description="channel order the network expects")
    scale: float = Field(gt=0, le=1, description="pixel values are multiplied by this first (1/255: 0-1)")
    mean: tuple[float, float, float] = Field(description="subtracted per channel after scaling")
    std: tuple[float, float, float] = Field(description="divisor per channel after the mean")


class DetectorSpec(_FileModel):
    kind: Literal["yunet", "hog"] = Field(description="yunet: cv2.FaceDetectorYN; hog: dlib through face_recognition")
    score_threshold: float = Field(default=0.7, gt=0, lt=1, description="minimum face score (yunet)")
    nms_threshold: float = Field(default=0.3, gt=0, lt=1, description="overlap above which boxes merge (yunet)")

    @model_validator(mode="after")
    def _yunet_has_file(self) -> DetectorSpec:
        if self.kind == "yunet" and self.file is None:
            raise ValueError(f"detector {self.name!r}: a yunet detector needs its ONNX file")
        return self


class EmbeddingSpec(_FileModel):
    kind: Literal["onnx_aligned", "dlib"] = Field(
        description="onnx_aligned: a network fed the face aligned on the 5 landmarks; dlib: face_recognition"
    )
    dim: int = Field(ge=16, le=2048, description="length of the embedding")
    input: InputSize | None = Field(default=None, description="network input (onnx_aligned)")
    preprocess: EmbeddingPreprocess | None = Field(default=None, description="pixel preprocessing (onnx_aligned)")
    metric: Literal["cosine", "euclidean"] = Field(
        description="cosine: distance is 1 - cosine of the L2-normalised embeddings; euclidean: plain L2"
    )
    threshold: float = Field(gt=0, le=2, description="default largest distance that counts as the same person")
    margin: float = Field(ge=0, le=1, description="default distance by which the best resident must beat the next")

    @model_validator(mode="after")
    def _onnx_is_described(self) -> EmbeddingSpec:
        if self.kind == "onnx_aligned" and (self.file is None or self.input is None or self.preprocess is None):
            raise ValueError(f"embedding {self.name!r}: an onnx_aligned model needs file, input and preprocess")
        return self


class LivenessSpec(_FileModel):
    kind: Literal["minifasnet"] = Field(description="MiniFASNet (Silent-Face-Anti-Spoofing)")
    input: InputSize = Field(description="network input")
    crop_scale: float = Field(ge=1, le=5, description="the face box is scaled this much about its centre")
    live_index: int = Field(ge=0, le=9, description="index of 'live' in the softmax output")


class FaceManifest(Strict):
    detectors: list[DetectorSpec] = Field(min_length=1, description="face detectors")
    embeddings: list[EmbeddingSpec] = Field(min_length=1, description="face embeddings")
    liveness: list[LivenessSpec] = Field(min_length=1, description="passive liveness models")

    @model_validator(mode="after")
    def _unique(self) -> FaceManifest:
        names = [m.name for m in (*self.detectors, *self.embeddings, *self.liveness)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"model names used twice: {dup}")
        return self

    def detector(self, name: str) -> DetectorSpec:
        return _find(self.detectors, name, "detector")

    def embedding(self, name: str) -> EmbeddingSpec:
        return _find(self.embeddings, name, "embedding")

    def liveness_model(self, name: str | None = None) -> LivenessSpec:
        return self.liveness[0] if name is None else _find(self.liveness, name, "liveness model")


Spec = TypeVar("Spec", bound=_FileModel)


def _find(specs: list[Spec], name: str, what: str) -> Spec:
    for spec in specs:
        if spec.name == name:
            return spec
    raise FaceModelError(f"unknown {what} {name!r}; models/faces.yaml has {[s.name for s in specs]}")


@lru_cache(maxsize=4)
def load_face_manifest(path: Path = FACE_MANIFEST) -> FaceManifest:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise FaceModelError(f"face model manifest {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise FaceModelError(f"face model manifest {path}: not valid YAML: {exc}") from exc
    try:
        return FaceManifest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise FaceModelError(f"face model manifest {path}: {problems}") from exc
