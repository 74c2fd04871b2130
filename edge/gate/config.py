"""Config model of a face-recognition gate (owned by edge.gate).

One entry of ``gates:`` in the gateway YAML. The models come from models/faces.yaml by name (detector
YuNet, embedding MobileFaceNet by default; HOG and dlib selectable); the match threshold and margin default
to the embedding's own (measured on faces/asia, docs/gate.md) and can be calibrated per site with
``edge gate calibrate``. A decision needs k of the last n frames to agree, with each face passing the
quality gates and, in liveness mode ``enforce``, the window's combined p(live) at least ``live_threshold``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

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
        default=None,
        ge=160,
        le=3840,
        description="decode frames at most this wide (None: native); faces must stay >= ~72 px tall",
    )
    upsample: int = Field(
        default=0,
        ge=0,
        le=2,
        description="HOG upsampling: 0 finds faces from ~72 px at 40 ms a 640x360 frame, 1 from ~40 px but 4x slower",
    )
    track_faces: bool = Field(
        default=True,
        description="search the next frame only around the faces just found (3x cheaper detection); whole frame "
        "when that finds nothing and every full_detect_every frames",
    )
    full_detect_every: int = Field(
        default=5, ge=1, le=30, description="with track_faces: search the whole frame at least every N frames"
    )
    detector: str = Field(default="yunet", description="face detector of models/faces.yaml: yunet or hog")
    embedding: str = Field(
        default="mobilefacenet", description="face embedding of models/faces.yaml: mobilefacenet or dlib"
    )
    face_detect_width: int | None = Field(
        default=400,
        ge=160,
        le=3840,
        description="YuNet searches the frame shrunk to at most this wide (cost grows with the area; it finds faces "
        "from ~20 px at that size); None: the whole frame as decoded",
    )
    model_dir: str | None = Field(
        default=None, description="folder of the model files (None: $EDGE_MODEL_DIR, else $EDGE_SHARED/models)"
    )
    tolerance: float | None = Field(
        default=None,
        gt=0.05,
        le=1.5,
        description="largest face distance that counts as a match (None: the embedding's calibrated threshold)",
    )
    margin: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="the nearest resident must be this much nearer than the next one (None: the embedding's)",
    )
    min_sharpness: float = Field(
        default=25.0, ge=0, le=5000, description="faces blurrier than this (Laplacian variance at 112 px) are ignored"
    )
    max_yaw: float = Field(
        default=0.6, gt=0, le=2, description="faces turned further than this (nose offset in eye distances) are ignored"
    )
    pitch_range: tuple[float, float] = Field(
        default=(0.2, 0.9), description="nose height between eye line (0) and mouth (1) outside this is ignored"
    )
    liveness: Literal["enforce", "warn", "off"] = Field(
        default="enforce",
        description="enforce: a spoof is denied; warn: granted but reported; off: no liveness model is run",
    )
    live_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="mean p(live) over the agreeing frames needed to count as live"
    )
    spoof_event_interval_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="at most one access.spoof_attempt event (with snapshot) per gate this often; the rest are logged",
    )
    qr_passes: bool = Field(default=True, description="read signed visitor QR passes shown to the camera")
    qr_every: int = Field(default=2, ge=1, le=30, description="look for a QR code every N analysed frames")
    reuse_still_faces: bool = Field(
        default=True,
        description="a face that has not moved since the last frame takes that frame's embedding and p(live), one "
        "frame at a time and never in its first n frames; it adds no vote to the k of n (docs/gate.md)",
    )
    k: int = Field(default=3, ge=1, le=50, description="frames that must agree on one person for a decision")
    n: int = Field(default=5, ge=1, le=100, description="window of last frames in which k must agree")
    min_face_px: int = Field(default=60, ge=20, le=1000, description="faces smaller than this (height) are ignored")
    cooldown_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="after a decision, the same person is decided again only once unseen this long",
    )
    snapshot: bool = Field(default=True, description="attach a small JPEG of the best frame to each decision")
    snapshot_width: int = Field(default=320, ge=64, le=1280, description="width of that snapshot")
    door: DoorConfig = Field(default_factory=DoorConfig, description="lock relay and door contact of the gate")
    encoding_model: Literal["small", "large"] = Field(
        default="small", description="dlib embedding only: landmark model 'small' (5 points, faster) or 'large' (68)"
    )

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, name: str) -> str:
        from edge.gate.models import load_face_manifest

        load_face_manifest().detector(name)
        return name

    @field_validator("embedding")
    @classmethod
    def _known_embedding(cls, name: str) -> str:
        from edge.gate.models import load_face_manifest

        load_face_manifest().embedding(name)
        return name

    @field_validator("pitch_range")
    @classmethod
    def _ordered(cls, bounds: tuple[float, float]) -> tuple[float, float]:
        if not -1 <= bounds[0] < bounds[1] <= 2:
            raise ValueError(f"pitch_range {list(bounds)} must be [low, high] with -1 <= low < high <= 2")
        return bounds

    @property
    def threshold(self) -> float:
        """The match threshold in force: ``tolerance``, else the embedding's default."""
        from edge.gate.models import load_face_manifest

        if self.tolerance is not None:
            return self.tolerance
        return load_face_manifest().embedding(self.embedding).threshold

    @property
    def match_margin(self) -> float:
        from edge.gate.models import load_face_manifest

        return self.margin if self.margin is not None else load_face_manifest().embedding(self.embedding).margin

    @property
    def reuse_after(self) -> int | None:
        """Fresh results a face needs before it may reuse one (None: never): n, so that every decision the first
        window of a face can give is taken on fresh frames only. Off when n < 2k - 1: with every other frame
        reused, k distinct results of a face standing still must fit in the n frames."""
        return self.n if self.reuse_still_faces and self.n >= 2 * self.k - 1 else None

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
