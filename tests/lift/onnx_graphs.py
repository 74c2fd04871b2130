"""Tiny ONNX networks made by the tests (the ``onnx`` package): fixed outputs of a chosen layout, so each
decoder family can be run through the real path (manifest, sha256, backend, output check, decoder,
letterbox mapping, NMS) without downloading any weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

from drivers.detectors.manifest import sha256_of


def constant_network(
    path: Path,
    outputs: dict[str, np.ndarray],
    *,
    size: tuple[int, int],
    input_name: str = "images",
    extra_inputs: dict[str, tuple[int, ...]] | None = None,
) -> Path:
    """An ONNX file whose outputs are ``outputs`` whatever the image: each is the constant plus zero times
    the mean of every input (so the inputs are used and their shapes checked)."""
    width, height = size
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, height, width])]
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in (extra_inputs or {}).items()]
    nodes: list[Any] = []
    initializers = [numpy_helper.from_array(np.zeros(1, np.float32), "zero")]
    means = []
    for i, value in enumerate(inputs):
        nodes.append(helper.make_node("ReduceMean", [value.name], [f"mean{i}"], keepdims=0))
        means.append(f"mean{i}")
    nodes.append(helper.make_node("Sum", means, ["means"]))
    nodes.append(helper.make_node("Mul", ["means", "zero"], ["nothing"]))
    graph_outputs = []
    for name, value in outputs.items():
        value = np.asarray(value, np.float32)
        initializers.append(numpy_helper.from_array(value, f"{name}_value"))
        initializers.append(numpy_helper.from_array(np.ones(value.ndim, np.int64), f"{name}_ones"))
        nodes.append(helper.make_node("Reshape", ["nothing", f"{name}_ones"], [f"{name}_zero"]))
        nodes.append(helper.make_node("Add", [f"{name}_value", f"{name}_zero"], [name]))
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(nodes, "constant", inputs, graph_outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def manifest_for(
    folder: Path,
    network: Path,
    *,
    name: str,
    size: tuple[int, int],
    layout: dict[str, Any],
    classes: list[str],
    pad: str = "bottom_right",
    input_name: str = "images",
) -> Path:
    """A manifest with one entry for ``network`` (its sha256 computed); the file is given under ``folder``."""
    entry = {
        "name": name,
        "file": str(network.relative_to(folder)),
        "sha256": sha256_of(network),
        "input": {"name": input_name, "width": size[0], "height": size[1]},
        "preprocess": {"channels": "bgr", "pad": pad, "pad_value": 114},
        "layout": layout,
        "classes": classes,
        "ebike_classes": [classes[1]],
        "source": "made by the test",
        "licence": "none",
    }
    path = folder / f"{name}.manifest.yaml"
    path.write_text(yaml.safe_dump({"models": [entry]}))
    return path


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def brightness_network(path: Path, rows: np.ndarray, cell: int, column: int, *, size: tuple[int, int]) -> Path:
    """A YOLOv8-layout network with a dynamic batch: every image gets ``rows`` (1 x K x N), except that
    ``rows[0, column, cell]`` is replaced by the image's mean grey level / 255 - so each image of a batch
    has its own answer."""
    width, height = size
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, height, width])
    base = np.asarray(rows, np.float32).copy()
    base[0, column, cell] = 0
    mask = np.zeros_like(base)
    mask[0, column, cell] = 1 / 255
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),  # batch x 1 x 1 x 1
        helper.make_node("Reshape", ["mean", "shape3"], ["mean3"]),  # batch x 1 x 1
        helper.make_node("Mul", ["mean3", "mask"], ["bright"]),
        helper.make_node("Add", ["bright", "base"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(base, "base"),
        numpy_helper.from_array(mask, "mask"),
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape3"),
    ]
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", *base.shape[1:]])
    model = helper.make_model(
        helper.make_graph(nodes, "brightness", [x], [out], inits), opset_imports=[helper.make_opsetid("", 13)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
