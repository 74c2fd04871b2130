"""``edge lift evaluate``: how well a detector works on pictures of one's own lift, before trusting it.

Each model runs once over every frame of the folder (``edge.lift.dataset``) on the whole frame, as it does
while the door is open, keeping every e-bike detection down to a low score floor; the figures at any
threshold then follow without running it again:

- per frame: recall (positive frames with an e-bike detection, on a labelled box where there are labels)
  and precision (of the frames with a detection, those that show an e-bike);
- per episode (recordings and picture folders): the lift's confirmation rules (``edge.lift.confirm``) run on
  the detections, an episode is caught when an alarm is confirmed; false alarms and door holds per hour of
  negatives (frames at the lift's fps);
- the score distribution of positive and negative frames, the detector's latency per frame, and the highest
  threshold that reaches a target recall.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from drivers.detectors import Detection, Detector
from edge.lift.config import LiftConfig
from edge.lift.confirm import Action, Sighting, State, iou, step
from edge.lift.dataset import Episode, Frame, frames

SCORE_FLOOR = 0.05
MATCH_IOU = 0.3  # a detection on a labelled e-bike box
THRESHOLDS = tuple(round(0.05 + 0.01 * i, 2) for i in range(91))  # 0.05 .. 0.95
MAX_SHOWN = 60  # misses and false alarms drawn in the report, each


@dataclass(frozen=True, slots=True)
class FrameResult:
    episode: int
    name: str
    t: float
    positive: bool
    labelled: bool
    score: float  # best e-bike score (on a labelled box for labelled positive frames); 0 if none
    detections: tuple[Detection, ...]  # e-bike detections down to SCORE_FLOOR, best first
    infer_ms: float


@dataclass(frozen=True, slots=True)
class Figures:
    threshold: float
    frame_recall: float | None
    frame_precision: float | None
    episode_recall: float | None
    episode_precision: float | None
    alarms_per_hour: float | None  # confirmed alarms in negative episodes per hour of negatives
    holds_per_hour: float | None  # door holds (first sightings) in negative episodes per hour of negatives


@dataclass(frozen=True, slots=True)
class Drawn:
    kind: str  # "miss" or "false alarm"
    name: str
    score: float
    jpeg: bytes


@dataclass(slots=True)
class ModelEvaluation:
    model: str
    backend: str
    frames: list[FrameResult] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    drawn: list[Drawn] = field(default_factory=list)
    misses: int = 0  # at the report threshold
    false_alarms: int = 0
    seconds: float = 0.0


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


class Evaluator:
    def __init__(
        self,
        lift: LiftConfig,
        episodes: Sequence[Episode],
        classes: list[str] | None,
        *,
        report_threshold: float,
        extra_ebike_labels: Sequence[str] = (),
    ) -> None:
        self.lift = lift
        self.episodes = list(episodes)
        self.classes = classes
        self.report_threshold = report_threshold
        self.extra_labels = frozenset(extra_ebike_labels)

    def run(self, detector: Detector, progress: Callable[[int], None] | None = None) -> ModelEvaluation:
        spec = detector.spec
        ebike_ids = spec.ebike_class_ids
        result = ModelEvaluation(spec.name, detector.backend.name, episodes=self.episodes)
        label_names = frozenset(spec.ebike_classes) | self.extra_labels
        started = time.perf_counter()
        for index, episode in enumerate(self.episodes):
            for frame in frames(
                episode, fps=self.lift.fps, max_width=self.lift.decode_width, classes=self.classes, ebike=label_names
            ):
                t0 = time.perf_counter()
                found = detector.detect(frame.image, score_threshold=SCORE_FLOOR, iou_threshold=self.lift.nms_iou)
                infer_ms = (time.perf_counter() - t0) * 1000
                ebikes = tuple(d for d in found if d.class_id in ebike_ids)
                row = FrameResult(
                    index,
                    _frame_name(episode, frame),
                    frame.t,
                    frame.positive,
                    frame.ebike_boxes is not None,
                    _frame_score(frame, ebikes),
                    ebikes,
                    infer_ms,
                )
                result.frames.append(row)
                self._keep_for_report(result, frame, row)
                if progress is not None:
                    progress(len(result.frames))
        result.seconds = time.perf_counter() - started
        return result

    def _keep_for_report(self, result: ModelEvaluation, frame: Frame, row: FrameResult) -> None:
        tau = self.report_threshold
        if row.positive and row.score < tau:
            result.misses += 1
            kind = "miss"
        elif not row.positive and row.score >= tau:
            result.false_alarms += 1
            kind = "false alarm"
        else:
            return
        if sum(d.kind == kind for d in result.drawn) < MAX_SHOWN:
            result.drawn.append(Drawn(kind, row.name, row.score, draw(frame, row.detections, tau)))


def _frame_name(episode: Episode, frame: Frame) -> str:
    """How the report names a frame: the picture, the picture in its folder, or the recording at a time."""
    if episode.kind == "picture":
        return episode.name
    if episode.kind == "sequence":
        return f"{episode.name}/{frame.name}"
    return f"{Path(episode.name).parent}/{frame.name}"


def _frame_score(frame: Frame, ebikes: tuple[Detection, ...]) -> float:
    if frame.ebike_boxes:
        on_box = [d.score for d in ebikes if any(iou(d.box, b) >= MATCH_IOU for b in frame.ebike_boxes)]
        return max(on_box, default=0.0)
    return ebikes[0].score if ebikes else 0.0


def draw(frame: Frame, detections: Sequence[Detection], threshold: float, width: int = 480) -> bytes:
    """The frame with its labelled e-bikes (green) and detections (red at or above the threshold, else
    orange), scaled to ``width``, as JPEG."""
    image = frame.image
    scale = min(1.0, width / image.shape[1])
    marked = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image.copy()
    for box in frame.ebike_boxes or ():
        x1, y1, x2, y2 = (int(v * scale) for v in box)
        cv2.rectangle(marked, (x1, y1), (x2, y2), (0, 200, 0), 2)
    for det in detections[:5]:
        colour = (0, 0, 255) if det.score >= threshold else (0, 165, 255)
        x1, y1, x2, y2 = (int(v * scale) for v in det.box)
        cv2.rectangle(marked, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(
            marked, f"{det.label} {det.score:.2f}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1
        )
    ok, buf = cv2.imencode(".jpg", marked, [cv2.IMWRITE_JPEG_QUALITY, 75])
    assert ok
    return buf.tobytes()


def figures(evaluation: ModelEvaluation, lift: LiftConfig, threshold: float) -> Figures:
    rows = evaluation.frames
    pos = [r for r in rows if r.positive]
    hits = sum(r.score >= threshold for r in pos)
    flagged_neg = sum(r.score >= threshold for r in rows if not r.positive)
    frame_recall = _ratio(hits, len(pos))
    frame_precision = _ratio(hits, hits + flagged_neg)
    caught = alarmed_neg = positives = 0
    alarms = holds = 0
    negative_frames = sum(not r.positive for r in rows)
    for index, episode in enumerate(evaluation.episodes):
        if episode.kind == "picture":
            continue
        actions = _episode_actions([r for r in rows if r.episode == index], lift, threshold)
        confirmed = actions.count(Action.CONFIRM)
        if episode.positive:
            positives += 1
            caught += confirmed > 0
        else:
            alarmed_neg += confirmed > 0
            alarms += confirmed
            holds += actions.count(Action.HOLD)
    hours = negative_frames / lift.fps / 3600
    has_negative_episodes = any(not e.positive and e.kind != "picture" for e in evaluation.episodes)
    return Figures(
        threshold=threshold,
        frame_recall=frame_recall,
        frame_precision=frame_precision,
        episode_recall=_ratio(caught, positives),
        episode_precision=_ratio(caught, caught + alarmed_neg) if positives or alarmed_neg else None,
        alarms_per_hour=alarms / hours if hours and has_negative_episodes else None,
        holds_per_hour=holds / hours if hours and has_negative_episodes else None,
    )


def _episode_actions(rows: list[FrameResult], lift: LiftConfig, threshold: float) -> list[Action]:
    state = State()
    actions: list[Action] = []
    t = 0.0
    for row in rows:
        t = row.t
        sightings = [Sighting(d.label, d.score, d.box) for d in row.detections if d.score >= threshold]
        state, done = step(state, t, sightings, lift.confirm)
        actions += done
    while state.phase.value != "idle":  # the episode ended during a hold: let it run out
        t += 1.0 / lift.fps
        state, done = step(state, t, [], lift.confirm)
        actions += done
    return actions


def threshold_for(evaluation: ModelEvaluation, lift: LiftConfig, target_recall: float) -> Figures | None:
    """The highest threshold whose frame recall reaches ``target_recall`` (None if none does)."""
    pos = sorted((r.score for r in evaluation.frames if r.positive), reverse=True)
    if not pos:
        return None
    best = None
    for tau in THRESHOLDS:
        if sum(s >= tau for s in pos) / len(pos) >= target_recall:
            best = tau
    return figures(evaluation, lift, best) if best is not None else None


def histogram(scores: Sequence[float], bins: int = 10) -> list[int]:
    counts = [0] * bins
    for s in scores:
        counts[min(bins - 1, int(s * bins))] += 1
    return counts


def latency(evaluation: ModelEvaluation) -> dict[str, float]:
    ms = sorted(r.infer_ms for r in evaluation.frames)
    if not ms:
        return {}
    return {
        "mean": statistics.fmean(ms),
        "p50": ms[len(ms) // 2],
        "p95": ms[min(len(ms) - 1, int(len(ms) * 0.95))],
        "max": ms[-1],
    }


def as_percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def per_hour(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}/h"


def summary_lines(evaluation: ModelEvaluation, lift: LiftConfig, threshold: float, target_recall: float) -> list[str]:
    rows = evaluation.frames
    pos = [r for r in rows if r.positive]
    neg = [r for r in rows if not r.positive]
    at = figures(evaluation, lift, threshold)
    lat = latency(evaluation)
    episodes = [e for e in evaluation.episodes if e.kind != "picture"]
    lines = [
        f"model {evaluation.model} ({evaluation.backend}): {len(rows)} frames ({len(pos)} with an e-bike, "
        f"{len(neg)} without), {sum(e.positive for e in episodes)} positive and "
        f"{sum(not e.positive for e in episodes)} negative episodes, {evaluation.seconds:.1f} s",
        f"  at threshold {threshold:.2f}: frame recall {as_percent(at.frame_recall)}, precision "
        f"{as_percent(at.frame_precision)}; episode recall {as_percent(at.episode_recall)}, precision "
        f"{as_percent(at.episode_precision)}; false alarms {per_hour(at.alarms_per_hour)} of negatives, door holds "
        f"{per_hour(at.holds_per_hour)}",
    ]
    target = threshold_for(evaluation, lift, target_recall)
    if target is None:
        best = figures(evaluation, lift, THRESHOLDS[0])
        lines.append(
            f"  no threshold reaches {target_recall * 100:.0f} % frame recall (at {THRESHOLDS[0]}: "
            f"{as_percent(best.frame_recall)})"
        )
    else:
        lines.append(
            f"  threshold for {target_recall * 100:.0f} % frame recall: {target.threshold:.2f} (precision "
            f"{as_percent(target.frame_precision)}, episode recall {as_percent(target.episode_recall)}, false alarms "
            f"{per_hour(target.alarms_per_hour)})"
        )
    lines.append("  scores   " + " ".join(f"{b / 10:.1f}+".rjust(5) for b in range(10)))
    lines.append("  e-bike   " + " ".join(str(c).rjust(5) for c in histogram([r.score for r in pos])))
    lines.append("  none     " + " ".join(str(c).rjust(5) for c in histogram([r.score for r in neg])))
    if lat:
        lines.append(
            f"  latency per frame: mean {lat['mean']:.1f} ms, p50 {lat['p50']:.1f}, p95 {lat['p95']:.1f}, "
            f"max {lat['max']:.1f}"
        )
    return lines
