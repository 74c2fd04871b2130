"""Issue 12's goals for the gate, measured side by side in one run (docs/BENCHMARKS.md, "Gate: models, liveness, QR").

1. faces/asia through the gate's own path (bench/asia_protocol.py), per embedding model: probes granted as
   themselves and as someone else;
2. the poster of faces/spoof and a phone replaying a resident's photo, liveness enforce: grants;
3. per-frame throughput on the stranger clip: face_recognition's example pipeline (HOG upsample 1, encode
   every face, compare at 0.6) against the gate's (YuNet + MobileFaceNet + MiniFASNetV2 liveness + the QR
   reader), same process, same dlib build;
4. live, with the MJPEG camera simulator and the gate's vision process: from a resident stepping into view
   (first frame served with them) to the grant, and from a QR pass shown to its grant;
5. 1:N matching of one face against 100,000 enrolled embeddings (cosine, best and second-best owner).

    python -m bench.face_goals [--seconds 20] [--json out.json]
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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench import asia_protocol
from bench.gate_bench import FACES, SHARED, clip_frames, example_pipeline, ms, pct
from edge.gate.config import GateConfig
from edge.gate.decider import GateDecider
from edge.gate.enrol import Enroller
from edge.gate.faces import FaceAnalyzer
from edge.gate.matcher import Matcher
from edge.gate.pass_book import PassBook
from edge.gate.qr_decider import QrDecider
from edge.gate.qr_reader import QrReader
from edge.gate.store import ResidentStore
from edge.gate.visitor_qr import PassClaims, issue_text
from edge.gate.worker import FrameResult, VisionWorker, WorkerSettings, limit_threads
from simulators.mjpeg import MjpegServer, letterbox

SIZE = (960, 540)


def asia(work: Path, enroller: Enroller) -> list[dict[str, Any]]:
    out = []
    for model in ("mobilefacenet", "dlib"):
        started = time.perf_counter()
        r = asia_protocol.run(FACES / "asia", work / model, embedding=model, enroller=enroller)
        out.append(
            {
                "model": model,
                "probes": r.probes,
                "granted_self": r.granted_self,
                "granted_as_someone_else": r.granted_other,
                "tar": round(r.tar, 3),
                "outcomes": dict(r.outcomes),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    return out


def spoofs(work: Path, enroller: Enroller) -> dict[str, Any]:
    from tests.gate.test_gate_spoof import on_camera, phone_replay

    store = ResidentStore(work / "spoof.db")
    store.add_resident("woman", [enroller.enrol_file(FACES / "spoof" / "live.jpg")])
    store.add_resident("jackie", [enroller.enrol_file(FACES / "asia" / "Jackie_Chan" / "1.jpg")])
    config = GateConfig(id="main", camera="unused", cooldown_s=0)
    result = {}
    for name, frames in (
        ("poster", [on_camera(cv2.imread(str(FACES / "spoof" / "print_attack.jpg")))] * 30),
        (
            "phone_replay",
            [phone_replay(cv2.imread(str(FACES / "asia" / "Jackie_Chan" / "2.jpg")), i / 10) for i in range(30)],
        ),
        ("live_woman", [on_camera(cv2.imread(str(FACES / "spoof" / "live.jpg")))] * 30),
    ):
        decider: GateDecider[int] = GateDecider(config, store)
        analyzer = FaceAnalyzer(reuse_after=config.reuse_after)  # a still picture: reused as the gate would
        decisions = [
            d for i, f in enumerate(frames) for d in decider.decide(i / 10, time.time(), analyzer.analyze(f), i)
        ]
        result[name] = {
            "decisions": len(decisions),
            "grants": sum(d.allowed for d in decisions),
            "kinds": sorted({d.kind.value for d in decisions}),
        }
    store.close()
    return result


def throughput(store: ResidentStore, frames: list[np.ndarray]) -> dict[str, Any]:
    labels = [set() for _ in frames]
    cpu = time.process_time()
    example = example_pipeline(frames, labels, store)
    example["cpu_ms_per_frame"] = ms((time.process_time() - cpu) / len(frames))
    config = GateConfig(id="main", camera="unused")  # the defaults: YuNet, MobileFaceNet, liveness enforce, QR
    limit_threads()  # as the vision process does (the example pipeline ran before: dlib and OpenBLAS as shipped)
    analyzer, qr = WorkerSettings.of(config).analyzer(), QrReader()
    decider: GateDecider[int] = GateDecider(config, store, consume=False)
    times, decisions = [], []
    cpu = time.process_time()
    for i, frame in enumerate(frames):
        started = time.perf_counter()
        faces = analyzer.analyze(frame)  # what the vision process does with each frame
        if i % config.qr_every == 0:
            qr.read(frame)
        decisions += decider.decide(i / 30, time.time(), faces, i)
        times.append(time.perf_counter() - started)
    ours = {
        "ms_per_frame": ms(statistics.mean(times)),
        "p95_ms": ms(pct(times, 0.95)),
        "cpu_ms_per_frame": ms((time.process_time() - cpu) / len(frames)),
        "fps": round(len(times) / sum(times), 2),
        "grants": sum(d.allowed for d in decisions),
        "decisions": [d.kind.value for d in decisions],
    }
    return {
        "example_pipeline": example,
        "gate": ours,
        "speedup": round(example["ms_per_frame"] / ours["ms_per_frame"], 1),
        "speedup_cpu": round(example["cpu_ms_per_frame"] / ours["cpu_ms_per_frame"], 1),
    }


class Stepping:
    """Blank frames, then a scene: records when the scene's first frame was handed to the server."""

    def __init__(self, scenes: list[np.ndarray], blank: int, shown: int) -> None:
        self.scenes, self.blank_n, self.shown = scenes, blank, shown
        self.blank = np.full((SIZE[1], SIZE[0], 3), 100, np.uint8)
        self.stepped: list[float] = []

    def __call__(self):
        while True:
            for scene in self.scenes:
                yield from [self.blank] * self.blank_n
                self.stepped.append(time.time())
                yield from [scene] * self.shown


async def time_to_grant(
    scenes: list[np.ndarray], store: ResidentStore, config: GateConfig, seconds: float, key=None, fps: float = 25.0
) -> dict[str, Any]:
    source = Stepping(scenes, blank=int(fps), shown=int(fps * 1.5))
    decider: GateDecider[FrameResult] = GateDecider(config, store, consume=False)
    qr: QrDecider[FrameResult] = QrDecider(
        gate="main", site="site1", public_key=key, book=PassBook(store.db), cooldown_s=1.0, consume=False
    )
    grants: list[float] = []
    analyse = []
    rss_mb = None
    with MjpegServer(source, fps=fps) as server:
        worker = VisionWorker(WorkerSettings.of(config.model_copy(update={"camera": server.url})))
        start = None
        messages = worker.messages()
        try:
            async for message in messages:
                if not isinstance(message, FrameResult):
                    continue
                start = start or time.time()
                analyse.append(message.analyse_s)
                found = decider.decide(message.ts, time.time(), message.faces, message)
                found += qr.decide(message.ts, time.time(), message.qr, message)
                grants += [time.time() for d in found if d.allowed]
                if time.time() - start >= seconds:
                    rss_mb = vm_rss_mb(worker.pid)
                    break
        finally:
            await messages.aclose()
    waits = []
    stepped = [t for t in source.stepped if t >= start]
    for i, t0 in enumerate(stepped[:-1]):
        after = [g - t0 for g in grants if t0 <= g < stepped[i + 1]]
        if after:
            waits.append(after[0])
    return {
        "camera_fps": fps,
        "shown": len(stepped) - 1,
        "granted": len(waits),
        "analyse_ms": ms(statistics.mean(analyse)),
        "median_ms": ms(statistics.median(waits)) if waits else None,
        "max_ms": ms(max(waits)) if waits else None,
        "vision_process_rss_mb": rss_mb,
    }


def vm_rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process (the gate's vision process), MB; None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, TypeError):
        return None
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return round(kb / 1024, 1)


def matching_100k(runs: int = 200) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    size = 100_000
    gallery = rng.normal(0, 1, (size, 128)).astype(np.float32)
    matcher = Matcher(gallery, [i // 3 for i in range(size)], metric="cosine")  # 3 photos a resident
    probe = gallery[size // 2] + rng.normal(0, 0.1, 128)
    matcher.nearest([probe])
    times, cpu = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        (match,) = matcher.nearest([probe])
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    assert match.owner == (size // 2) // 3
    return {
        "gallery": size,
        "median_ms": round(statistics.median(times) * 1000, 3),
        "p95_ms": round(pct(times, 0.95) * 1000, 3),
        "cpu_median_ms": round(statistics.median(cpu) * 1000, 3),
    }


PARTS = ("asia", "spoof", "throughput", "live", "matching")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each live run")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--only", default="", help="comma list of parts: " + ", ".join(PARTS))
    args = parser.parse_args()
    parts = [p for p in args.only.split(",") if p] or list(PARTS)
    if unknown := [p for p in parts if p not in PARTS]:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "load_before": Path("/proc/loadavg").read_text().split()[:3],
        "dlib_blas": bool(dlib.DLIB_USE_BLAS),
        "opencv": cv2.__version__,
        "shared": str(SHARED),
    }

    def report(name: str, value: Any) -> None:
        results[name] = value
        print(json.dumps({name: value}), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        enroller = Enroller()
        if "asia" in parts:
            report("asia", asia(work, enroller))
        if "spoof" in parts:
            report("spoof", spoofs(work, enroller))
        store = ResidentStore(work / "residents.db")
        for person in sorted((FACES / "residents").iterdir()):
            store.add_resident(person.name, [enroller.enrol_file(p) for p in sorted(person.iterdir())])
        if "throughput" in parts:
            report("throughput_stranger_clip", throughput(store, clip_frames()))
        if "live" in parts:
            config = GateConfig(id="main", camera="unused", cooldown_s=0.5)  # defaults: liveness enforce, QR on
            residents = [
                letterbox(cv2.imread(str(FACES / "probes" / n)), SIZE)
                for n in ("alex_lacamoire1.jpg", "kit_with_rose.jpg")
            ]
            report("resident_step_in_to_grant", asyncio.run(time_to_grant(residents, store, config, args.seconds)))
            from tests.gate.qr_frames import frame_with_pass

            key = Ed25519PrivateKey.generate()
            now = int(time.time())
            text = issue_text(
                key,
                PassClaims(
                    id="bench-pass-1",
                    site="site1",
                    gates=["main"],
                    nbf=now - 60,
                    exp=now + 3600,
                    uses=1000,
                    name="visitor",
                ),
            )
            shown = [cv2.resize(frame_with_pass(text, "plain"), SIZE)]
            report(
                "qr_shown_to_grant", asyncio.run(time_to_grant(shown, store, config, args.seconds, key.public_key()))
            )
        store.close()
    if "matching" in parts:
        report("matching", matching_100k())
    results["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
