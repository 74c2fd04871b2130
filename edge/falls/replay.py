"""Running the fall analysis on a recording: what the camera would have reported.

``edge fall replay VIDEO --config FILE`` prints one line per fall (when its track ends, with the whole
track); times are seconds into the recording. Every frame from ``start_s`` to ``end_s`` is analysed, as
the live camera does; ``annotate`` writes a copy of the recording with the tracks and origins drawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from drivers.camera import CameraSource
from edge.falls.analyzer import Fall, FallAnalyzer
from edge.falls.calibration import Calibration
from edge.falls.config import FallCameraConfig
from edge.falls.evidence import draw_falls


def fall_line(fall: Fall) -> dict[str, Any]:
    return {"type": "fall", "t": round(fall.t_start, 3), **fall.to_dict()}


def replay(
    video: str | Path,
    config: FallCameraConfig,
    calibration: Calibration | None,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    annotate: Path | None = None,
) -> Iterator[dict[str, Any]]:
    analyzer = FallAnalyzer(config, calibration)
    writer: cv2.VideoWriter | None = None
    shown: list[Fall] = []
    was_shaking = False
    try:
        with CameraSource(Path(video), max_width=config.decode_width, live=False) as camera:
            fps = getattr(camera._backend, "fps", 0.0) or config.fps
            while (frame := camera.read()) is not None:
                t = frame.pos_s if frame.pos_s is not None else frame.index / fps
                if t + 1e-6 < start_s:
                    continue
                if end_s is not None and t > end_s:
                    break
                result = analyzer.analyze(frame.image, t)
                if result.shaking != was_shaking:
                    was_shaking = result.shaking
                    yield {"type": "shaking" if result.shaking else "steady", "t": round(t, 3)}
                for fall in result.ended:
                    yield fall_line(fall)
                if annotate is not None:
                    if writer is None:
                        writer = _writer(annotate, frame.image, fps)
                    shown = [f for f in shown if t - f.t < 2.0] + list(result.accepted)
                    writer.write(draw_falls(frame.image, shown, calibration, shaking=result.shaking))
        for fall in analyzer.finish():
            yield fall_line(fall)
    finally:
        if writer is not None:
            writer.release()


def _writer(path: Path, image: np.ndarray, fps: float) -> cv2.VideoWriter:
    h, w = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise ValueError(f"cannot write the annotated video {path}")
    return writer
