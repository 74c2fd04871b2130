"""Reading QR codes in gate frames with OpenCV's QR detectors (in the vision process).

``QrReader.read(image)`` gives the text of every QR code it can decode. The ArUco-based detector
(``cv2.QRCodeDetectorAruco``, more tolerant of tilt and blur) looks for codes in every frame it is given, and
decodes only what it found (one detection a frame, not a detection for decoding and another to find codes
that did not decode); only when it *finds* a code it cannot decode (too few pixels a module, blur, a washed-out
phone screen) is the code's region enlarged 2x and tried again, plain and with its contrast stretched
(CLAHE), with both the ArUco and the classic detector. A frame with no code costs one detection.

The ArUco detector binarises the frame with one adaptive-threshold window (``THRESHOLD_WINDOW``, 13 px)
instead of OpenCV's three (3, 13, 23 px): with the single detection, a frame without a code costs ~0.9 ms
instead of ~3.6 ms on the stranger clip, and the codes of tests/gate/qr_frames.py (2.75-7 px a module,
tilted, blurred, on an overexposed phone screen) are read as before (docs/BENCHMARKS.md, issue 12).
"""

from __future__ import annotations

import cv2
import numpy as np

ENLARGE = 2.0
THRESHOLD_WINDOW = 13  # px, the one adaptive-threshold window of the ArUco detector's candidate search


def aruco_detector() -> cv2.QRCodeDetectorAruco:
    detector = cv2.QRCodeDetectorAruco()
    params = detector.getArucoParameters()
    params.adaptiveThreshWinSizeMin = THRESHOLD_WINDOW
    params.adaptiveThreshWinSizeMax = THRESHOLD_WINDOW
    detector.setArucoParameters(params)
    return detector


class QrReader:
    def __init__(self) -> None:
        self._classic = cv2.QRCodeDetector()
        self._aruco = aruco_detector()
        self._clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))

    @staticmethod
    def _decode(detector: cv2.GraphicalCodeDetector, grey: np.ndarray) -> tuple[str, ...]:
        try:
            ok, texts, _, _ = detector.detectAndDecodeMulti(grey)
        except cv2.error:
            return ()
        return tuple(t for t in texts if t) if ok else ()

    def _found(self, grey: np.ndarray) -> np.ndarray | None:
        """Corner points of the codes the ArUco detector finds (decodable or not), (codes, 4, 2); None: none."""
        try:
            ok, points = self._aruco.detectMulti(grey)
        except cv2.error:
            return None
        if ok and points is not None and len(points):
            return np.asarray(points, dtype=np.float32).reshape(-1, 4, 2)
        return None

    def _decode_found(self, grey: np.ndarray, points: np.ndarray) -> tuple[str, ...]:
        try:
            ok, texts, _ = self._aruco.decodeMulti(grey, points)
        except cv2.error:
            return ()
        return tuple(t for t in texts if t) if ok else ()

    def _enlarged(self, grey: np.ndarray, corners: np.ndarray) -> tuple[str, ...]:
        h, w = grey.shape[:2]
        x0, y0 = corners.min(axis=0)
        x1, y1 = corners.max(axis=0)
        pad = 0.25 * max(x1 - x0, y1 - y0)
        x0, y0 = int(max(0, x0 - pad)), int(max(0, y0 - pad))
        x1, y1 = int(min(w, x1 + pad)), int(min(h, y1 + pad))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return ()
        region = cv2.resize(grey[y0:y1, x0:x1], None, fx=ENLARGE, fy=ENLARGE, interpolation=cv2.INTER_CUBIC)
        for candidate in (region, self._clahe.apply(region)):
            for detector in (self._aruco, self._classic):
                texts = self._decode(detector, candidate)
                if texts:
                    return texts
        return ()

    def read(self, image: np.ndarray) -> tuple[str, ...]:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        points = self._found(grey)  # one detection; decoded where it found something
        if points is None:
            return ()
        texts = self._decode_found(grey, points)
        if texts:
            return tuple(dict.fromkeys(texts))
        found: list[str] = []
        for corners in points:
            found += self._enlarged(grey, corners)
        return tuple(dict.fromkeys(found))
