"""Facade camera simulator (高空抛物): a camera at the foot of a building looking up its facade, rendered
with physics, as an HTTP MJPEG stream or a video file.

No licensed footage of objects falling from buildings exists here, so scenes are rendered: a facade of
floors and window columns seen in perspective, objects of several sizes and colours dropped or thrown
from chosen floors under gravity with quadratic air drag, drawn with motion blur (several positions
within the exposure), and the distractors a real camera sees: birds crossing and landing, leaves falling
and branches swaying in wind, rain, lights switching on at night, laundry swinging, people on balconies,
the camera shaking, clouds passing over the sun; sensor noise on every frame.

Scenarios are YAML files in ``simulators/scenarios/falls/`` (``FallScenario``)::

    scene = FacadeScene(load_fall_scenario("drop_day"))
    with MjpegServer(scene.frames, fps=scene.fps) as server:   # scene.released_at: monotonic release times
        ...
    scene.write_video("drop_day.avi")                           # the same frames, for tests and replay
    scene.calibration()                                         # the true facade corners (edge fall calibrate)

Run on its own: ``python -m simulators.facade_camera drop_day --port 8083 [--loop] [--video out.avi]``.
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import cv2
import numpy as np
import yaml
from pydantic import Field, TypeAdapter, ValidationError

from edge.core.configbase import Strict
from edge.falls.calibration import CalibrationFile
from simulators.mjpeg import MjpegServer, encode_jpeg

SCENARIO_DIR = Path(__file__).parent / "scenarios" / "falls"
G = 9.81
SUBSTEPS = 5  # positions drawn within one exposure (motion blur)
SHUTTER = 0.6  # fraction of the frame period the shutter is open


class CameraSpec(Strict):
    width: int = Field(default=640, ge=160, le=3840, description="frame width, pixels")
    height: int = Field(default=360, ge=90, le=2160, description="frame height, pixels")
    fps: float = Field(default=25.0, gt=0, le=60, description="frames per second")
    noise: float = Field(default=2.0, ge=0, le=30, description="sensor noise, grey levels (doubled at night)")
    quality: int = Field(default=85, ge=20, le=100, description="JPEG quality of the stream")


class FacadeSpec(Strict):
    floors: int = Field(default=8, ge=1, le=60, description="floors in view")
    columns: int = Field(default=5, ge=1, le=20, description="window columns")
    first_floor: int = Field(default=1, description="number of the lowest floor in view")
    floor_height_m: float = Field(default=3.0, gt=2, le=6, description="height of a floor, metres")
    column_width_m: float = Field(default=3.6, gt=1, le=10, description="width of a window column, metres")
    top: float = Field(default=0.05, ge=0, lt=0.5, description="top edge of the facade, fraction of the height")
    bottom: float = Field(default=0.92, gt=0.5, le=1, description="bottom edge, fraction of the height")
    bottom_width: float = Field(default=0.72, gt=0.1, le=1, description="width of the bottom edge, fraction")
    top_width: float = Field(default=0.5, gt=0.1, le=1, description="width of the top edge (perspective), fraction")


class DroppedObject(Strict):
    at: float = Field(ge=0, description="scenario second it is released")
    floor: int = Field(description="floor it falls from")
    column: int = Field(ge=1, description="window column it falls from")
    size_m: float = Field(default=0.3, gt=0.01, le=3, description="diameter, metres")
    colour: tuple[int, int, int] = Field(default=(40, 40, 190), description="BGR")
    velocity: tuple[float, float] = Field(default=(0.0, 0.0), description="(sideways, up) at release, m/s")
    drag: float = Field(default=0.01, ge=0, le=2, description="k of a = -g - k v|v|, 1/m (0.01 a brick, 0.3 a box)")
    shape: Literal["disc", "box"] = Field(default="disc", description="what is drawn")


class Bird(Strict):
    kind: Literal["bird"]
    at: float = Field(ge=0)
    duration: float = Field(gt=0, description="seconds from 'start' to 'end'")
    start: tuple[float, float] = Field(description="x, y fractions of the frame")
    end: tuple[float, float] = Field(description="x, y fractions of the frame")
    size_px: float = Field(default=6, gt=1, le=60)
    landing: bool = Field(default=False, description="slows down onto 'end' and perches there")


class Leaves(Strict):
    kind: Literal["leaves"]
    at: float = Field(ge=0)
    count: int = Field(default=6, ge=1, le=200)
    spread_s: float = Field(default=3.0, ge=0, description="leaves come loose over this many seconds")
    region: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 where they come loose (fractions)")
    fall_speed_m_s: float = Field(default=1.2, gt=0, le=5, description="terminal speed of a leaf")
    size_px: float = Field(default=4, gt=1, le=30)


class Branches(Strict):
    kind: Literal["branches"]
    base: tuple[float, float] = Field(description="x, y of the trunk's foot (fractions)")
    height: float = Field(default=0.3, gt=0, le=1, description="tree height, fraction of the frame height")
    sway_deg: float = Field(default=6, ge=0, le=45)
    sway_hz: float = Field(default=0.6, gt=0, le=5)


class Rain(Strict):
    kind: Literal["rain"]
    at: float = Field(ge=0)
    duration: float = Field(gt=0)
    drops_per_frame: int = Field(default=40, ge=1, le=2000)
    speed_m_s: float = Field(default=8.0, gt=1, le=15)


class Lights(Strict):
    kind: Literal["lights"]
    at: float = Field(ge=0)
    spread_s: float = Field(default=4.0, ge=0)
    windows: int = Field(default=6, ge=1, le=400)


class Laundry(Strict):
    kind: Literal["laundry"]
    floor: int
    column: int = Field(ge=1)
    swing_deg: float = Field(default=25, ge=0, le=80)
    swing_hz: float = Field(default=0.5, gt=0, le=4)
    length_m: float = Field(default=1.0, gt=0.1, le=3)


class Person(Strict):
    kind: Literal["person"]
    floor: int
    column: int = Field(ge=1)
    at: float = Field(default=0, ge=0)
    duration: float = Field(default=1e9, gt=0)
    pace_s: float = Field(default=4.0, gt=0.5, description="seconds to walk across the balcony and back")


class Shake(Strict):
    kind: Literal["shake"]
    at: float = Field(ge=0)
    duration: float = Field(gt=0)
    amplitude_px: float = Field(default=6, gt=0, le=100)


class Clouds(Strict):
    kind: Literal["clouds"]
    at: float = Field(ge=0)
    duration: float = Field(gt=0, description="seconds from full sun to shade and back")
    depth: float = Field(default=0.4, gt=0, lt=1, description="fraction of light the cloud takes away")


Distractor = Annotated[
    Bird | Leaves | Branches | Rain | Lights | Laundry | Person | Shake | Clouds, Field(discriminator="kind")
]


class FallScenario(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    duration_s: float = Field(gt=0, le=7200)
    seed: int = 1
    night: bool = False
    camera: CameraSpec = Field(default_factory=CameraSpec)
    facade: FacadeSpec = Field(default_factory=FacadeSpec)
    objects: list[DroppedObject] = Field(default_factory=list)
    distractors: list[Distractor] = Field(default_factory=list)


def load_fall_scenario(name_or_path: str | Path) -> FallScenario:
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    try:
        data = yaml.safe_load(path.read_text())
        return TypeAdapter(FallScenario).validate_python(data)
    except OSError as exc:
        known = ", ".join(fall_scenario_names())
        raise ValueError(f"fall scenario {name_or_path}: {exc.strerror or exc} (known: {known})") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"fall scenario {path}: {exc}") from exc


def fall_scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


@dataclass(frozen=True, slots=True)
class Truth:
    """A dropped object as the simulator rendered it (what a detector should report)."""

    t: float  # release, scenario seconds
    floor: int
    column: int
    size_px: float  # diameter at release, camera pixels
    landed_t: float  # when it reached the ground (or left the picture)


class FacadeScene:
    def __init__(self, scenario: FallScenario) -> None:
        self.scenario = scenario
        cam, fac = scenario.camera, scenario.facade
        self.size = (cam.width, cam.height)
        self.fps = cam.fps
        self.frame_count = max(1, round(scenario.duration_s * cam.fps))
        w, h = self.size
        cx = 0.5
        self.corners = np.array(
            [
                [(cx - fac.top_width / 2) * w, fac.top * h],
                [(cx + fac.top_width / 2) * w, fac.top * h],
                [(cx + fac.bottom_width / 2) * w, fac.bottom * h],
                [(cx - fac.bottom_width / 2) * w, fac.bottom * h],
            ],
            np.float32,
        )
        facade_m = np.array([[0, fac.floors], [fac.columns, fac.floors], [fac.columns, 0], [0, 0]], np.float32)
        self._to_image = cv2.getPerspectiveTransform(facade_m, self.corners)  # (columns, floors) -> pixels
        rng = np.random.default_rng(scenario.seed)
        self._rng = rng
        self._lit = self._light_schedule(rng)
        self.background = self._render_background()
        self._noise = [
            rng.normal(0, cam.noise * (2 if scenario.night else 1), (h, w, 1)).astype(np.float32) for _ in range(6)
        ]
        self._paths = [self._simulate(obj) for obj in scenario.objects]
        self._leaves = self._leaf_plan(rng)
        self._rain = rng.random((20_000, 2))
        self.released_at: dict[int, float] = {}  # object index -> monotonic time its first frame went out
        self.released_wall: dict[int, float] = {}  # the same, wall-clock
        self._jpegs: list[bytes] = []
        self._lock = threading.Lock()

    # -- geometry ------------------------------------------------------------------------------------

    def to_image(self, u: float | np.ndarray, v: float | np.ndarray) -> np.ndarray:
        """Facade (columns from the left, floors from the bottom) -> image pixels."""
        pts = np.column_stack([np.atleast_1d(u), np.atleast_1d(v)]).astype(np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(pts, self._to_image).reshape(-1, 2)

    def px_per_m(self, u: float, v: float) -> float:
        fac = self.scenario.facade
        a, b = self.to_image(np.array([u, u]), np.array([v, v + 1 / fac.floor_height_m]))
        return float(np.hypot(*(a - b)))

    def calibration(self) -> CalibrationFile:
        """The true calibration of this scene (what `edge fall calibrate` is given)."""
        fac = self.scenario.facade
        return CalibrationFile(
            image_size=self.size,
            corners=tuple(tuple(float(round(v, 1)) for v in c) for c in self.corners),
            floors=fac.floors,
            columns=fac.columns,
            first_floor=fac.first_floor,
            floor_height_m=fac.floor_height_m,
        )

    def truths(self) -> list[Truth]:
        out = []
        for obj, path in zip(self.scenario.objects, self._paths, strict=True):
            u0, v0 = path[0][1], path[0][2]
            size = obj.size_m * self.px_per_m(u0, v0)
            out.append(Truth(obj.at, obj.floor, obj.column, size, path[-1][0]))
        return out

    # -- physics -------------------------------------------------------------------------------------

    def _simulate(self, obj: DroppedObject) -> list[tuple[float, float, float]]:
        """(t, u, v) every 2 ms from release to the ground: gravity and quadratic drag."""
        fac = self.scenario.facade
        x = (obj.column - 0.5) * fac.column_width_m
        y = (obj.floor - fac.first_floor + 0.45) * fac.floor_height_m
        vx, vy = obj.velocity
        t, dt = obj.at, 0.002
        path = [(t, x / fac.column_width_m, y / fac.floor_height_m)]
        while y > 0 and t < obj.at + 30:
            speed = math.hypot(vx, vy)
            vx += -obj.drag * vx * speed * dt
            vy += (-G - obj.drag * vy * speed) * dt
            x += vx * dt
            y += vy * dt
            t += dt
            path.append((t, x / fac.column_width_m, y / fac.floor_height_m))
        return path

    def _object_at(self, index: int, t: float) -> tuple[float, float] | None:
        path = self._paths[index]
        if t < path[0][0] or t > path[-1][0]:
            return None
        i = min(len(path) - 1, int(round((t - path[0][0]) / 0.002)))
        return path[i][1], path[i][2]

    # -- the scene -----------------------------------------------------------------------------------

    def _light_schedule(self, rng: np.random.Generator) -> list[tuple[float, int, int]]:
        fac = self.scenario.facade
        plan = []
        for d in self.scenario.distractors:
            if isinstance(d, Lights):
                for _ in range(d.windows):
                    plan.append(
                        (
                            d.at + rng.random() * d.spread_s,
                            int(rng.integers(fac.floors)),
                            int(rng.integers(fac.columns)),
                        )
                    )
        return plan

    def _leaf_plan(self, rng: np.random.Generator) -> list[tuple[Leaves, float, float, float, float]]:
        plan = []
        for d in self.scenario.distractors:
            if isinstance(d, Leaves):
                for _ in range(d.count):
                    x1, y1, x2, y2 = d.region
                    plan.append(
                        (
                            d,
                            d.at + rng.random() * d.spread_s,
                            x1 + rng.random() * (x2 - x1),
                            y1 + rng.random() * (y2 - y1),
                            rng.random() * 6.28,
                        )
                    )
        return plan

    def _window_quad(self, floor_index: int, column_index: int, inset: float = 0.22) -> np.ndarray:
        u1, u2 = column_index + inset, column_index + 1 - inset
        v1, v2 = floor_index + 0.3, floor_index + 0.85
        return self.to_image(np.array([u1, u2, u2, u1]), np.array([v2, v2, v1, v1])).astype(np.int32)

    def _render_background(self) -> np.ndarray:
        w, h = self.size
        night = self.scenario.night
        fac = self.scenario.facade
        sky_top, sky_low = ((30, 20, 15), (45, 35, 30)) if night else ((235, 190, 140), (250, 225, 200))
        ramp = np.linspace(0, 1, h)[:, None, None]
        image = (np.array(sky_top) * (1 - ramp) + np.array(sky_low) * ramp).repeat(w, axis=1).astype(np.float32)
        wall = (48, 50, 55) if night else (170, 182, 196)
        cv2.fillConvexPoly(image, self.corners.astype(np.int32), wall, cv2.LINE_AA)
        glass = (30, 28, 25) if night else (120, 100, 85)
        for f in range(fac.floors):
            slab = self.to_image(np.array([0, fac.columns]), np.array([f, f])).astype(np.int32)
            cv2.line(image, tuple(slab[0]), tuple(slab[1]), (40, 42, 46) if night else (140, 150, 160), 2)
            for c in range(fac.columns):
                cv2.fillConvexPoly(image, self._window_quad(f, c), glass, cv2.LINE_AA)
        ground = int(fac.bottom * h)
        image[ground:] = (35, 38, 36) if night else (95, 110, 105)
        return image

    def _draw_lights(self, image: np.ndarray, t: float) -> None:
        for on_at, f, c in self._lit:
            if t >= on_at:
                cv2.fillConvexPoly(image, self._window_quad(f, c), (120, 200, 235), cv2.LINE_AA)

    def _brightness(self, t: float) -> float:
        factor = 1.0
        for d in self.scenario.distractors:
            if isinstance(d, Clouds) and d.at <= t <= d.at + d.duration:
                factor *= 1 - d.depth * math.sin(math.pi * (t - d.at) / d.duration) ** 2
        return factor

    def _shift(self, t: float) -> tuple[float, float]:
        dx = dy = 0.0
        for d in self.scenario.distractors:
            if isinstance(d, Shake) and d.at <= t <= d.at + d.duration:
                a = d.amplitude_px
                dx += a * (0.6 * math.sin(2 * math.pi * 7.3 * t) + 0.4 * math.sin(2 * math.pi * 11.1 * t + 1))
                dy += a * (0.6 * math.sin(2 * math.pi * 6.1 * t + 2) + 0.4 * math.sin(2 * math.pi * 9.7 * t))
        return dx, dy

    def _draw_blurred(
        self,
        image: np.ndarray,
        positions: list[tuple[float, float]],
        radius: float,
        colour: tuple[int, int, int],
        box: bool = False,
    ) -> None:
        """Average of the object drawn at each position of the exposure (motion blur)."""
        if not positions:
            return
        xs = [p[0] for p in positions]
        ys = [p[1] for p in positions]
        r = max(0.6, radius)
        pad = int(r) + 3
        x1, y1 = int(min(xs)) - pad, int(min(ys)) - pad
        x2, y2 = int(max(xs)) + pad + 1, int(max(ys)) + pad + 1
        h, w = image.shape[:2]
        x1c, y1c, x2c, y2c = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if x2c <= x1c or y2c <= y1c:
            return
        alpha = np.zeros((y2 - y1, x2 - x1), np.float32)
        shift = 4  # sub-pixel drawing
        for x, y in positions:
            centre = (int((x - x1) * 16), int((y - y1) * 16))
            layer = np.zeros_like(alpha)
            if box:
                half = int(r * 16)
                cv2.rectangle(
                    layer,
                    (centre[0] - half, centre[1] - half),
                    (centre[0] + half, centre[1] + half),
                    1.0,
                    -1,
                    cv2.LINE_AA,
                    shift,
                )
            else:
                cv2.circle(layer, centre, int(r * 16), 1.0, -1, cv2.LINE_AA, shift)
            alpha += layer
        cover = np.clip(alpha / len(positions), 0, 1)[y1c - y1 : y2c - y1, x1c - x1 : x2c - x1, None]
        roi = image[y1c:y2c, x1c:x2c]
        roi[:] = roi * (1 - cover) + np.array(colour, np.float32) * cover

    def _exposure(self, t: float) -> list[float]:
        period = 1.0 / self.fps
        return [t + SHUTTER * period * (i / (SUBSTEPS - 1) - 0.5) for i in range(SUBSTEPS)]

    def image(self, index: int) -> np.ndarray:
        t = index / self.fps
        sc = self.scenario
        w, h = self.size
        frame = self.background.copy()
        self._draw_lights(frame, t)
        for d in sc.distractors:
            self._draw_distractor(frame, d, t)
        self._draw_leaves(frame, t)
        dim = 0.55 if sc.night else 1.0
        for i, obj in enumerate(sc.objects):
            positions = []
            for te in self._exposure(t):
                at = self._object_at(i, te)
                if at is not None:
                    positions.append(tuple(self.to_image(*at)[0]))
            if positions:
                u, v = self._object_at(i, t) or self._paths[i][0][1:]
                radius = obj.size_m * self.px_per_m(u, v) / 2
                b, g, r = (int(c * dim) for c in obj.colour)
                colour = (b, g, r)
                self._draw_blurred(frame, positions, radius, colour, box=obj.shape == "box")
        frame *= self._brightness(t)
        frame += self._noise[index % len(self._noise)]
        dx, dy = self._shift(t)
        if dx or dy:
            matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
            frame = np.asarray(cv2.warpAffine(frame, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE), np.float32)
        return np.asarray(np.clip(frame, 0, 255), np.uint8)

    def _draw_distractor(self, frame: np.ndarray, d: object, t: float) -> None:
        w, h = self.size
        fac = self.scenario.facade
        if isinstance(d, Bird) and d.at <= t:
            s = (t - d.at) / d.duration
            if s > 1 and not d.landing:
                return
            s = min(s, 1.0)
            if d.landing:
                s = 1 - (1 - s) ** 2  # slows down onto its perch
            x = (d.start[0] + (d.end[0] - d.start[0]) * s) * w
            y = (d.start[1] + (d.end[1] - d.start[1]) * s) * h
            flying = s < 1
            flap = math.sin(2 * math.pi * 5 * t) if flying else 0.0
            y += 2.0 * flap
            half = d.size_px * (0.6 + 0.4 * abs(flap)) if flying else d.size_px * 0.4
            cv2.ellipse(
                frame,
                (int(x), int(y)),
                (max(1, int(half)), max(1, int(d.size_px * 0.3))),
                0,
                0,
                360,
                (40, 40, 45),
                -1,
                cv2.LINE_AA,
            )
        elif isinstance(d, Branches):
            angle = math.radians(d.sway_deg) * math.sin(2 * math.pi * d.sway_hz * t)
            bx, by = d.base[0] * w, d.base[1] * h
            length = d.height * h
            for k in range(7):
                frac = 0.35 + 0.1 * k
                a = angle * frac + (k - 3) * 0.35
                sx, sy = bx + math.sin(angle * frac) * length * frac, by - length * frac
                ex, ey = sx + math.sin(a) * length * 0.35, sy - math.cos(a) * length * 0.25
                cv2.line(frame, (int(sx), int(sy)), (int(ex), int(ey)), (40, 90, 50), 3, cv2.LINE_AA)
                cv2.circle(frame, (int(ex), int(ey)), int(length * 0.08), (50, 120, 60), -1, cv2.LINE_AA)
            cv2.line(
                frame,
                (int(bx), int(by)),
                (int(bx + math.sin(angle) * length), int(by - length)),
                (40, 60, 80),
                5,
                cv2.LINE_AA,
            )
        elif isinstance(d, Rain) and d.at <= t <= d.at + d.duration:
            length = d.speed_m_s * self.px_per_m(fac.columns / 2, fac.floors / 2) / self.fps * SHUTTER
            n = d.drops_per_frame
            offset = int(t * self.fps) * n % (len(self._rain) - n)
            drops = self._rain[offset : offset + n]
            overlay = frame.copy()
            for x, y in drops:
                px, py = int(x * w), int(y * h)
                cv2.line(overlay, (px, py), (px, int(py + length)), (210, 210, 210), 1, cv2.LINE_AA)
            cv2.addWeighted(overlay, 0.35, frame, 0.65, 0, frame)
        elif isinstance(d, Laundry):
            angle = math.radians(d.swing_deg) * math.sin(2 * math.pi * d.swing_hz * t)
            top = self.to_image(d.column - 0.5, d.floor - fac.first_floor + 0.3)[0]
            length = d.length_m * self.px_per_m(d.column - 0.5, d.floor - fac.first_floor)
            end = top + length * np.array([math.sin(angle), math.cos(angle)])
            width = max(2, int(length * 0.4))
            cv2.line(frame, tuple(top.astype(int)), tuple(end.astype(int)), (200, 80, 160), width, cv2.LINE_AA)
        elif isinstance(d, Person) and d.at <= t <= d.at + d.duration:
            phase = ((t - d.at) % d.pace_s) / d.pace_s
            u = d.column - 0.8 + 0.6 * (1 - abs(2 * phase - 1))
            v = d.floor - fac.first_floor + 0.3
            foot = self.to_image(u, v)[0]
            tall = 1.6 * self.px_per_m(u, v)
            cv2.rectangle(
                frame,
                (int(foot[0] - tall * 0.12), int(foot[1] - tall * 0.8)),
                (int(foot[0] + tall * 0.12), int(foot[1])),
                (60, 70, 120),
                -1,
                cv2.LINE_AA,
            )
            cv2.circle(
                frame,
                (int(foot[0]), int(foot[1] - tall * 0.9)),
                max(1, int(tall * 0.1)),
                (120, 150, 190),
                -1,
                cv2.LINE_AA,
            )

    def _draw_leaves(self, frame: np.ndarray, t: float) -> None:
        w, h = self.size
        fac = self.scenario.facade
        scale = self.px_per_m(fac.columns / 2, 1)
        for d, start, x0, y0, phase in self._leaves:
            if t < start:
                continue
            dt = t - start
            y = y0 * h + d.fall_speed_m_s * scale * dt
            if y > h:
                continue
            x = x0 * w + 0.6 * scale * math.sin(2 * math.pi * 0.7 * dt + phase) + 0.8 * scale * dt
            size = d.size_px * (0.5 + 0.5 * abs(math.sin(3 * dt + phase)))
            cv2.ellipse(
                frame,
                (int(x), int(y)),
                (max(1, int(size)), max(1, int(size * 0.5))),
                math.degrees(dt * 3 + phase),
                0,
                360,
                (40, 110, 150),
                -1,
                cv2.LINE_AA,
            )

    # -- output --------------------------------------------------------------------------------------

    def prerender(self) -> FacadeScene:
        """Encode every frame now, so that serving costs nothing (tests with several cameras at once)."""
        self._jpegs = [encode_jpeg(self.image(i), self.scenario.camera.quality) for i in range(self.frame_count)]
        return self

    def frames(self, *, hold_last: bool = False) -> Iterator[bytes]:
        """The scenario as JPEG frames (what ``MjpegServer`` sends); records ``released_at`` (monotonic) and
        ``released_wall``. ``hold_last``: then keep sending the last frame (a camera that stays on)."""
        releases = {i: round(obj.at * self.fps) for i, obj in enumerate(self.scenario.objects)}
        jpeg = b""
        for index in range(self.frame_count):
            jpeg = self._jpegs[index] if self._jpegs else encode_jpeg(self.image(index), self.scenario.camera.quality)
            with self._lock:
                for i, first in releases.items():
                    if index == first and i not in self.released_at:
                        self.released_at[i] = time.monotonic()
                        self.released_wall[i] = time.time()
            yield jpeg
        while hold_last:
            yield jpeg

    def write_video(self, path: str | Path) -> Path:
        """The scenario as a video file (MJPG in AVI), for ``edge fall replay``, tests and benchmarks."""
        path = Path(path)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), self.fps, self.size)
        if not writer.isOpened():
            raise ValueError(f"cannot write video {path}")
        try:
            for index in range(self.frame_count):
                writer.write(self.image(index))
        finally:
            writer.release()
        return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a facade camera (falling objects) as HTTP MJPEG.")
    parser.add_argument("scenario", help=f"scenario name ({', '.join(fall_scenario_names())}) or YAML path")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    parser.add_argument("--port", type=int, default=8083, help="TCP port (0 picks a free one)")
    parser.add_argument("--loop", action="store_true", help="play the scenario again and again")
    parser.add_argument("--video", type=Path, help="write the scenario to this video file instead of serving it")
    parser.add_argument("--calibration", type=Path, help="also write the scene's true facade calibration here")
    parser.add_argument("--prerender", action="store_true", help="encode every frame first (serving costs nothing)")
    parser.add_argument("--size", help="override the scenario's frame size, WIDTHxHEIGHT (e.g. 1920x1080)")
    args = parser.parse_args(argv)
    try:
        scenario = load_fall_scenario(args.scenario)
        if args.size:
            width, height = (int(v) for v in args.size.lower().split("x"))
            scenario = scenario.model_copy(
                update={"camera": scenario.camera.model_copy(update={"width": width, "height": height})}
            )
        scene = FacadeScene(scenario)
    except ValueError as exc:
        parser.error(str(exc))
    if args.prerender:
        scene.prerender()
    if args.calibration is not None:
        from edge.falls.calibration import save_calibration

        save_calibration(scene.calibration(), args.calibration)
        print(f"calibration written to {args.calibration}")
    if args.video is not None:
        scene.write_video(args.video)
        print(f"{scene.frame_count} frames written to {args.video}")
        return
    with MjpegServer(scene.frames, fps=scene.fps, host=args.host, port=args.port, loop=args.loop) as server:
        print(f"facade camera {scene.scenario.name} at {server.url} ({scene.fps:g} fps); Ctrl-C stops", flush=True)
        server.serve_until_interrupted()


if __name__ == "__main__":
    main()
