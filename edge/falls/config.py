"""Config model of a falling-object camera (高空抛物), owned by edge.falls.

One entry per camera at the foot of a building, looking up its facade::

    falls:
      - id: facade-b3-south
        camera_url: rtsp://10.0.3.31/stream1
        fps: 25
        calibration: /etc/compound-edge/falls/facade-b3-south.yaml   # from `edge fall calibrate`
        masks: [{name: tree, box: [0.0, 0.7, 0.25, 1.0]}]
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from edge.core.configbase import Strict, require_unique
from edge.core.types import Severity

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
JPEG_BYTES_PER_PIXEL = 0.3  # a ring frame at quality 90, on the generous side (a noisy night picture)


class MaskZone(Strict):
    name: str = Field(min_length=1, max_length=64, description="what is masked: sky, tree, road, flag")
    box: tuple[float, float, float, float] = Field(
        description="x1, y1, x2, y2 as fractions of the frame width and height (0-1), so one mask fits any "
        "resolution the camera is switched to"
    )

    @field_validator("box")
    @classmethod
    def _inside_the_frame(cls, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = box
        if not all(0.0 <= v <= 1.0 for v in box):
            raise ValueError(f"mask box {list(box)} is outside the frame: each value is a fraction in [0, 1]")
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"mask box {list(box)} is empty: x2 must exceed x1 and y2 must exceed y1")
        return box


class DetectionConfig(Strict):
    analysis_width: int = Field(
        default=640, ge=160, le=1920, description="frames are analysed at this width (pixels); every frame is analysed"
    )
    colour: bool = Field(
        default=True,
        description="background model on colour, not grey levels: finds an object as bright as the window behind "
        "it (about 1.5x the subtraction's cost)",
    )
    var_threshold: float = Field(
        default=20.0, ge=4, le=200, description="background subtractor (MOG2) threshold on the squared distance"
    )
    history: int = Field(default=150, ge=10, le=5000, description="frames the background model remembers")
    min_blob_px: int = Field(
        default=6,
        ge=1,
        le=10_000,
        description="smallest moving blob, in analysis pixels (6: about 3 px across, 6 px on a 1280-wide camera)",
    )
    max_blob_fraction: float = Field(
        default=0.004, gt=0, le=0.2, description="larger blobs (a lit window, a person) are not falling objects"
    )
    max_blobs: int = Field(default=64, ge=1, le=1000, description="blobs tracked per frame, the largest first")
    light_change_fraction: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="moving fraction of the frame taken as a light change: the background is relearnt",
    )
    min_track_frames: int = Field(default=7, ge=4, le=200, description="frames a track needs before it is judged")
    min_coverage: float = Field(
        default=0.8, gt=0, le=1, description="fraction of the frames of its span a fall must be seen on"
    )
    max_missed_frames: int = Field(
        default=2, ge=0, le=25, description="frames a track may go unseen (occlusion, a dim frame) and continue"
    )
    min_drop_m: float = Field(
        default=1.5, gt=0, le=100, description="with a calibration: the drop a track needs to be a fall, metres"
    )
    min_drop_fraction: float = Field(
        default=0.05, gt=0, le=1, description="without a calibration: the same, as a fraction of the frame height"
    )
    acceleration_m_s2: tuple[float, float] = Field(
        default=(6.0, 13.0),
        description="with a calibration: downward acceleration a fall may have, m/s² (g = 9.81, less with drag)",
    )
    acceleration_frames_s2: tuple[float, float] = Field(
        default=(0.12, 1.5),
        description="without a calibration: the same in frame heights per s² (wide: the scale is unknown)",
    )
    max_fit_rms_px: float = Field(
        default=1.0, gt=0, le=50, description="largest RMS residual of the y(t) and x(t) fits, in analysis pixels"
    )
    max_sideways_ratio: float = Field(
        default=2.0,
        gt=0,
        le=10,
        description="largest sideways / downward travel of a fall in pixels (thrown objects drift; a tall facade is "
        "squeezed vertically in the picture)",
    )

    @field_validator("acceleration_m_s2", "acceleration_frames_s2")
    @classmethod
    def _ordered(cls, pair: tuple[float, float]) -> tuple[float, float]:
        if not 0 < pair[0] < pair[1]:
            raise ValueError(f"expected [low, high] with 0 < low < high, got {list(pair)}")
        return pair


class ShakeConfig(Strict):
    compensate_px: float = Field(
        default=2.5,
        ge=0,
        le=50,
        description="global shifts of the picture up to this (analysis pixels) are compensated",
    )
    calm_s: float = Field(
        default=1.0, gt=0, le=60, description="after a larger shift, analysis resumes once this long is calm"
    )


class NightConfig(Strict):
    below_level: float = Field(
        default=55.0, ge=0, le=255, description="mean grey level under which the camera is taken to be at night"
    )
    threshold_factor: float = Field(
        default=1.6, ge=1, le=10, description="at night the subtractor threshold is multiplied by this (noise)"
    )
    min_blob_factor: float = Field(
        default=2.0, ge=1, le=20, description="at night the smallest blob is multiplied by this"
    )


class EvidenceConfig(Strict):
    clip_dir: Path | None = Field(default=None, description="folder of the clips; default <data_dir>/falls/<camera id>")
    before_s: float = Field(default=3.0, ge=0, le=30, description="a clip starts this long before the fall")
    after_s: float = Field(default=3.0, ge=0, le=60, description="and ends this long after it was detected")
    clip_width: int = Field(default=640, ge=160, le=1920, description="clips are written at most this wide")
    ring_quality: int = Field(
        default=90, ge=50, le=100, description="JPEG quality of the frames kept in memory before a fall (and the clip)"
    )
    max_ring_mb: float = Field(
        default=96.0, gt=0, le=4096, description="memory for the frames kept before a fall (bounds before_s)"
    )
    max_total_mb: float = Field(default=2048.0, gt=0, le=1_000_000, description="clips kept on disk in all, MiB")
    max_age_days: float = Field(default=90.0, gt=0, le=3650, description="clips older than this are deleted")

    def folder(self, data_dir: Path, camera_id: str) -> Path:
        return self.clip_dir or data_dir / "falls" / camera_id


class FallCameraConfig(Strict):
    id: str = Field(pattern=ID_PATTERN, description="camera id; the device id of its alarms and events")
    area: str | None = Field(default=None, description="site area shown in the console, e.g. 'block 3 south'")
    camera_url: str = Field(
        min_length=1, description="camera: rtsp://..., http(s)://... MJPEG, a device index or a video file"
    )
    fps: float = Field(default=25.0, gt=0, le=60, description="frames analysed per second (the camera's rate)")
    decode_width: int = Field(
        default=1280, ge=160, le=3840, description="frames are decoded / scaled to at most this width"
    )
    calibration: Path | None = Field(
        default=None, description="facade calibration from `edge fall calibrate`; without it floors are not named"
    )
    masks: list[MaskZone] = Field(default_factory=list, description="zones never analysed (sky, trees, roads, a flag)")
    detection: DetectionConfig = Field(default_factory=DetectionConfig, description="what counts as a fall")
    shake: ShakeConfig = Field(default_factory=ShakeConfig, description="camera shaken by wind")
    night: NightConfig = Field(default_factory=NightConfig, description="the reduction at night")
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig, description="clips kept as evidence")
    severity: Severity = Field(default=Severity.CRITICAL, description="severity of the fall_detected alarm")
    clear_after_s: float = Field(
        default=120.0, gt=0, le=86_400, description="the fall_detected alarm clears this long after the fall"
    )
    snapshot_quality: int = Field(default=85, ge=10, le=100, description="JPEG quality of alarm snapshots")
    reconnect_max_s: float = Field(default=10.0, ge=0.5, le=600, description="camera reconnect back-off cap")

    @field_validator("masks")
    @classmethod
    def _unique_mask_names(cls, masks: list[MaskZone]) -> list[MaskZone]:
        require_unique([m.name for m in masks], "mask name")
        return masks

    @model_validator(mode="after")
    def _ring_fits(self) -> FallCameraConfig:
        ev = self.evidence
        frame_mb = ev.clip_width * ev.clip_width * 9 / 16 * JPEG_BYTES_PER_PIXEL / 2**20
        needed = frame_mb * self.fps * ev.before_s
        if needed > ev.max_ring_mb:
            raise ValueError(
                f"evidence: {ev.before_s:g} s before a fall at {self.fps:g} fps and {ev.clip_width} px wide needs "
                f"about {needed:.0f} MiB, over max_ring_mb {ev.max_ring_mb:g}; lower before_s or clip_width"
            )
        return self

    def device_references(self) -> list[tuple[str, str]]:
        return []
