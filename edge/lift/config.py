"""Config model of a lift camera (owned by edge.lift).

One entry per lift car::

    lifts:
      - id: lift-b3-1
        camera_url: rtsp://10.0.3.21/stream2
        model: yolox_nano
        model_dir: /var/lib/compound-edge/models
        door_hold: {device: relay-b3, channel: 2}
        door_state: {device: relay-b3, key: di3}
        voice: {device: relay-b3, channel: 3}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from edge.core.configbase import Strict
from edge.core.types import Severity

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class RelayOutput(Strict):
    device: str = Field(pattern=ID_PATTERN, description="relay board device id (its profile has a 'set' action)")
    channel: int = Field(ge=0, le=63, description="relay channel on that board")


class DigitalInput(Strict):
    device: str = Field(pattern=ID_PATTERN, description="device id of the input module")
    key: str = Field(min_length=1, description="profile field of the input, e.g. 'di3'")
    open_when: bool = Field(default=True, description="the value that means 'door open'")


class MotionConfig(Strict):
    enabled: bool = Field(default=True, description="run the detector only where something moves (or door open)")
    width: int = Field(default=160, ge=32, le=640, description="width of the grey image motion is computed on")
    threshold: int = Field(default=25, ge=1, le=255, description="grey-level change that counts as motion")
    min_area: float = Field(
        default=0.002, gt=0, lt=1, description="fraction of the image that must change for a motion box to count"
    )
    learning_rate: float = Field(default=0.1, gt=0, le=1, description="background update per frame")
    recalibrate_fraction: float = Field(
        default=0.45,
        gt=0,
        le=1,
        description="changed fraction treated as a light change (lights, door): the background is reset",
    )
    max_regions: int = Field(
        default=3, ge=1, le=16, description="past this many motion regions the whole frame is scanned"
    )


class ConfirmConfig(Strict):
    window_s: float = Field(
        default=2.5, gt=0, le=30, description="time after the first sighting within which it must be confirmed"
    )
    min_sightings: int = Field(default=2, ge=1, le=50, description="frames with a sighting needed to confirm")
    ignore_s: float = Field(
        default=30.0, ge=0, le=3600, description="an unconfirmed object is ignored this long after release"
    )
    ignore_iou: float = Field(
        default=0.3, gt=0, le=1, description="overlap with an ignored object's box that makes a sighting ignored"
    )
    end_after_s: float = Field(
        default=7.0, gt=0, le=600, description="the alarm ends this long after the last sighting"
    )


class CaptureConfig(Strict):
    dir: Path | None = Field(
        default=None, description="where `edge lift capture` keeps frames; default <data_dir>/lift-capture"
    )
    max_mb: float = Field(
        default=500.0,
        gt=0,
        le=100_000,
        description="disk bound of one lift's captures, MB; past it the oldest episodes are deleted",
    )
    pre_s: float = Field(default=2.0, ge=0, le=30, description="seconds kept from before the motion started")
    post_s: float = Field(default=3.0, ge=0, le=60, description="seconds kept after the motion stopped")
    quality: int = Field(default=90, ge=50, le=100, description="JPEG quality of captured frames")


MAX_NETWORKS = 16


class LiftConfig(Strict):
    id: str = Field(pattern=ID_PATTERN, description="lift id; the device id of its alarms and events")
    area: str | None = Field(default=None, description="site area shown in the console, e.g. 'block 3'")
    camera_url: str = Field(
        min_length=1, description="camera: rtsp://..., http(s)://... MJPEG, a device index or a video file"
    )
    fps: float = Field(default=5.0, gt=0, le=30, description="frames analysed per second")
    decode_width: int = Field(
        default=640, ge=160, le=3840, description="frames are decoded / scaled to at most this width"
    )
    model: str = Field(default="yolox_nano", min_length=1, description="model name in the manifest")
    model_dir: Path | None = Field(
        default=None, description="folder of the model files; default $EDGE_MODEL_DIR, else $EDGE_SHARED/models"
    )
    manifest: Path | None = Field(
        default=None, description="model manifest; default the project's models/manifest.yaml"
    )
    backend: Literal["opencv", "onnxruntime", "auto"] = Field(
        default="opencv", description="inference backend; 'auto' uses onnxruntime when it is installed"
    )
    threads: int = Field(
        default=1,
        ge=0,
        le=64,
        description="threads of one inference (the backend's own threads; 0: library default); lifts with the same "
        "model, model folder, backend, threads and networks share a detector process",
    )
    networks: int | Literal["auto"] = Field(
        default="auto",
        description="copies of the network in the model's detector process, each answering on its own inference "
        "thread; 'auto' starts with one and adds one, up to the cores the process may use, while every copy "
        "is busy (each copy costs its working memory, about 33 MB for YOLOX-nano)",
    )
    score_threshold: float = Field(default=0.4, gt=0, lt=1, description="minimum score of an e-bike sighting")
    nms_iou: float = Field(default=0.45, gt=0, le=1, description="IoU above which overlapping boxes are merged")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="motion gating of the detector")
    confirm: ConfirmConfig = Field(
        default_factory=ConfirmConfig, description="when sightings become an alarm and when it ends"
    )
    door_hold: RelayOutput | None = Field(
        default=None, description="relay wired beside the door-open button; on = door held open"
    )
    hold_pulse_s: float | None = Field(
        default=None,
        ge=1,
        le=600,
        description="hold the door with self-releasing relay pulses of this length, renewed at half of it, "
        "so a gateway that stops cannot leave the door held; unset: plain on/off ('set')",
    )
    door_state: DigitalInput | None = Field(
        default=None, description="door-open input; while open the detector runs on every frame"
    )
    voice: RelayOutput | None = Field(default=None, description="output that plays the voice warning while on")
    severity: Severity = Field(default=Severity.MAJOR, description="severity of the ebike_in_lift alarm")
    max_command_hold_s: float = Field(
        default=600.0, gt=0, le=86_400, description="longest door hold a platform command may ask for"
    )
    camera_process: str = Field(
        default="lifts",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,9}$",
        description="lifts naming the same camera process share it (one thread each; OpenCV loaded once); "
        "give a lift a name of its own to isolate it",
    )
    snapshot_quality: int = Field(default=80, ge=10, le=100, description="JPEG quality of alarm snapshots")
    snapshot_max_bytes: int = Field(
        default=60_000,
        ge=4_000,
        le=2_000_000,
        description="largest alarm snapshot: the JPEG is re-encoded smaller and downscaled until it fits "
        "(keep it under the uplink's packet bound, with room for the alarm's other fields; base64 adds a third)",
    )
    capture: CaptureConfig = Field(
        default_factory=CaptureConfig, description="`edge lift capture`: frames kept around motion, door open"
    )
    reconnect_max_s: float = Field(default=10.0, ge=0.5, le=600, description="camera reconnect back-off cap")

    @field_validator("networks", mode="before")
    @classmethod
    def _networks_count_or_auto(cls, value: Any) -> Any:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_NETWORKS):
            return value
        raise ValueError(f"must be 'auto' or a number of copies from 1 to {MAX_NETWORKS}, not {value!r}")

    @model_validator(mode="after")
    def _outputs_distinct(self) -> LiftConfig:
        if self.door_hold is not None and self.voice is not None and self.door_hold == self.voice:
            raise ValueError("door_hold and voice must be different relay channels")
        return self

    def device_references(self) -> list[tuple[str, str]]:
        """(field, device id) of every device this lift uses; the gateway config checks they exist."""
        refs = [("door_hold", self.door_hold), ("door_state", self.door_state), ("voice", self.voice)]
        return [(where, ref.device) for where, ref in refs if ref is not None]
