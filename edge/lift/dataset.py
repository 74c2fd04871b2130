"""An evaluation folder: pictures of one's own lift, with and without e-bikes, and optional box labels.

    FOLDER/
      positives/            pictures where an e-bike is in view
        IMG_0001.jpg        a picture on its own: one frame (and one episode)
        IMG_0001.txt        optional YOLO label of it: one "class cx cy w h" line per box, 0-1 of the size
        clip-0930.mp4       a recording: one episode, sampled at the lift's fps
        2026-12-01T09-30/   a folder of pictures (what `edge lift capture` writes): one episode, in name order
      negatives/            the same, without e-bikes (people, prams, bags, an empty car, the door)
      classes.txt           optional: the label class names, one a line (YOLO); without it every label box
                            is an e-bike

A positive picture with a label file that holds no e-bike box is a frame of a positive episode with no e-bike
in view yet. Labels of recordings are not read (label the frames of a capture folder instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from drivers.detectors import Box

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
CLIP_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".ts"})


class DatasetError(ValueError):
    """The evaluation folder or one of its files is not usable; the message names the file (and line)."""


@dataclass(frozen=True, slots=True)
class Frame:
    image: np.ndarray
    t: float  # seconds from the start of its episode
    name: str  # file name, or "clip.mp4@12.4s"
    ebike_boxes: tuple[Box, ...] | None  # labelled e-bike boxes in pixels; None: not labelled
    positive: bool  # an e-bike is in view (for labelled frames: there is at least one e-bike box)


@dataclass(frozen=True, slots=True)
class Episode:
    name: str  # path under FOLDER
    path: Path
    kind: str  # "picture", "sequence", "clip"
    positive: bool


def read_classes(folder: Path) -> list[str] | None:
    path = folder / "classes.txt"
    if not path.exists():
        return None
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise DatasetError(f"{path}: no class names (one a line, as YOLO's classes.txt)")
    return names


def find_episodes(folder: Path) -> list[Episode]:
    """Every episode under ``positives/`` and ``negatives/``, positives first; errors name what is wrong."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    missing = [name for name in ("positives", "negatives") if not (folder / name).is_dir()]
    if len(missing) == 2:
        raise DatasetError(f"{folder}: has neither positives/ nor negatives/ (see `edge lift evaluate --help`)")
    episodes: list[Episode] = []
    for name, positive in (("positives", True), ("negatives", False)):
        sub = folder / name
        if not sub.is_dir():
            continue
        for path in sorted(p for p in sub.iterdir() if not p.name.startswith(".")):
            suffix = path.suffix.lower()
            rel = str(path.relative_to(folder))
            if path.is_dir():
                if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
                    raise DatasetError(f"{path}: a folder without pictures ({', '.join(sorted(IMAGE_SUFFIXES))})")
                episodes.append(Episode(rel, path, "sequence", positive))
            elif suffix in IMAGE_SUFFIXES:
                episodes.append(Episode(rel, path, "picture", positive))
            elif suffix in CLIP_SUFFIXES:
                episodes.append(Episode(rel, path, "clip", positive))
            elif suffix != ".txt":
                raise DatasetError(
                    f"{path}: neither a picture ({', '.join(sorted(IMAGE_SUFFIXES))}), a recording "
                    f"({', '.join(sorted(CLIP_SUFFIXES))}), a label (.txt) nor a folder of pictures"
                )
    if not episodes:
        raise DatasetError(f"{folder}: positives/ and negatives/ hold no pictures or recordings")
    return episodes


def read_label(path: Path, size: tuple[int, int], classes: list[str] | None, ebike: frozenset[str]) -> list[Box]:
    """The e-bike boxes of a YOLO label file, in pixels of a ``size`` (width, height) picture."""
    w, h = size
    boxes: list[Box] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        where = f"{path}:{number}"
        if len(parts) != 5:
            raise DatasetError(f"{where}: expected 'class cx cy w h' (5 numbers), got {line.strip()!r}")
        try:
            cls = int(parts[0])
            cx, cy, bw, bh = (float(v) for v in parts[1:])
        except ValueError:
            raise DatasetError(f"{where}: expected a class number and four numbers, got {line.strip()!r}") from None
        if not all(0 <= v <= 1 for v in (cx, cy, bw, bh)) or bw == 0 or bh == 0:
            raise DatasetError(f"{where}: centre and size must be fractions of the picture in (0, 1], got {line!r}")
        if classes is not None and not 0 <= cls < len(classes):
            raise DatasetError(f"{where}: class {cls}, but classes.txt has {len(classes)} names")
        if classes is not None and classes[cls] not in ebike:
            continue
        boxes.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
    return boxes


def _picture(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"{path}: not a readable picture")
    return image


def _fit(image: np.ndarray, max_width: int) -> np.ndarray:
    """Labels are fractions of the picture, so they follow the picture's scaling."""
    if image.shape[1] <= max_width:
        return image
    size = (max_width, max(1, round(image.shape[0] * max_width / image.shape[1])))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _labelled(
    path: Path, image: np.ndarray, positive: bool, classes: list[str] | None, ebike: frozenset[str]
) -> tuple[tuple[Box, ...] | None, bool]:
    label = path.with_suffix(".txt")
    if not label.exists():
        return None, positive
    h, w = image.shape[:2]
    boxes = tuple(read_label(label, (w, h), classes, ebike))
    if boxes and not positive:
        raise DatasetError(f"{label}: labels an e-bike, but the picture is under negatives/")
    return boxes, bool(boxes)


def frames(
    episode: Episode, *, fps: float, max_width: int, classes: list[str] | None, ebike: frozenset[str]
) -> Iterator[Frame]:
    """The frames of an episode, at most ``max_width`` wide (labels scaled alike), a recording at ``fps``."""
    if episode.kind == "clip":
        yield from _clip_frames(episode, fps, max_width)
        return
    paths = (
        [episode.path]
        if episode.kind == "picture"
        else sorted(p for p in episode.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    )
    for i, path in enumerate(paths):
        image = _fit(_picture(path), max_width)
        boxes, positive = _labelled(path, image, episode.positive, classes, ebike)
        yield Frame(image, i / fps, str(path.name), boxes, positive)


def _clip_frames(episode: Episode, fps: float, max_width: int) -> Iterator[Frame]:
    """The recording at ``fps``: frames in between are grabbed but never decoded."""
    cap = cv2.VideoCapture(str(episode.path))
    if not cap.isOpened():
        cap.release()
        raise DatasetError(f"{episode.path}: not a readable recording")
    try:
        native = cap.get(cv2.CAP_PROP_FPS) or fps
        period, next_t, index = 1.0 / fps, 0.0, -1
        while cap.grab():
            index += 1
            t = index / native
            if t + 1e-6 < next_t:
                continue
            next_t = max(next_t + period, t)
            ok, image = cap.retrieve()
            if not ok or image is None:
                raise DatasetError(f"{episode.path}: frame {index} cannot be decoded")
            yield Frame(_fit(image, max_width), t, f"{episode.path.name}@{t:.1f}s", None, episode.positive)
    finally:
        cap.release()
