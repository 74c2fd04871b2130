"""Facade calibration: where the floors and window columns of the building are in the camera picture.

The installer marks the facade once (``edge fall calibrate``): its four corners in a still of the camera,
the number of floors and of window columns between them. The file::

    version: 1
    image_size: [1280, 720]          # the still the corners were read from
    corners:                         # top-left, top-right, bottom-right, bottom-left, pixels of that still
      - [402, 38]
      - [880, 41]
      - [1010, 700]
      - [268, 698]
    floors: 18                       # floors between the top and bottom edges
    columns: 6                       # window columns between the left and right edges
    first_floor: 1                   # number of the floor at the bottom edge
    floor_height_m: 3.0

A homography maps a point of the picture (as fractions of the frame, so any resolution works) to facade
coordinates: ``u`` in columns from the left edge, ``v`` in floors from the bottom edge. The fall test uses
``v * floor_height_m`` as height in metres; the alarm names ``floor = first_floor + floor(v)`` and
``column = 1 + floor(u)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from pydantic import Field, ValidationError, field_validator

from edge.core.configbase import Strict


class CalibrationError(Exception):
    """A calibration file that cannot be used (names the file and what is wrong)."""


class CalibrationFile(Strict):
    version: int = Field(default=1, ge=1, le=1, description="format version")
    image_size: tuple[int, int] = Field(description="width, height of the still the corners were read from")
    corners: tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]] = Field(
        description="facade corners in that still: top-left, top-right, bottom-right, bottom-left (pixels)"
    )
    floors: int = Field(ge=1, le=200, description="floors between the top and bottom edges")
    columns: int = Field(ge=1, le=200, description="window columns between the left and right edges")
    first_floor: int = Field(default=1, ge=-10, le=200, description="number of the floor at the bottom edge")
    floor_height_m: float = Field(default=3.0, gt=1.5, le=10, description="height of one floor, metres")

    @field_validator("image_size")
    @classmethod
    def _positive(cls, size: tuple[int, int]) -> tuple[int, int]:
        if size[0] < 16 or size[1] < 16:
            raise ValueError(f"image_size {list(size)} is too small")
        return size


@dataclass(frozen=True, slots=True)
class Location:
    floor: int
    column: int
    floor_range: tuple[int, int]
    column_range: tuple[int, int]
    u: float  # columns from the left edge
    v: float  # floors from the bottom edge


class Calibration:
    """The facade grid of one camera; ``image`` points are fractions (x / width, y / height)."""

    def __init__(self, spec: CalibrationFile, source: str = "<calibration>") -> None:
        self.spec = spec
        self.source = source
        w, h = spec.image_size
        corners = np.array(spec.corners, dtype=np.float64)
        outside = [i for i, (x, y) in enumerate(corners) if not (0 <= x <= w and 0 <= y <= h)]
        if outside:
            names = ", ".join(CORNER_NAMES[i] for i in outside)
            raise CalibrationError(f"{source}: corner(s) {names} outside the {w}x{h} image")
        if not _convex_clockwise(corners):
            raise CalibrationError(
                f"{source}: the corners do not form a facade: give top-left, top-right, bottom-right, bottom-left "
                "of a convex outline, in that order"
            )
        fractions = corners / np.array([w, h])
        facade = np.array([[0, spec.floors], [spec.columns, spec.floors], [spec.columns, 0], [0, 0]], np.float64)
        self._to_facade = cv2.getPerspectiveTransform(fractions.astype(np.float32), facade.astype(np.float32))
        self._to_image = np.linalg.inv(self._to_facade)

    @property
    def floor_height_m(self) -> float:
        return self.spec.floor_height_m

    def to_facade(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) image fractions -> (N, 2) facade (u columns, v floors)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(pts, self._to_facade).reshape(-1, 2)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(pts, self._to_image).reshape(-1, 2)

    def heights_m(self, points: np.ndarray) -> np.ndarray:
        return self.to_facade(points)[:, 1] * self.spec.floor_height_m

    def metres_per_fraction(self, point: tuple[float, float]) -> float:
        """Metres of facade height per fraction of the frame height near ``point`` (the local scale)."""
        x, y = point
        a, b = self.to_facade(np.array([[x, y - 0.005], [x, y + 0.005]]))
        return float(abs(a[1] - b[1])) / 0.01 * self.spec.floor_height_m

    def locate(self, u: float, v: float, *, du: float, dv: float) -> Location:
        """Floor and column of facade point (u, v), with ranges for an uncertainty of ±du columns, ±dv floors."""
        spec = self.spec

        def floor_of(value: float) -> int:
            return spec.first_floor + int(np.clip(np.floor(value), 0, spec.floors - 1))

        def column_of(value: float) -> int:
            return 1 + int(np.clip(np.floor(value), 0, spec.columns - 1))

        return Location(
            floor=floor_of(v),
            column=column_of(u),
            floor_range=(floor_of(v - dv), floor_of(v + dv)),
            column_range=(column_of(u - du), column_of(u + du)),
            u=float(u),
            v=float(v),
        )

    def draw_grid(self, image: np.ndarray, colour: tuple[int, int, int] = (0, 200, 255)) -> np.ndarray:
        """A copy of ``image`` with the floor and column lines drawn (to check a calibration on a still)."""
        out = image.copy()
        h, w = out.shape[:2]
        spec = self.spec
        scale = np.array([w, h])
        for v in range(spec.floors + 1):
            a, b = (self.to_image(np.array([[0, v], [spec.columns, v]])) * scale).astype(int)
            cv2.line(out, tuple(a), tuple(b), colour, 1, cv2.LINE_AA)
            if v < spec.floors:
                label = self.to_image(np.array([[0, v + 0.5]]))[0] * scale
                cv2.putText(
                    out,
                    str(spec.first_floor + v),
                    (int(label[0]) - 24, int(label[1]) + 4),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.4,
                    colour,
                    1,
                    cv2.LINE_AA,
                )
        for u in range(spec.columns + 1):
            a, b = (self.to_image(np.array([[u, 0], [u, spec.floors]])) * scale).astype(int)
            cv2.line(out, tuple(a), tuple(b), colour, 1, cv2.LINE_AA)
        return out


CORNER_NAMES = ("top-left", "top-right", "bottom-right", "bottom-left")


def _convex_clockwise(corners: np.ndarray) -> bool:
    """True when the four points, in order, make a convex quadrilateral turning clockwise on screen (y down)."""
    crosses = []
    for i in range(4):
        a, b, c = corners[i], corners[(i + 1) % 4], corners[(i + 2) % 4]
        ab, bc = b - a, c - b
        crosses.append(ab[0] * bc[1] - ab[1] * bc[0])
    return all(c > 0 for c in crosses)


def load_calibration(path: str | Path) -> Calibration:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CalibrationError(f"calibration {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise CalibrationError(f"calibration {path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CalibrationError(f"calibration {path}: expected a mapping with image_size, corners, floors, columns")
    try:
        spec = CalibrationFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: "
            f"{'unknown key' if err['type'] == 'extra_forbidden' else err['msg']}"
            for err in exc.errors()
        )
        raise CalibrationError(f"calibration {path}: {problems}") from exc
    return Calibration(spec, str(path))


def save_calibration(spec: CalibrationFile, path: str | Path) -> Path:
    Calibration(spec, str(path))  # refuse to write one that cannot be loaded
    path = Path(path)
    data = spec.model_dump(mode="json")
    header = "# facade calibration (edge fall calibrate): corners top-left, top-right, bottom-right, bottom-left\n"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
    return path
