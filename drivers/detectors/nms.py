"""Candidate selection and non-maximum suppression, shared by every decoder family (pure numpy)."""

from __future__ import annotations

import numpy as np


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one x1y1x2y2 box with each row of ``boxes``."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[iou_one_to_many(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def select(
    boxes: np.ndarray, scores: np.ndarray, *, score_threshold: float, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From per-class scores (N x C) to kept detections: boxes (K x 4), scores (K), class ids (K).

    Each candidate keeps its best class; NMS runs per class, so a bicycle under a person is not
    suppressed by the person's box.
    """
    if boxes.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    class_ids = np.argmax(scores, axis=1)
    best = scores[np.arange(scores.shape[0]), class_ids]
    mask = best >= score_threshold
    boxes, best, class_ids = boxes[mask], best[mask], class_ids[mask]
    kept: list[np.ndarray] = []
    for cls in np.unique(class_ids):
        idx = np.flatnonzero(class_ids == cls)
        kept.append(idx[nms(boxes[idx], best[idx], iou_threshold)])
    if not kept:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    keep = np.concatenate(kept)
    keep = keep[np.argsort(-best[keep], kind="stable")]
    return boxes[keep], best[keep], class_ids[keep]
