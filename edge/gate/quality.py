"""Face quality from one detection: size, sharpness and pose (from the 5 landmarks), before any matching.

A face that is too small, blurred or turned away gives an embedding that is far from everyone, or worse,
near the wrong person; such faces are not matched at all (neither resident nor stranger), and the gate
waits for a better frame. Measures:

- ``height``: box height in pixels.
- ``sharpness``: variance of the Laplacian of the grey face, resized to 112x112 first so that it does
  not depend on the face size (a sharp LFW face ~150-900, a 5 px Gaussian blur ~20).
- ``yaw``: horizontal offset of the nose tip from the midpoint of the eyes, in eye distances, in the
  frame of the eye line (0 frontal, about 0.5 at 45 degrees); ``pitch``: height of the nose between the
  eye line (0) and the mouth line (1), about 0.5 frontal.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.gate.detect import Detection


@dataclass(slots=True, frozen=True)
class Quality:
    height: int
    sharpness: float
    yaw: float
    pitch: float


def sharpness(bgr: np.ndarray, detection: Detection) -> float:
    top, right, bottom, left = detection.box
    face = bgr[max(0, top) : bottom, max(0, left) : right]
    if face.size == 0:
        return 0.0
    grey = cv2.cvtColor(cv2.resize(face, (112, 112), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def pose(landmarks: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) ratios from the 5 landmarks (see the module doc)."""
    left_eye, right_eye, nose, mouth_l, mouth_r = (landmarks[i].astype(np.float64) for i in range(5))
    axis = right_eye - left_eye
    eye_dist = float(np.hypot(*axis))
    if eye_dist < 1e-6:
        return 9.0, 9.0
    ux = axis / eye_dist
    uy = np.array([-ux[1], ux[0]])
    eyes_mid, mouth_mid = (left_eye + right_eye) / 2, (mouth_l + mouth_r) / 2
    yaw = float(np.dot(nose - eyes_mid, ux)) / eye_dist
    mouth_depth = float(np.dot(mouth_mid - eyes_mid, uy))
    pitch = float(np.dot(nose - eyes_mid, uy)) / mouth_depth if abs(mouth_depth) > 1e-6 else 9.0
    return yaw, pitch


def quality(bgr: np.ndarray, detection: Detection) -> Quality:
    yaw, pitch = pose(detection.landmarks)
    return Quality(detection.height, sharpness(bgr, detection), yaw, pitch)
