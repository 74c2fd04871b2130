"""Face-gate benchmark (issue 4): frame-to-decision time and fps, against the face_recognition example pipeline.

1. per frame, in this process, on the stranger clip (275 frames, 640x360) and on a slideshow of the resident
   probes (960x540, 10 empty frames then 10 of each photo): the library's example pipeline (HOG with its
   default upsampling, encode every face of every full frame, one-frame match at 0.6) and the gate's (HOG
   without upsampling, searched around the last faces, minimum face size, k-of-n decision); ms a frame,
   fps, and what each would have let in;
2. live, end to end: the clip, then a slideshow of resident probes, served as an MJPEG camera in real time
   (30 fps), read by the gate's own vision process (spawn) and decided in this event loop; analysed fps,
   frame-to-decision time (camera capture -> decision taken), and for the slideshow the time from the
   first frame with the resident to the grant;
3. matching one face against 10,000 and 100,000 synthetic encodings (the gallery's vectorised distances).

    python -m bench.gate_bench [--seconds 15] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import dlib
import numpy as np

from drivers.camera import CameraSource
from edge.gate.config import GateConfig
from edge.gate.decider import GateDecider
from edge.gate.enrol import Enroller
from edge.gate.faces import FaceAnalyzer, face_recognition
from edge.gate.matcher import Matcher
from edge.gate.store import ResidentStore
from edge.gate.worker import FrameResult, VisionWorker, WorkerSettings
from simulators.mjpeg import MjpegServer, slideshow_frames, video_frames

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGE_SHARED", ROOT.parent / "shared"))
FACES = SHARED / "faces"
CLIP = FACES / "clips" / "short_hamilton_clip.mp4"
PROBES = {  # probe -> residents in it
    "alex_lacamoire1.jpg": {"alex_lacamoire"},
    "obama1.jpg": {"obama"},
    "kit_with_rose.jpg": {"kit_harington", "rose_leslie"},
    "obama_and_biden.jpg": {"obama", "biden"},
    "johnsnow_test1.jpg": {"kit_harington"},
}
SLIDE_SIZE = (960, 540)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def build_store(path: Path) -> tuple[ResidentStore, float]:
    store = ResidentStore(path)
    enroller = Enroller()
    started = time.perf_counter()
    photos = 0
    for person in sorted((FACES / "residents").iterdir()):
        enrolled = [enroller.enrol_file(p) for p in sorted(person.iterdir())]
        photos += len(enrolled)
        store.add_resident(person.name, enrolled, gates=["main"])
    return store, (time.perf_counter() - started) / photos


def clip_frames() -> list[np.ndarray]:
    with CameraSource(CLIP) as camera:
        return [f.image for f in iter(camera.read, None)]


# -- 1. per frame, in process --------------------------------------------------------------------------
def owner_names(store: ResidentStore, model: str = "mobilefacenet") -> list[str]:
    names = {r.id: r.name for r in store.residents()}
    return [names[o.id] for o in store.gallery(model)[1]]


def example_pipeline(frames: list[np.ndarray], labels: list[set[str]], store: ResidentStore) -> dict[str, Any]:
    """face_recognition's example: detect (upsample 1) and encode every full frame, match each frame alone."""
    fr = face_recognition()
    known, names = store.gallery("dlib")[0], owner_names(store, "dlib")
    times, wrong, right = [], 0, 0
    for frame, label in zip(frames, labels, strict=True):
        started = time.perf_counter()
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        encodings = fr.face_encodings(rgb, fr.face_locations(rgb))
        matched = {names[i] for e in encodings for i, hit in enumerate(fr.compare_faces(known, e, 0.6)) if hit}
        times.append(time.perf_counter() - started)
        wrong += bool(matched - label)
        right += bool(matched & label)
    return {
        "ms_per_frame": ms(statistics.mean(times)),
        "fps": round(len(times) / sum(times), 2),
        "frames": len(frames),
        "frames_accepting_a_wrong_person": wrong,
        "frames_recognising_a_resident": right,
    }


def gate_pipeline(
    frames: list[np.ndarray], labels: list[set[str]], store: ResidentStore, config: GateConfig, fps: float
) -> dict[str, Any]:
    analyzer = FaceAnalyzer(
        upsample=config.upsample,
        min_face_px=config.min_face_px,
        track=config.track_faces,
        full_every=config.full_detect_every,
    )
    decider: GateDecider[int] = GateDecider(config, store, consume=False)
    times, decisions = [], []
    for i, frame in enumerate(frames):
        started = time.perf_counter()
        decisions += decider.decide(i / fps, time.time(), analyzer.analyze(frame), i)
        times.append(time.perf_counter() - started)
    return {
        "ms_per_frame": ms(statistics.mean(times)),
        "p95_ms": ms(pct(times, 0.95)),
        "fps": round(len(times) / sum(times), 2),
        "decisions": len(decisions),
        "false_accepts": sum(d.allowed and d.name not in labels[d.best] for d in decisions),
        "grants": sum(d.allowed and d.name in labels[d.best] for d in decisions),
        "stranger_decisions": sum(d.kind == "access.stranger" for d in decisions),
    }


def slideshow_frames_in_memory(blank: int, shown: int) -> tuple[list[np.ndarray], list[set[str]]]:
    """The probes at the slideshow's size: ``blank`` empty frames, then ``shown`` frames of each photo."""
    from simulators.mjpeg import letterbox

    empty = np.zeros((SLIDE_SIZE[1], SLIDE_SIZE[0], 3), dtype=np.uint8)
    frames, labels = [], []
    for name, people in PROBES.items():
        photo = letterbox(cv2.imread(str(FACES / "probes" / name)), SLIDE_SIZE)
        frames += [empty] * blank + [photo] * shown
        labels += [set()] * blank + [people] * shown
    return frames, labels


# -- 2. live, end to end -------------------------------------------------------------------------------
class SteppedSlideshow:
    """Blank frames, then a probe photo: remembers when each photo was first handed to the server."""

    def __init__(self, blank_frames: int, photo_frames: int) -> None:
        self.blank_frames, self.photo_frames = blank_frames, photo_frames
        self.stepped_in: list[tuple[float, str]] = []
        self.jpegs = {name: next(slideshow_frames([FACES / "probes" / name], 1, SLIDE_SIZE)) for name in PROBES}
        self.blank = np.zeros((SLIDE_SIZE[1], SLIDE_SIZE[0], 3), dtype=np.uint8)

    def __call__(self):
        while True:
            for name, jpeg in self.jpegs.items():
                yield from [self.blank] * self.blank_frames
                self.stepped_in.append((time.time(), name))
                yield from [jpeg] * self.photo_frames


async def live(source, store: ResidentStore, config: GateConfig, seconds: float, fps: float) -> dict[str, Any]:
    decider: GateDecider[FrameResult] = GateDecider(config, store, consume=False)
    analysed: list[FrameResult] = []
    latencies, decisions = [], []
    with MjpegServer(source, fps=fps) as server:
        worker = VisionWorker(WorkerSettings.of(config.model_copy(update={"camera": server.url})))
        start = None
        messages = worker.messages()
        try:
            async for message in messages:
                if not isinstance(message, FrameResult):
                    continue
                if start is None:  # the process is up and the first frame analysed: measure from here
                    start = time.monotonic()
                analysed.append(message)
                for d in decider.decide(message.ts, time.time(), message.faces, message):
                    latencies.append(time.time() - message.ts)
                    decisions.append((time.time(), d))
                if time.monotonic() - start >= seconds:
                    break
        finally:
            await messages.aclose()
    span = analysed[-1].ts - analysed[0].ts
    return {
        "served_fps": fps,
        "analysed_fps": round((len(analysed) - 1) / span, 2),
        "analyse_ms": ms(statistics.mean(r.analyse_s for r in analysed)),
        "frames_skipped_pct": round(100 * (1 - (len(analysed) - 1) / (span * fps)), 1),
        "decisions": len(decisions),
        "false_accepts": None,
        "decision_latency_ms": [ms(v) for v in latencies],
        "_decisions": decisions,
        "_start": analysed[0].ts,
    }


def grant_times(
    decisions: list[tuple[float, Any]], stepped_in: list[tuple[float, str]], since: float
) -> dict[str, Any]:
    """Per photo shown (after the vision process was up): from its first frame to the grant of each resident."""
    waits, missed, wrong = [], 0, 0
    stepped_in = [(t, name) for t, name in stepped_in if t >= since]
    for i, (t0, name) in enumerate(stepped_in[:-1]):
        t1 = stepped_in[i + 1][0]
        for person in PROBES[name]:
            grants = [t for t, d in decisions if t0 <= t < t1 and d.allowed and d.name == person]
            if grants:
                waits.append(grants[0] - t0)
            else:
                missed += 1
        wrong += sum(1 for t, d in decisions if t0 <= t < t1 and d.allowed and d.name not in PROBES[name])
    return {
        "grants": len(waits),
        "missed": missed,
        "wrong_person": wrong,
        "step_in_to_grant_ms": {
            "median": ms(statistics.median(waits)) if waits else None,
            "p95": ms(pct(waits, 0.95)) if waits else None,
            "max": ms(max(waits)) if waits else None,
        },
    }


# -- 3. matching ---------------------------------------------------------------------------------------
def matching(sizes: tuple[int, ...] = (10_000, 100_000), runs: int = 200) -> list[dict[str, Any]]:
    rng = np.random.default_rng(1)
    fr = face_recognition()
    out = []
    for size in sizes:
        gallery = rng.normal(0, 0.09, (size, 128))
        matcher = Matcher(gallery, list(range(size)))
        probe = gallery[size // 2] + rng.normal(0, 0.01, 128)
        matcher.nearest([probe])  # warm up
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            (match,) = matcher.nearest([probe])
            times.append(time.perf_counter() - started)
        assert match.owner == size // 2
        started = time.perf_counter()
        for _ in range(max(1, runs // 10)):
            fr.face_distance(gallery, probe)
        library = (time.perf_counter() - started) / max(1, runs // 10)
        started = time.perf_counter()
        Matcher(gallery, list(range(size)))
        build = time.perf_counter() - started
        out.append(
            {
                "gallery": size,
                "ms_per_face": round(statistics.median(times) * 1000, 3),
                "p95_ms": round(pct(times, 0.95) * 1000, 3),
                "face_distance_ms": round(library * 1000, 3),
                "build_ms": ms(build),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each live run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not CLIP.exists():
        raise SystemExit(f"shared faces not found at {FACES} (set EDGE_SHARED)")
    config = GateConfig(id="main", camera="unused")
    with tempfile.TemporaryDirectory() as tmp:
        store, enrol_s = build_store(Path(tmp) / "residents.db")
        frames = clip_frames()
        report: dict[str, Any] = {
            "machine": f"{platform.machine()} {os.cpu_count()} cpu, dlib BLAS: {dlib.DLIB_USE_BLAS}",
            "date": time.strftime("%Y-%m-%d"),
            "enrol_ms_per_photo": ms(enrol_s),
            "config": config.model_dump(include={"upsample", "tolerance", "k", "n", "min_face_px", "cooldown_s"}),
        }
        nobody = [set()] * len(frames)
        report["clip_example"] = example_pipeline(frames, nobody, store)
        report["clip_gate"] = gate_pipeline(frames, nobody, store, config, 29.97)
        report["clip_throughput_x"] = round(report["clip_gate"]["fps"] / report["clip_example"]["fps"], 2)
        slides, labels = slideshow_frames_in_memory(blank=10, shown=10)
        report["slideshow_example"] = example_pipeline(slides, labels, store)
        report["slideshow_gate"] = gate_pipeline(
            slides, labels, store, config.model_copy(update={"cooldown_s": 0.2}), 30.0
        )
        report["slideshow_throughput_x"] = round(
            report["slideshow_gate"]["fps"] / report["slideshow_example"]["fps"], 2
        )
        print(json.dumps(report, indent=1), flush=True)

        clip_live = asyncio.run(live(lambda: video_frames(CLIP), store, config, args.seconds, 30.0))
        clip_live["false_accepts"] = sum(d.allowed for _, d in clip_live.pop("_decisions"))
        clip_live.pop("_start")
        lat = clip_live.pop("decision_latency_ms")
        clip_live["decision_latency_ms"] = {
            "median": statistics.median(lat) if lat else None,
            "max": max(lat) if lat else None,
        }
        report["clip_live"] = clip_live

        show = SteppedSlideshow(blank_frames=30, photo_frames=45)  # 1 s nobody, 1.5 s a resident, at 30 fps
        slide_live = asyncio.run(live(show, store, config.model_copy(update={"cooldown_s": 0.5}), args.seconds, 30.0))
        decisions = slide_live.pop("_decisions")
        slide_live["false_accepts"] = sum(
            1 for _, d in decisions if d.allowed and d.name not in {p for names in PROBES.values() for p in names}
        )
        lat = slide_live.pop("decision_latency_ms")
        slide_live["decision_latency_ms"] = {
            "median": statistics.median(lat) if lat else None,
            "max": max(lat) if lat else None,
        }
        slide_live.update(grant_times(decisions, show.stepped_in, slide_live.pop("_start")))
        report["slideshow_live"] = slide_live
        report["matching"] = matching()
        store.close()
    print(json.dumps({k: report[k] for k in ("clip_live", "slideshow_live", "matching")}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
