"""Config model of a face-recognition gate (owned by edge.gate).

One entry of ``gates:`` in the gateway YAML. Defaults come from measurements on the shared clip
(docs/BENCHMARKS.md, faces/README.md): HOG with no upsampling on the full frame finds faces from about
72 px tall in 40 ms; a stranger came within 0.553 of a resident in one frame of 275, every probe of an
enrolled person within 0.44, hence a tolerance of 0.5 and a decision only when 3 of the last 5 frames agree.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge.core.configbase import Strict

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"



STORE_FILE = "residents.db"  # the resident store, in the gateway's data_dir

class DoorConfig(Strict):
    relay_device: str | None = Field(
        default=None, description="device id of the relay board that drives the lock (None: no lock wired)"
    )
    relay_channel: int = Field(default=0, ge=0, le=31, description="relay channel of the lock")
    unlock_s: float = Field(
        default=5.0, ge=1, le=10, description="lock open time; sent as a self-releasing pulse (1-10 s)"
    )
    contact_device: str | None = Field(default=None, description="device id that reports the door contact")
    contact_key: str = Field(default="door_open", description="field of contact_device that reports the contact")
    contact_open_value: bool = Field(
        default=True, description="value of the field when the door is open (False for a contact read inverted)"
    )
    held_open_s: float = Field(
        default=30.0, ge=1, le=255, description="door-held-open alarm after the door stays open this long"
    )
    open_grace_s: float = Field(
        default=2.0, ge=0, le=30, description="an opening this long after the unlock ended still counts as unlocked"
    )


class GateConfig(Strict):
    id: str = Field(pattern=ID_PATTERN, description="gate id; the device of its events and alarms")
    camera: str = Field(
        description="camera source: device index ('0'), video file, rtsp://... or http://... MJPEG stream"
    )
    area: str | None = Field(default=None, description="site area shown in the console")
    detect_width: int | None = Field(
        default=None, ge=160, le=3840,
        description="decode frames at most this wide (None: native); faces must stay >= ~72 px tall",
    )
    upsample: int = Field(
        default=0, ge=0, le=2, description="HOG upsampling: 0 finds faces from ~72 px at 40 ms a 640x360 frame, 1 "
        "from ~40 px but 4x slower"
    )
    track_faces: bool = Field(
        default=True,
        description="search the next frame only around the faces just found (3x cheaper detection); whole frame "
        "when that finds nothing and every full_detect_every frames",
    )
    full_detect_every: int = Field(
        default=5, ge=1, le=30, description="with track_faces: search the whole frame at least every N frames"
    )
    tolerance: float = Field(
        default=0.5, gt=0.2, le=0.7,
        description="largest face distance that counts as a match (face_recognition's 0.6 let a stranger in)",
    )
    k: int = Field(default=3, ge=1, le=50, description="frames that must agree on one person for a decision")
    n: int = Field(default=5, ge=1, le=100, description="window of last frames in which k must agree")
    min_face_px: int = Field(default=60, ge=20, le=1000, description="faces smaller than this (height) are ignored")
    cooldown_s: float = Field(
        default=10.0, ge=0, le=3600,
        description="after a decision, the same person is decided again only once unseen this long",
    )
    snapshot: bool = Field(default=True, description="attach a small JPEG of the best frame to each decision")
    snapshot_width: int = Field(default=320, ge=64, le=1280, description="width of that snapshot")
    door: DoorConfig = Field(default_factory=DoorConfig, description="lock relay and door contact of the gate")
    encoding_model: Literal["small", "large"] = Field(
        default="small", description="landmark model for encodings: 'small' (5 points, faster) or 'large' (68)"
    )

    @model_validator(mode="after")
    def _k_within_n(self) -> GateConfig:
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) must not exceed n ({self.n}): k of the last n frames must agree")
        return self

    def device_references(self) -> list[tuple[str, str]]:
        """(field, device id) of every device this gate uses; the gateway config checks they exist."""
        door = self.door
        refs = [("door.relay_device", door.relay_device), ("door.contact_device", door.contact_device)]
        return [(where, device) for where, device in refs if device is not None]
