"""The faces/asia protocol through the gate's own path: enrol photo 1 of each person, replay the others as a clip.

Used by tests/gate/test_gate_asia.py (default model, asserted goals) and bench/face_goals.py (every model).
Each probe photo is shown for ``FRAMES_EACH`` frames at 10 fps on a 640x360 camera frame, with blank frames
between; ``edge gate replay``'s own function decides, with the gate's default rule and cool-down 0 (so that
two probes of one person in a row are two decisions). A probe counts as *granted as themselves*, *granted as
someone else* or *not granted* by the decisions taken while it was in view. Photo 1 is enrolled as it is; when
it shows two people of similar size (four LFW photos) the centre of the photo is enrolled instead, which
is what an installer does with a group photo.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.gate.config import GateConfig
from edge.gate.enrol import Enroller, EnrolmentError
from edge.gate.replay import replay
from edge.gate.store import ResidentStore

FPS = 10
FRAMES_EACH = 4
BLANKS = 2
FRAME = (640, 360)


@dataclass
class AsiaResult:
    model: str
    probes: int = 0
    granted_self: int = 0
    granted_other: int = 0
    outcomes: Counter = field(default_factory=Counter)
    cropped_enrolments: list[str] = field(default_factory=list)

    @property
    def tar(self) -> float:
        return self.granted_self / self.probes if self.probes else 0.0


def people(asia: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(d.glob("*.jpg"), key=lambda p: int(p.stem)) for d in sorted(asia.iterdir()) if d.is_dir()}


def enrol(store: ResidentStore, enroller: Enroller, name: str, photo: Path) -> bool:
    """Enrol photo 1; True when its centre had to be used (a group photo)."""
    try:
        store.add_resident(name, [enroller.enrol_file(photo)], gates=["main"])
        return False
    except EnrolmentError:
        image = cv2.imread(str(photo))
        h, w = image.shape[:2]
        centre = image[int(h * 0.16) : int(h * 0.84), int(w * 0.16) : int(w * 0.84)]
        store.add_resident(name, [enroller.enrol_image(centre, f"{photo} (centre)")], gates=["main"])
        return True


def frame_of(photo: Path | None) -> np.ndarray:
    frame = np.full((FRAME[1], FRAME[0], 3), 100, np.uint8)
    if photo is None:
        return frame
    image = cv2.imread(str(photo))
    image = cv2.resize(image, (330, 330), interpolation=cv2.INTER_CUBIC)  # 250 px LFW crop, face ~150 px
    y, x = (FRAME[1] - 330) // 2, (FRAME[0] - 330) // 2
    frame[y : y + 330, x : x + 330] = image
    return frame


def write_clip(path: Path, probes: list[tuple[str, Path]]) -> list[tuple[float, float, str]]:
    """The probes as one video; (start s, end s, person) of each probe's frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, FRAME)
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4v video here")
    spans, index = [], 0
    blank = frame_of(None)
    for person, photo in probes:
        image = frame_of(photo)
        start = index / FPS
        for _ in range(FRAMES_EACH):
            writer.write(image)
            index += 1
        spans.append((start, index / FPS, person))
        for _ in range(BLANKS):
            writer.write(blank)
            index += 1
    writer.release()
    return spans


def run(
    asia: Path, workdir: Path, embedding: str = "mobilefacenet", enroller: Enroller | None = None, **gate
) -> AsiaResult:
    workdir.mkdir(parents=True, exist_ok=True)
    store = ResidentStore(workdir / f"asia-{embedding}.db")
    enroller = enroller or Enroller()
    result = AsiaResult(embedding)
    probes = []
    for name, photos in people(asia).items():
        if enrol(store, enroller, name, photos[0]):
            result.cropped_enrolments.append(name)
        probes += [(name, p) for p in photos[1:]]
    clip = workdir / "asia-probes.mp4"
    spans = write_clip(clip, probes)
    names = {r.id: r.name for r in store.residents()}
    config = GateConfig(id="main", camera=str(clip), embedding=embedding, cooldown_s=0, **gate)
    decisions = list(replay(clip, config, store, liveness="off"))
    store.close()
    for start, end, person in spans:
        seen = [d for d in decisions if start - 1e-6 <= d.t < end + 1e-6]
        granted = {names.get(d.owner.id) for d in seen if d.allowed and d.owner is not None}
        result.probes += 1
        if person in granted:
            result.granted_self += 1
            result.outcomes["granted as themselves"] += 1
        elif granted:
            result.outcomes["granted as someone else"] += 1
        else:
            result.outcomes["not granted"] += 1
        result.granted_other += bool(granted - {person})
    return result
