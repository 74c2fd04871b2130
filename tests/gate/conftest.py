"""Fixtures of the gate tests: real faces from the shared data, encoded once per session.

Encodings are slow (20-70 ms each), so every photo and probe is encoded once here and the tests build
their stores from these encodings; only the tests of enrolment itself and of the live pipeline encode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.gate.config import GateConfig
from edge.gate.enrol import Enrolled, Enroller
from edge.gate.faces import Face, FaceAnalyzer
from edge.gate.store import ResidentStore
from tests.conftest import shared_file

RESIDENTS = ("alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie")
# probe photo -> residents it shows (a face of someone else in it must come out as a stranger)
PROBES = {
    "alex_lacamoire1.jpg": {"alex_lacamoire"},
    "obama1.jpg": {"obama"},
    "kit_with_rose.jpg": {"kit_harington", "rose_leslie"},
    "obama_and_biden.jpg": {"obama", "biden"},
    "johnsnow_test1.jpg": {"kit_harington"},
}


@dataclass(frozen=True)
class Probe:
    name: str
    path: Path
    faces: list[Face]
    expected: set[str]


@pytest.fixture(scope="session")
def faces_dir(shared_dir: Path) -> Path:
    return shared_file(shared_dir, "faces")


@pytest.fixture(scope="session")
def clip(faces_dir: Path) -> Path:
    return shared_file(faces_dir.parent, "faces/clips/short_hamilton_clip.mp4")


@pytest.fixture(scope="session")
def enroller() -> Enroller:
    return Enroller()


@pytest.fixture(scope="session")
def enrolled(faces_dir: Path, enroller: Enroller) -> dict[str, list[Enrolled]]:
    """Each resident's photos, encoded once."""
    out = {}
    for person in RESIDENTS:
        photos = sorted(shared_file(faces_dir.parent, f"faces/residents/{person}").iterdir())
        out[person] = [enroller.enrol_file(p) for p in photos]
    return out


def fit(image: np.ndarray, max_side: int = 1280) -> np.ndarray:
    scale = max_side / max(image.shape[:2])
    if scale >= 1:
        return image
    return cv2.resize(
        image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA
    )


@pytest.fixture(scope="session")
def probes(faces_dir: Path) -> list[Probe]:
    """The probe photos through the gate's own analyser (default models), at camera-like size."""
    analyzer = FaceAnalyzer(min_face_px=0)
    out = []
    for name, expected in PROBES.items():
        path = shared_file(faces_dir.parent, f"faces/probes/{name}")
        out.append(Probe(name, path, analyzer.analyze(fit(cv2.imread(str(path)))), expected))
    return out


def make_store(path: Path, enrolled: dict[str, list[Enrolled]], gates: tuple[str, ...] = ("main",)) -> ResidentStore:
    store = ResidentStore(path)
    for person, photos in enrolled.items():
        store.add_resident(person, photos, gates=gates)
    return store


@pytest.fixture
def store(tmp_path: Path, enrolled: dict[str, list[Enrolled]]) -> ResidentStore:
    """A fresh store with every resident allowed at gate 'main'."""
    s = make_store(tmp_path / "residents.db", enrolled)
    yield s
    s.close()


@pytest.fixture
def gate_config() -> GateConfig:
    """The default models and rule; liveness off, because still photos are by nature not live (test_gate_spoof
    has the liveness tests)."""
    return GateConfig(id="main", camera="unused", cooldown_s=5.0, liveness="off")
