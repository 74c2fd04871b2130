"""Rejected commands under a flood: bounded answers and one ``command.rejected`` summary per interval.

Every rejection is counted and logged at most once per interval per reason. The first rejection of an interval is
reported at once as before (a ``command.rejected`` event with its request id, reason and topic, and a ``rejected``
answer); the following ones are only counted, and at the end of the interval one ``command.rejected`` event
carries the counts by reason (``details.summary``). Answers go only to the first ``max_answers`` rejections of an
interval. So junk at any rate costs at most ``2 + max_answers`` outbox rows per interval, not two per message.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Decision:
    report: bool  # emit the detailed command.rejected event now
    answer: bool  # send the rejected answer
    log: bool  # write the warning line


def reason_kind(reason: str) -> str:
    """The reason without its variable part: 'malformed JSON: Expecting value...' -> 'malformed JSON'."""
    return reason.split(":", 1)[0][:80]


class RejectionAggregator:
    def __init__(self, *, interval_s: float, max_answers: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.max_answers = max_answers
        self._clock = clock
        self._start = clock()
        self._counts: Counter[str] = Counter()
        self._answered = 0
        self._reported = False
        self.total = 0

    def note(self, reason: str) -> Decision:
        kind = reason_kind(reason)
        first_of_kind = kind not in self._counts
        self._counts[kind] += 1
        self.total += 1
        report = not self._reported
        self._reported = True
        answer = self._answered < self.max_answers
        if answer:
            self._answered += 1
        return Decision(report=report, answer=answer, log=first_of_kind)

    def due(self) -> bool:
        return self._clock() - self._start >= self.interval_s

    def summary(self) -> dict[str, Any] | None:
        """The counts since the last summary (None if only the reported one, or nothing, happened), and reset."""
        counts, answered = self._counts, self._answered
        elapsed = self._clock() - self._start
        self._counts, self._answered, self._reported, self._start = Counter(), 0, False, self._clock()
        count = sum(counts.values())
        if count <= 1:
            return None
        return {
            "summary": True,
            "count": count,
            "by_reason": dict(counts.most_common(20)),
            "answered": answered,
            "interval_s": round(elapsed, 3),
        }
