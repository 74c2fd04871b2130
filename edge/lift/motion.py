"""Motion gate: where in the frame something moved, computed on a small grey image.

The detector then runs only on regions around the motion, each cut at the detector's input size from the
decoded frame (so a small e-bike is seen at full resolution, not the whole frame scaled down). A big
change of most of the image (lights switched, the door opening) is not motion: the background is reset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge.lift.config import MotionConfig

Region = tuple[int, int, int, int]  # x, y, width, height in frame pixels


@dataclass(frozen=True, slots=True)
class Motion:
    boxes: tuple[Region, ...]  # moving areas, frame pixels
    changed: float  # fraction of the small image that changed
    recalibrated: bool = False


class MotionGate:
    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        self._background: np.ndarray | None = None
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def reset(self) -> None:
        self._background = None

    def update(self, frame: np.ndarray) -> Motion:
        cfg = self.config
        h, w = frame.shape[:2]
        sw = min(cfg.width, w)
        sh = max(1, round(h * sw / w))
        small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        grey = cv2.GaussianBlur(grey, (5, 5), 0)
        if self._background is None or self._background.shape != grey.shape:
            self._background = grey.astype(np.float32)
            return Motion((), 0.0, recalibrated=True)
        diff = cv2.absdiff(grey, cv2.convertScaleAbs(self._background))
        _, mask = cv2.threshold(diff, cfg.threshold, 255, cv2.THRESH_BINARY)
        changed = float(np.count_nonzero(mask)) / mask.size
        if changed >= cfg.recalibrate_fraction:
            self._background = grey.astype(np.float32)
            return Motion((), changed, recalibrated=True)
        cv2.accumulateWeighted(grey, self._background, cfg.learning_rate)
        if changed == 0:
            return Motion((), 0.0)
        mask = cv2.dilate(mask, self._kernel, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_area = cfg.min_area * mask.size
        fx, fy = w / sw, h / sh
        boxes = []
        for contour in contours:
            x, y, bw, bh = cv2.boundingRect(contour)
            if bw * bh < min_area:
                continue
            boxes.append((int(x * fx), int(y * fy), max(1, round(bw * fx)), max(1, round(bh * fy))))
        return Motion(tuple(boxes), changed)


def _union(a: Region, b: Region) -> Region:
    x1, y1 = min(a[0], b[0]), min(a[1], b[1])
    x2, y2 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return x1, y1, x2 - x1, y2 - y1


def _cluster(boxes: Sequence[Region], width: int, height: int) -> list[Region]:
    """Greedily merge motion boxes whose union still fits one detector input."""
    clusters: list[Region] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        for i, cluster in enumerate(clusters):
            merged = _union(cluster, box)
            if merged[2] <= width and merged[3] <= height:
                clusters[i] = merged
                break
        else:
            clusters.append(box)
    return clusters


def _place(box: Region, input_size: tuple[int, int], frame_size: tuple[int, int]) -> Region:
    """A region of the input's aspect, at least input size, containing ``box`` with a margin, inside the frame."""
    iw, ih = input_size
    fw, fh = frame_size
    scale = max(1.0, box[2] * 1.2 / iw, box[3] * 1.2 / ih)
    rw, rh = min(fw, round(iw * scale)), min(fh, round(ih * scale))
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    x = int(min(max(0, cx - rw / 2), fw - rw))
    y = int(min(max(0, cy - rh / 2), fh - rh))
    return x, y, rw, rh


def _inside(a: Region, b: Region) -> bool:
    return a[0] >= b[0] and a[1] >= b[1] and a[0] + a[2] <= b[0] + b[2] and a[1] + a[3] <= b[1] + b[3]


def regions_for(
    boxes: Sequence[Region], *, input_size: tuple[int, int], frame_size: tuple[int, int], max_regions: int
) -> list[Region]:
    """Detector regions around motion boxes; the whole frame when there are more than ``max_regions``."""
    if not boxes:
        return []
    fw, fh = frame_size
    regions = list(dict.fromkeys(_place(c, input_size, frame_size) for c in _cluster(boxes, *input_size)))
    regions = [r for i, r in enumerate(regions) if not any(_inside(r, o) for o in regions[:i] + regions[i + 1 :])]
    if len(regions) > max_regions:
        return [(0, 0, fw, fh)]
    return regions
