"""Every output layout family on a tiny ONNX network built here: one object encoded in the family's own
terms comes out as the right class, score and box in the pixels of the picture given (letterboxed or
stretched into the input), through the same loading path a real model takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drivers.detectors import Detector, ModelError, load_detector
from tests.lift.onnx_graphs import constant_network, logit, manifest_for

pytestmark = pytest.mark.vision

CLASSES = ["person", "ebike", "pram"]
SIZE = (64, 64)
LOW = -20.0  # a logit that scores nothing
# the picture is twice as wide as tall: letterboxed into 64x64 at scale 0.5 (64x32, padded below),
# stretched at 0.5 across and 1 down
PICTURE = np.full((64, 128, 3), 90, np.uint8)


def _load(
    tmp_path: Path,
    outputs: dict[str, np.ndarray],
    layout: dict[str, Any],
    *,
    pad: str = "bottom_right",
    extra_inputs: dict[str, tuple[int, ...]] | None = None,
    **kw: Any,
) -> Detector:
    network = constant_network(tmp_path / "net" / "tiny.onnx", outputs, size=SIZE, extra_inputs=extra_inputs)
    manifest = manifest_for(tmp_path, network, name="tiny", size=SIZE, layout=layout, classes=CLASSES, pad=pad)
    return load_detector("tiny", manifest=manifest, model_dir=tmp_path, **kw)


def _only(detector: Detector, picture: np.ndarray = PICTURE) -> tuple[str, float, tuple[float, ...]]:
    found = detector.detect(picture, score_threshold=0.3)
    assert len(found) == 1, found
    return found[0].label, found[0].score, found[0].box


def test_yolov5_decoded_output(tmp_path: Path) -> None:
    rows = np.zeros((1, 3 * (64 + 16 + 4), 5 + 3), np.float32)
    rows[0, 100] = [32, 16, 20, 10, 0.9, 0.1, 0.8, 0.1]  # centre (32, 16), 20 x 10 input pixels
    rows[0, 101] = [32, 16, 20, 10, 0.2, 0.1, 0.9, 0.1]  # objectness 0.2 x 0.9 = 0.18: under the threshold
    label, score, box = _only(_load(tmp_path, {"output0": rows}, {"family": "yolov5"}))
    assert label == "ebike" and score == pytest.approx(0.72, abs=1e-4)
    np.testing.assert_allclose(box, [44, 22, 84, 42], atol=1e-3)  # (input - pad) / 0.5


def test_yolov5_raw_heads_with_anchors(tmp_path: Path) -> None:
    anchors = [[4, 4, 8, 8], [16, 8, 24, 24], [40, 40, 60, 60]]
    outputs = {f"head{s}": np.full((1, 2, 64 // s, 64 // s, 8), LOW, np.float32) for s in (8, 16, 32)}
    cell = outputs["head16"][0, 1, 1, 2]  # anchor 1 (24 x 24) at stride 16, grid x 2, y 1
    cell[:5] = [logit(0.5), logit(0.25), logit(0.5), logit(0.25), logit(0.9)]
    cell[5:] = [LOW, logit(0.8), LOW]
    layout = {"family": "yolov5", "outputs": ["head8", "head16", "head32"], "anchors": anchors}
    label, score, box = _only(_load(tmp_path, outputs, layout))
    # x = (2 x 0.5 - 0.5 + 2) x 16 = 40, y = (0.5 - 0.5 + 1) x 16 = 16, w = (2 x 0.5)^2 x 24, h = 0.5^2 x 24
    assert label == "ebike" and score == pytest.approx(0.72, abs=1e-3)
    np.testing.assert_allclose(box, [(40 - 12) * 2, (16 - 3) * 2, (40 + 12) * 2, (16 + 3) * 2], atol=1e-2)


@pytest.mark.parametrize("transposed", [True, False])
def test_yolov8_anchor_free_output(tmp_path: Path, transposed: bool) -> None:
    rows = np.zeros((84, 4 + 3), np.float32)
    rows[70] = [32, 16, 20, 10, 0.05, 0.1, 0.85]  # a pram, no objectness column
    raw = rows.T[np.newaxis] if transposed else rows[np.newaxis]
    label, score, box = _only(_load(tmp_path, {"output0": raw}, {"family": "yolov8", "transposed": transposed}))
    assert label == "pram" and score == pytest.approx(0.85)
    np.testing.assert_allclose(box, [44, 22, 84, 42], atol=1e-3)


def test_yolov8_transposed_output_read_the_wrong_way_is_refused(tmp_path: Path) -> None:
    raw = np.zeros((1, 7, 84), np.float32)
    with pytest.raises(
        ModelError,
        match=r"output 'output0' has shape \(1, 7, 84\), but the manifest implies "
        r"\(1, 84, 7\) \(yolov8 layout",
    ):
        _load(tmp_path, {"output0": raw}, {"family": "yolov8", "transposed": False})


def test_picodet_without_post_processing(tmp_path: Path) -> None:
    strides, bins = (8, 16, 32, 64), 8
    outputs: dict[str, np.ndarray] = {}
    for s in strides:
        n = (-(-64 // s)) ** 2
        outputs[f"cls{s}"] = np.zeros((1, n, 3), np.float32)
        outputs[f"box{s}"] = np.full((1, n, 4 * bins), LOW, np.float32)
    cell = 1 * 4 + 2  # stride 16: x 2, y 1, centre (40, 24)
    outputs["cls16"][0, cell] = [0.1, 0.9, 0.0]
    outputs["box16"][0, cell] = np.concatenate([np.eye(bins)[k] * 50 for k in (1, 1, 1, 0)])  # 16, 16, 16, 0 px
    layout = {
        "family": "picodet",
        "post_process": "none",
        "cls_outputs": [f"cls{s}" for s in strides],
        "box_outputs": [f"box{s}" for s in strides],
    }
    label, score, box = _only(_load(tmp_path, outputs, layout, pad="stretch"))
    assert label == "ebike" and score == pytest.approx(0.9)
    np.testing.assert_allclose(box, [(40 - 16) * 2, 24 - 16, (40 + 16) * 2, 24], atol=1e-2)


def test_picodet_decoded_before_nms(tmp_path: Path) -> None:
    n = 64 + 16 + 4 + 1
    boxes = np.zeros((1, n, 4), np.float32)
    scores = np.zeros((1, 3, n), np.float32)
    boxes[0, 10] = [10, 20, 30, 60]
    scores[0, :, 10] = [0.7, 0.2, 0.0]
    layout = {"family": "picodet", "post_process": "decoded", "boxes_output": "boxes", "scores_output": "scores"}
    label, score, box = _only(_load(tmp_path, {"boxes": boxes, "scores": scores}, layout, pad="stretch"))
    assert label == "person" and score == pytest.approx(0.7)
    np.testing.assert_allclose(box, [20, 20, 60, 60], atol=1e-3)


def test_picodet_with_its_own_nms_and_scale_factor_input(tmp_path: Path) -> None:
    rows = np.array([[1, 0.93, 8, 4, 40, 36], [2, 0.1, 0, 0, 5, 5], [-1, 0, 0, 0, 0, 0]], np.float32)
    layout = {"family": "picodet", "post_process": "nms", "output": "multiclass_nms3_0.tmp_0"}
    detector = _load(
        tmp_path, {"multiclass_nms3_0.tmp_0": rows}, layout, pad="stretch", extra_inputs={"scale_factor": (1, 2)}
    )
    label, score, box = _only(detector)
    assert label == "ebike" and score == pytest.approx(0.93)
    np.testing.assert_allclose(box, [16, 4, 80, 36], atol=1e-3)


def test_picodet_nms_without_the_scale_factor_input_is_named(tmp_path: Path) -> None:
    rows = np.zeros((1, 6), np.float32)
    layout = {"family": "picodet", "post_process": "nms", "output": "out", "scale_factor_input": "scale"}
    with pytest.raises(ModelError, match=r"model 'tiny': the network has no input 'scale'"):
        _load(tmp_path, {"out": rows}, layout, pad="stretch")


def test_fastestdet_grid(tmp_path: Path) -> None:
    feat = np.zeros((1, 5 + 3, 4, 4), np.float32)
    feat[0, :, 1, 2] = [0.8, np.arctanh(0.5), np.arctanh(0.5), logit(0.25), logit(0.5), 0.1, 0.8, 0.1]
    feat[0, :, 3, 3] = [0.05, 0, 0, 0, 0, 0.0, 1.0, 0.0]  # 0.05^0.6 = 0.17: nothing
    layout = {"family": "fastestdet", "output": "758", "stride": 16}
    label, score, box = _only(_load(tmp_path, {"758": feat}, layout, pad="stretch"))
    # centre ((2 + 0.5) / 4 x 64, (1 + 0.5) / 4 x 64) = (40, 24), size (16, 32); picture 2x wider
    assert label == "ebike" and score == pytest.approx(0.8, abs=1e-4)
    np.testing.assert_allclose(box, [64, 8, 96, 40], atol=1e-2)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({"family": "yolov5", "anchors": [[10, 13, 16]]}, "1 anchor rows for 3 strides"),
        ({"family": "yolov5", "outputs": ["a", "b"]}, "2 raw outputs for 3 strides"),
        ({"family": "picodet", "post_process": "none", "cls_outputs": ["a"]}, "one cls_outputs name per stride"),
        ({"family": "picodet", "post_process": "nms"}, "post_process nms needs output"),
        ({"family": "fastestdet"}, r"layout\.fastestdet\.output: Field required"),
    ],
)
def test_layout_entries_that_cannot_work_are_refused(tmp_path: Path, layout: dict, message: str) -> None:
    network = constant_network(tmp_path / "net" / "tiny.onnx", {"x": np.zeros((1, 2))}, size=SIZE)
    manifest = manifest_for(tmp_path, network, name="tiny", size=SIZE, layout=layout, classes=CLASSES)
    with pytest.raises(ModelError, match=message):
        load_detector("tiny", manifest=manifest, model_dir=tmp_path)


def test_yolox_grid_output(tmp_path: Path) -> None:
    rows = np.zeros((1, 64 + 16 + 4, 5 + 3), np.float32)
    rows[0, 64 + 1 * 4 + 2] = [0.5, 0.0, np.log(1.25), np.log(0.625), 0.9, 0.1, 0.8, 0.1]  # stride 16, x 2, y 1
    label, score, box = _only(_load(tmp_path, {"output": rows}, {"family": "yolox"}))
    # centre ((2 + 0.5) x 16, (1 + 0) x 16) = (40, 16), size 20 x 10
    assert label == "ebike" and score == pytest.approx(0.72, abs=1e-4)
    np.testing.assert_allclose(box, [60, 22, 100, 42], atol=1e-2)


def test_nanodet_distance_bins(tmp_path: Path) -> None:
    outputs: dict[str, np.ndarray] = {}
    for s in (8, 16, 32):
        n = (64 // s) ** 2
        outputs[f"cls_pred_stride_{s}"] = np.zeros((1, n, 3), np.float32)
        outputs[f"dis_pred_stride_{s}"] = np.full((1, n, 32), LOW, np.float32)
    cell = 1 * 4 + 2  # stride 16: x 2, y 1, centre (40, 24)
    outputs["cls_pred_stride_16"][0, cell] = [0.0, 0.0, 0.66]
    outputs["dis_pred_stride_16"][0, cell] = np.concatenate([np.eye(8)[k] * 50 for k in (1, 0, 1, 1)])  # 16 0 16 16
    label, score, box = _only(_load(tmp_path, outputs, {"family": "nanodet"}, pad="centre"))
    # centred padding: the 128 x 64 picture sits at y 16..48 of the input, scale 0.5
    assert label == "pram" and score == pytest.approx(0.66)
    np.testing.assert_allclose(box, [(40 - 16) * 2, (24 - 16) * 2, (40 + 16) * 2, (24 + 16 - 16) * 2], atol=1e-2)
