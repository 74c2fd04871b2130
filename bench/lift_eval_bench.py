"""``edge lift evaluate`` over about 1,000 frames with one model (issue 15: goal 60 s or less).

The folder is made from the shared data: positives are picture folders of a motorcycle or a bicycle crossing
an empty room (labelled with their true boxes), negatives the people clip (sampled at 5 fps) and empty rooms.
The command runs as an installer runs it (``edge lift evaluate FOLDER --config FILE --model M``); the time is
the wall time of the whole command, start-up and report included.

    python -m bench.lift_eval_bench [--model yolox_nano] [--sequences 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from simulators.lift_camera import LiftScene

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGE_SHARED", ROOT.parent / "shared"))
LIFT = SHARED / "lift"


def make_folder(root: Path, sequences: int) -> None:
    pos, neg = root / "positives", root / "negatives"
    neg.mkdir(parents=True)
    photos = ("skimage_middlebury_motorcycle_left.png", "darknet_dog.jpg")
    for n in range(sequences):
        scene = LiftScene.from_photos(
            LIFT / "intel_room_empty_obo_f0020.jpg",
            LIFT / photos[n % 2],
            fps=5,
            before_s=1,
            cross_s=5,
            after_s=0,
            sprite_height=160 + 8 * n,
        )
        folder = pos / f"crossing-{n:02d}"
        folder.mkdir(parents=True)
        for i in range(scene.length):
            image = scene.image(i)
            cv2.imwrite(str(folder / f"{i:04d}.jpg"), image)
            box = scene.ebike_box(i)
            h, w = image.shape[:2]
            text = (
                ""
                if box is None
                else (
                    f"0 {(box[0] + box[2]) / 2 / w:.5f} {(box[1] + box[3]) / 2 / h:.5f} "
                    f"{(box[2] - box[0]) / w:.5f} {(box[3] - box[1]) / h:.5f}\n"
                )
            )
            (folder / f"{i:04d}.txt").write_text(text)
    os.symlink(LIFT / "intel_one-by-one-person-detection.mp4", neg / "people.mp4")
    for name in (
        "intel_room_empty_obo_f0020.jpg",
        "intel_room_empty_obo_f1375.jpg",
        "intel_fisheye_room_empty_people-gif_f22.jpg",
    ):
        os.symlink(LIFT / name, neg / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="yolox_nano")
    parser.add_argument("--sequences", type=int, default=10, help="positive picture folders of 30 frames")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lift-eval-bench-"))
    make_folder(work / "data", args.sequences)
    config = work / "gateway.yaml"
    config.write_text(
        f"site_id: s\ngateway_id: g\nlifts:\n  - id: lift-1\n    camera_url: http://127.0.0.1:9/x\n"
        f"    model_dir: {SHARED / 'models'}\n    fps: 5\n"
    )
    load = os.getloadavg()[0]
    start = time.monotonic()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge",
            "lift",
            "evaluate",
            str(work / "data"),
            "--config",
            str(config),
            "--model",
            args.model,
            "--report",
            str(work / "report.html"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.monotonic() - start
    print(run.stdout, run.stderr, sep="\n")
    if run.returncode:
        raise SystemExit(f"edge lift evaluate failed ({run.returncode})")
    frames = int(re.search(r"(\d+) frames", run.stdout).group(1))
    row = {
        "model": args.model,
        "frames": frames,
        "wall_s": round(wall, 1),
        "frames_per_s": round(frames / wall, 1),
        "load_1m": round(load, 2),
        "report_bytes": (work / "report.html").stat().st_size,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
