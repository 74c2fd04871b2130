"""Calibrating a gate's threshold on a site's own photos: genuine and impostor distances, FAR/FRR, a DET curve.

``embed_folder`` embeds every photo of a folder with one sub-folder per person (an installer's enrolment
photos, or faces/asia) with the gate's detector and embedding; when a photo shows several faces the one
nearest the centre is taken (LFW's convention; an installer's photos show one person). Every pair of
photos of one person is a genuine comparison, every pair of photos of two people an impostor one.

``threshold_for_far`` is the largest threshold whose measured FAR is at most the target. With N impostor
pairs the smallest FAR that can be measured is 1/N: for a target below that (1e-4 needs more than 10,000
impostor pairs, about 150 people with 3 photos each) the threshold is the one that let no impostor pair
in, and the report says so (``resolution``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.gate.detect import make_detector
from edge.gate.embed import make_embedder
from edge.gate.enrol import decode_photo, fit
from edge.gate.models import load_face_manifest

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(slots=True, frozen=True)
class Embedded:
    person: str
    source: str
    vector: np.ndarray


@dataclass(slots=True, frozen=True)
class Scores:
    genuine: np.ndarray  # distances of same-person pairs
    impostor: np.ndarray  # distances of different-person pairs
    metric: str


@dataclass(slots=True, frozen=True)
class Operating:
    threshold: float
    far: float
    frr: float


@dataclass(slots=True, frozen=True)
class Calibration:
    scores: Scores
    target_far: float
    chosen: Operating
    resolution: float  # 1 / impostor pairs: the smallest FAR this data can show
    table: list[Operating]
    skipped: list[str]

    @property
    def limited_by_data(self) -> bool:
        return self.target_far < self.resolution


def people_of(folder: Path) -> dict[str, list[Path]]:
    """Sub-folder name -> its photos (sorted); ValueError naming the folder when there is nothing to use."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    people = {
        d.name: sorted(
            (p for p in d.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES), key=lambda p: (len(p.stem), p.stem)
        )
        for d in sorted(folder.iterdir())
        if d.is_dir()
    }
    people = {name: photos for name, photos in people.items() if photos}
    if len(people) < 2:
        raise ValueError(f"{folder}: needs at least two sub-folders of photos (one per person), found {len(people)}")
    return people


def embed_folder(
    people: dict[str, list[Path]], *, detector: str, embedding: str, advance: Callable[[], None] = lambda: None
) -> tuple[list[Embedded], list[str]]:
    manifest = load_face_manifest()
    det = make_detector(manifest.detector(detector))
    emb = make_embedder(manifest.embedding(embedding))
    out, skipped = [], []
    for person, photos in people.items():
        for path in photos:
            advance()
            try:
                image = fit(decode_photo(path.read_bytes(), str(path)), 1024)
            except (OSError, ValueError) as exc:
                skipped.append(f"{path}: {exc}")
                continue
            found = det.detect(image)
            if not found and max(image.shape[:2]) < 1024:
                image = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
                found = det.detect(image)
            if not found:
                skipped.append(f"{path}: no face found")
                continue
            cy, cx = image.shape[0] / 2, image.shape[1] / 2
            face = min(found, key=lambda d: np.hypot((d.box[0] + d.box[2]) / 2 - cy, (d.box[1] + d.box[3]) / 2 - cx))
            rgb = np.ascontiguousarray(image[:, :, ::-1])
            out.append(Embedded(person, str(path), emb.embed(image, rgb, [face])[0]))
    return out, skipped


def pair_scores(embedded: list[Embedded], metric: str) -> Scores:
    vectors = np.stack([e.vector for e in embedded]).astype(np.float64)
    if metric == "cosine":
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        dist = 1.0 - vectors @ vectors.T
    else:
        sq = (vectors**2).sum(axis=1)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * vectors @ vectors.T, 0))
    people = np.array([e.person for e in embedded])
    upper = np.triu(np.ones(dist.shape, dtype=bool), k=1)
    same = people[:, None] == people[None, :]
    return Scores(dist[upper & same], dist[upper & ~same], metric)


def rates(scores: Scores, threshold: float) -> Operating:
    far = float(np.mean(scores.impostor <= threshold)) if len(scores.impostor) else 0.0
    frr = float(np.mean(scores.genuine > threshold)) if len(scores.genuine) else 0.0
    return Operating(threshold, far, frr)


def threshold_for_far(scores: Scores, target: float) -> float:
    """The largest threshold with measured FAR <= target."""
    impostor = np.sort(scores.impostor)
    allowed = int(np.floor(target * len(impostor)))  # impostor pairs that may fall within
    if allowed >= len(impostor):
        return float(impostor[-1])
    below = float(impostor[allowed])  # the first impostor that must stay out
    return float(np.nextafter(below, -np.inf))


def calibrate(
    embedded: list[Embedded],
    metric: str,
    target_far: float,
    skipped: list[str],
    thresholds: Iterable[float] | None = None,
) -> Calibration:
    scores = pair_scores(embedded, metric)
    if not len(scores.genuine) or not len(scores.impostor):
        raise ValueError("need at least one person with two usable photos, and two people")
    chosen = rates(scores, threshold_for_far(scores, target_far))
    if thresholds is None:
        low, high = np.percentile(np.concatenate([scores.genuine, scores.impostor]), [1, 99])
        thresholds = np.round(np.linspace(low, high, 15), 3)
    table = [rates(scores, float(t)) for t in thresholds]
    return Calibration(scores, target_far, chosen, 1.0 / len(scores.impostor), table, skipped)


def histogram(values: np.ndarray, edges: np.ndarray, width: int = 40) -> list[str]:
    counts, _ = np.histogram(values, edges)
    top = max(1, counts.max())
    return [
        f"{lo:6.3f}-{hi:6.3f} {c:6d} {'#' * round(width * c / top)}"
        for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def det_png(calibration: Calibration, path: Path, title: str) -> None:
    """A DET curve (FRR against FAR, both on log axes) as a PNG, drawn with OpenCV."""
    s = calibration.scores
    grid = np.unique(np.concatenate([s.genuine, s.impostor]))
    points = [rates(s, float(t)) for t in grid]
    size, pad = 600, 70
    img = np.full((size, size, 3), 255, np.uint8)
    lo = np.log10(min(1e-5, calibration.resolution / 2))

    def xy(far: float, frr: float) -> tuple[int, int]:
        fx = (np.log10(max(far, 10**lo)) - lo) / -lo
        fy = (np.log10(max(frr, 10**lo)) - lo) / -lo
        return int(pad + fx * (size - 2 * pad)), int(size - pad - fy * (size - 2 * pad))

    for decade in range(int(np.ceil(lo)), 1):
        x, _ = xy(10.0**decade, 1)
        _, y = xy(1, 10.0**decade)
        cv2.line(img, (x, pad), (x, size - pad), (225, 225, 225), 1)
        cv2.line(img, (pad, y), (size - pad, y), (225, 225, 225), 1)
        cv2.putText(img, f"1e{decade}", (x - 18, size - pad + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cv2.putText(img, f"1e{decade}", (8, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    curve = np.array([xy(p.far, p.frr) for p in points], np.int32)
    cv2.polylines(img, [curve], False, (200, 60, 20), 2, cv2.LINE_AA)
    c = calibration.chosen
    cv2.circle(img, xy(c.far, c.frr), 6, (0, 0, 220), -1)
    cv2.putText(img, title, (pad, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(
        img,
        f"threshold {c.threshold:.3f}: FAR {c.far:.2e} FRR {c.frr:.3f}",
        (pad, 52),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.45,
        (0, 0, 220),
        1,
        cv2.LINE_AA,
    )
    cv2.putText(img, "FAR (false accepts)", (size // 2 - 70, size - 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    cv2.putText(img, "FRR", (8, pad - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"{path}: cannot write the PNG")
