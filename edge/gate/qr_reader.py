"""Reading QR codes in gate frames with OpenCV's QR detector (in the vision process).

``QrReader.read(image)`` gives the text of every QR code it can decode. OpenCV's classic detector is tried on
the frame first; when it finds nothing, the ArUco-based detector (``cv2.QRCodeDetectorAruco``, more
tolerant of small, tilted and blurred codes) is tried. A phone screen is often overexposed on a camera set
for faces, so a frame where both fail is tried once more with its contrast stretched (CLAHE).
"""

from __future__ import annotations

import cv2
import numpy as np


class QrReader:
    def __init__(self) -> None:
        self._classic = cv2.QRCodeDetector()
        self._aruco = cv2.QRCodeDetectorAruco()
        self._clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))

    @staticmethod
    def _decode(detector, grey: np.ndarray) -> tuple[str, ...]:
        try:
            ok, texts, _, _ = detector.detectAndDecodeMulti(grey)
        except cv2.error:
            return ()
        return tuple(t for t in texts if t) if ok else ()

    def read(self, image: np.ndarray) -> tuple[str, ...]:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        for candidate in (grey, None):
            if candidate is None:
                candidate = self._clahe.apply(grey)
            for detector in (self._classic, self._aruco):
                texts = self._decode(detector, candidate)
                if texts:
                    return tuple(dict.fromkeys(texts))
        return ()
