"""Object detectors for camera pipelines: a manifest of models, ONNX backends, the project's own decoders.

Usage::

    detector = load_detector("yolox_nano", model_dir=Path("/srv/models"))
    detector.detect(frame, score_threshold=0.4)
    # [Detection(class_id=3, label='motorbike', score=0.93, box=(...))]
"""

from drivers.detectors.detector import Detector, Region, load_detector
from drivers.detectors.manifest import Manifest, ModelSpec, default_model_dir, load_manifest, model_file
from drivers.detectors.types import Box, Detection, ModelError

__all__ = [
    "Box",
    "Detection",
    "Detector",
    "Manifest",
    "ModelError",
    "ModelSpec",
    "Region",
    "default_model_dir",
    "load_detector",
    "load_manifest",
    "model_file",
]
