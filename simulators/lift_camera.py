"""Lift camera simulator: an HTTP MJPEG stream of a recording, or of composed frames.

No permissively licensed footage of e-bikes in lifts exists, so scenes are composed: a bicycle,
motorcycle or e-bike photo moved across an empty-room frame, with empty stretches before and after::

    scene = LiftScene.from_photos(room_jpg, motorcycle_png, fps=10, before_s=2, cross_s=4, after_s=10)
    with MjpegServer(scene.frames, fps=scene.fps) as server:   # simulators.mjpeg
        ...                                                     # scene.appeared_at: when the e-bike went out

Run on its own::

    python -m simulators.lift_camera --background ROOM.jpg --photo MOTORCYCLE.png --port 8082
    python -m simulators.lift_camera --video people.mp4 --port 8082
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from simulators.mjpeg import FrameSource, MjpegServer, encode_jpeg, video_frames

FRAME_SIZE = (640, 360)


def read_photo(path: str | Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read photo {path} (missing or not an image)")
    return image


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to exactly ``size`` (width, height): the background of a scene."""
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def scale_to_height(image: np.ndarray, height: int) -> np.ndarray:
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def paste(background: np.ndarray, sprite: np.ndarray, x: int, y: int) -> np.ndarray:
    """A copy of ``background`` with ``sprite`` at (x, y), clipped at the edges."""
    out = background.copy()
    h, w = out.shape[:2]
    sh, sw = sprite.shape[:2]
    x1, y1, x2, y2 = max(0, x), max(0, y), min(w, x + sw), min(h, y + sh)
    if x2 > x1 and y2 > y1:
        out[y1:y2, x1:x2] = sprite[y1 - y : y2 - y, x1 - x : x2 - x]
    return out


@dataclass
class LiftScene:
    """Empty room, then a photo moving across it from ``x_from`` to ``x_to``, then empty again.

    ``loop_empty``: after the scene, keep sending the empty room (a camera that stays on).
    """

    background: np.ndarray
    sprite: np.ndarray
    fps: float = 10.0
    before_s: float = 2.0
    cross_s: float = 4.0
    after_s: float = 5.0
    x_from: int = 20
    x_to: int | None = None
    loop_empty: bool = False
    quality: int = 85
    appeared_at: float | None = field(default=None, init=False)  # monotonic time the first e-bike frame went out
    _cache: dict[tuple[int, int, int, int] | None, bytes] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_photos(
        cls, background: str | Path, photo: str | Path, *, sprite_height: int = 200, **kwargs: object
    ) -> LiftScene:
        room = fit(read_photo(background), FRAME_SIZE)
        sprite = scale_to_height(read_photo(photo), min(sprite_height, FRAME_SIZE[1]))
        return cls(room, sprite, **kwargs)  # type: ignore[arg-type]

    @property
    def first_ebike_frame(self) -> int:
        return round(self.before_s * self.fps)

    @property
    def last_ebike_frame(self) -> int:
        return self.first_ebike_frame + max(1, round(self.cross_s * self.fps)) - 1

    @property
    def length(self) -> int:
        return self.last_ebike_frame + 1 + round(self.after_s * self.fps)

    def ebike_box(self, index: int) -> tuple[int, int, int, int] | None:
        """Where the photo is in frame ``index`` (x1, y1, x2, y2), or None when it is not in view."""
        if not self.first_ebike_frame <= index <= self.last_ebike_frame:
            return None
        h, w = self.background.shape[:2]
        sh, sw = self.sprite.shape[:2]
        x_to = self.x_to if self.x_to is not None else w - sw - 20
        steps = max(1, self.last_ebike_frame - self.first_ebike_frame)
        x = round(self.x_from + (x_to - self.x_from) * (index - self.first_ebike_frame) / steps)
        y = h - sh - 10
        return x, y, x + sw, y + sh

    def image(self, index: int) -> np.ndarray:
        box = self.ebike_box(index)
        if box is None:
            return self.background
        return paste(self.background, self.sprite, box[0], box[1])

    def jpeg(self, index: int) -> bytes:
        key = self.ebike_box(index)  # frames that look alike are encoded once
        with self._lock:
            data = self._cache.get(key)
            if data is None:
                data = self._cache[key] = encode_jpeg(self.image(index), self.quality)
        return data

    def frames(self) -> Iterator[bytes]:
        """The scene as JPEG frames (what ``MjpegServer`` sends); records ``appeared_at``."""
        for index in range(self.length):
            if index == self.first_ebike_frame and self.appeared_at is None:
                self.appeared_at = time.monotonic()
            yield self.jpeg(index)
        while self.loop_empty:
            yield self.jpeg(-1)

    def write_video(self, path: str | Path) -> Path:
        """The scene as a video file (MJPG in AVI), for ``edge lift replay`` and the benchmark."""
        path = Path(path)
        h, w = self.background.shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), self.fps, (w, h))
        if not writer.isOpened():
            raise ValueError(f"cannot write video {path}")
        try:
            for index in range(self.length):
                writer.write(self.image(index))
        finally:
            writer.release()
        return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a lift camera as HTTP MJPEG (a recording or a composed scene).")
    parser.add_argument("--video", type=Path, help="serve this recording instead of a composed scene")
    parser.add_argument("--background", type=Path, help="empty-room photo")
    parser.add_argument("--photo", type=Path, help="bicycle / motorcycle / e-bike photo moved across the room")
    parser.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10)")
    parser.add_argument("--before", type=float, default=3.0, help="seconds of empty room before the e-bike")
    parser.add_argument("--cross", type=float, default=5.0, help="seconds the e-bike takes to cross")
    parser.add_argument("--after", type=float, default=10.0, help="seconds of empty room after it")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    parser.add_argument("--port", type=int, default=8082, help="TCP port (0 picks a free one)")
    args = parser.parse_args(argv)
    if args.video is not None:
        if not args.video.is_file():
            parser.error(f"{args.video}: no such file")

        def from_video() -> Iterator[np.ndarray]:
            return video_frames(args.video, max_width=FRAME_SIZE[0])

        source: FrameSource = from_video

        what = str(args.video)
    else:
        if args.background is None or args.photo is None:
            parser.error("give --video, or --background and --photo")
        scene = LiftScene.from_photos(
            args.background, args.photo, fps=args.fps, before_s=args.before, cross_s=args.cross, after_s=args.after
        )
        source = scene.frames
        what = f"{args.photo.name} across {args.background.name}"
    with MjpegServer(source, fps=args.fps, host=args.host, port=args.port) as server:
        print(f"lift camera: {what} at {server.url} ({args.fps:g} fps); Ctrl-C stops", flush=True)
        server.serve_until_interrupted()


if __name__ == "__main__":
    main()
