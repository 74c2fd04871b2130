"""Where a fall began: the top of its track on the facade grid, with its uncertainty.

The first point of a track is where the object was first seen moving. If the fit says it was already
falling then (it was seen late), it left from higher up by about v0² / 2a; if it was thrown upwards, the
top of its arc is higher than the first point. The uncertainty adds that extrapolation, the blob's size
and a pixel of centroid error to half a floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.falls.calibration import Calibration

PIXEL_ERROR = 1.5  # analysis pixels of centroid error at the first point
FIT_POINTS = 12


@dataclass(frozen=True, slots=True)
class Origin:
    image_xy: tuple[float, float]  # first point of the track, fractions of the frame
    floor: int | None = None
    column: int | None = None
    floor_range: tuple[int, int] | None = None
    column_range: tuple[int, int] | None = None
    floor_uncertainty: float | None = None  # ± floors
    column_uncertainty: float | None = None  # ± columns
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"image_xy": [round(v, 4) for v in self.image_xy]}
        if self.floor is not None:
            out.update(
                {
                    "floor": self.floor,
                    "column": self.column,
                    "floor_range": list(self.floor_range or ()),
                    "column_range": list(self.column_range or ()),
                    "floor_uncertainty": round(self.floor_uncertainty or 0.0, 2),
                    "column_uncertainty": round(self.column_uncertainty or 0.0, 2),
                }
            )
        else:
            out.update({"floor": None, "column": None})
        if self.note:
            out["note"] = self.note
        return out


NO_CALIBRATION = "no facade calibration: floors and columns cannot be named (edge fall calibrate)"


def estimate_origin(
    t: list[float],
    x: list[float],
    y: list[float],
    area: list[float],
    size: tuple[int, int],
    calibration: Calibration | None,
) -> Origin:
    w, h = size
    first = (x[0] / w, y[0] / h)
    if calibration is None:
        return Origin(image_xy=first, note=NO_CALIBRATION)
    k = min(len(t), FIT_POINTS)
    pts = np.column_stack([np.asarray(x[:k]) / w, np.asarray(y[:k]) / h])
    facade = calibration.to_facade(pts)
    ts = np.asarray(t[:k]) - t[0]
    v_coeffs = np.polyfit(ts, facade[:, 1], 2) if k >= 4 else np.array([0.0, 0.0, facade[0, 1]])
    a = max(-2 * v_coeffs[0], 1e-6)  # floors per s², downward
    v0 = v_coeffs[1]  # floors per s, up positive
    u0, v_first = facade[0]
    extra = v0 * v0 / (2 * a)  # floors above the first point where the speed was zero
    extra = float(min(extra, 2.0))
    apex = v0 > 0  # thrown up: the top of the arc is the origin; falling when first seen: up to ``extra`` higher
    v_origin = v_first + (extra if apex else extra / 2)
    # one analysis pixel near the first point in floors and columns
    step = calibration.to_facade(np.array([[first[0], first[1]], [first[0] + 1 / w, first[1] + 1 / h]]))
    px_floor, px_column = abs(step[1, 1] - step[0, 1]), abs(step[1, 0] - step[0, 0])
    radius_px = PIXEL_ERROR + np.sqrt(area[0]) / 2
    dv = 0.5 + radius_px * px_floor + (0.0 if apex else extra / 2)
    du = 0.35 + radius_px * px_column
    location = calibration.locate(float(u0), float(v_origin), du=du, dv=dv)
    return Origin(
        image_xy=first,
        floor=location.floor,
        column=location.column,
        floor_range=location.floor_range,
        column_range=location.column_range,
        floor_uncertainty=dv,
        column_uncertainty=du,
    )
