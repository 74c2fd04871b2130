"""The model manifest and the checks made when a model is loaded: each failure names what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from drivers.detectors import ModelError, load_detector, load_manifest
from drivers.detectors.manifest import DEFAULT_MANIFEST, sha256_of
from tests.conftest import shared_file

pytestmark = pytest.mark.vision


def _manifest_with(tmp_path: Path, name: str, **changes: object) -> Path:
    data = yaml.safe_load(DEFAULT_MANIFEST.read_text())
    entry = next(m for m in data["models"] if m["name"] == name)
    entry.update(changes)
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_project_manifest_matches_the_shared_models(model_dir: Path) -> None:
    manifest = load_manifest()
    assert {m.name for m in manifest.models} >= {"yolox_nano", "nanodet_m", "fastestdet"}
    coco = shared_file(model_dir, "yolox_nano/coco_classes.txt")  # FastestDet's folder has no list: same COCO-80
    for spec in manifest.models:
        listed = model_dir / Path(spec.file).parent / "coco_classes.txt"
        classes = (listed if listed.exists() else coco).read_text().split("\n")
        assert spec.classes == [c for c in classes if c], spec.name
        assert {spec.classes[i] for i in spec.ebike_class_ids} == {"bicycle", "motorbike"}
        assert sha256_of(model_dir / spec.file) == spec.sha256


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model 'yolox_nano': file .*nowhere/yolox_nano/yolox_nano.onnx not found"):
        load_detector("yolox_nano", model_dir=tmp_path / "nowhere")


def test_corrupt_model_file_fails_the_sha256_check(tmp_path: Path, model_dir: Path) -> None:
    original = (model_dir / "yolox_nano" / "yolox_nano.onnx").read_bytes()
    broken = bytearray(original)
    broken[len(broken) // 2] ^= 0xFF
    (tmp_path / "yolox_nano").mkdir()
    target = tmp_path / "yolox_nano" / "yolox_nano.onnx"
    target.write_bytes(bytes(broken))
    with pytest.raises(ModelError, match=r"yolox_nano.onnx has sha256 [0-9a-f]{64}, the manifest says 695e750a"):
        load_detector("yolox_nano", model_dir=tmp_path)


def test_truncated_file_with_matching_sha_is_refused_by_the_backend(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "m").mkdir()
    target = tmp_path / "m" / "half.onnx"
    target.write_bytes((model_dir / "yolox_nano" / "yolox_nano.onnx").read_bytes()[:100_000])
    manifest = _manifest_with(tmp_path, "yolox_nano", file="m/half.onnx", sha256=sha256_of(target))
    with pytest.raises(ModelError, match=r"model 'yolox_nano': OpenCV cannot read .*half.onnx"):
        load_detector("yolox_nano", manifest=manifest, model_dir=tmp_path)


def test_class_list_not_matching_the_outputs(tmp_path: Path, model_dir: Path) -> None:
    manifest = _manifest_with(tmp_path, "yolox_nano", classes=["person", "bicycle", "car", "motorbike"])
    with pytest.raises(
        ModelError,
        match=r"output 'output' has shape \(1, 3549, 85\), but the manifest implies "
        r"\(1, 3549, 9\).*4 classes",
    ):
        load_detector("yolox_nano", manifest=manifest, model_dir=model_dir)


def test_input_size_not_matching_the_outputs(tmp_path: Path, model_dir: Path) -> None:
    manifest = _manifest_with(tmp_path, "nanodet_m", input={"name": "input.1", "width": 416, "height": 416})
    with pytest.raises(ModelError, match=r"model 'nanodet_m': .* on a 416x416 input \(is that the size it takes\?\)"):
        load_detector("nanodet_m", manifest=manifest, model_dir=model_dir)


def test_unknown_input_name(tmp_path: Path, model_dir: Path) -> None:
    manifest = _manifest_with(tmp_path, "yolox_nano", input={"name": "pixels", "width": 416, "height": 416})
    with pytest.raises(ModelError, match=r"model 'yolox_nano': the network has no input 'pixels'"):
        load_detector("yolox_nano", manifest=manifest, model_dir=model_dir)


def test_wrong_layout_family_names_the_missing_outputs(tmp_path: Path, model_dir: Path) -> None:
    manifest = _manifest_with(tmp_path, "yolox_nano", layout={"family": "nanodet"})
    expected = r"model 'yolox_nano': the network has no outputs \['cls_pred_stride_8'.*its outputs are \['output'\]"
    with pytest.raises(ModelError, match=expected):
        load_detector("yolox_nano", manifest=manifest, model_dir=model_dir)


def test_unknown_model_lists_the_known_ones() -> None:
    known = r"\['yolox_nano', 'nanodet_m', 'fastestdet'"
    with pytest.raises(ModelError, match=r"unknown model 'yolo_huge'; the manifest has " + known):
        load_detector("yolo_huge")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ebike_classes": ["e-scooter"]}, r"ebike_classes \['e-scooter'\] are not among the model's classes"),
        ({"sha256": "abc"}, r"models\.0\.sha256: String should match pattern"),
        ({"layout": {"family": "ssd"}}, r"models\.0\.layout: Input tag 'ssd' found using 'family' does not match"),
        ({"colour": "bgr"}, r"models\.0\.colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_manifest_entries(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        load_manifest(_manifest_with(tmp_path, "yolox_nano", **changes))


def test_manifest_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model manifest .*absent.yaml: No such file"):
        load_manifest(tmp_path / "absent.yaml")


def test_backend_choice(model_dir: Path) -> None:
    from drivers.detectors import onnxruntime_backend

    auto = load_detector("nanodet_m", model_dir=model_dir, backend="auto")
    if onnxruntime_backend.available():
        assert auto.backend.name == "onnxruntime"
        ort = load_detector("yolox_nano", model_dir=model_dir, backend="onnxruntime")
        cv = load_detector("yolox_nano", model_dir=model_dir, backend="opencv")
        blank = np.zeros((1, 3, 416, 416), np.float32)
        np.testing.assert_allclose(ort.backend.infer(blank)["output"], cv.backend.infer(blank)["output"], atol=1e-3)
    else:
        assert auto.backend.name == "opencv"
        with pytest.raises(
            ModelError, match="model 'yolox_nano': backend 'onnxruntime' is configured but onnxruntime is not installed"
        ):
            load_detector("yolox_nano", model_dir=model_dir, backend="onnxruntime")
