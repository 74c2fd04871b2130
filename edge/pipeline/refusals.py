"""What the broker refused: PUBACK and SUBACK failure reason codes (MQTT 5), kept until delivery succeeds.

A refused message is not a delivery: it stays in the outbox and is retried with back-off. While anything is
refused, the gateway raises the local alarm ``uplink.refused`` naming the topic and the reason; a refused command
subscription raises ``commands.unavailable``. Both show in ``edge status`` (the alarm list and ``uplink.refused``),
the console (alarms), the metrics (``edge_refused_total``) and the log, because the platform may never receive
them. MQTT 3.1.1 has no PUBACK reason codes: a broker that drops a denied publish acknowledges it like any other,
and the gateway cannot tell (docs/mqtt-api.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

RETRY_MIN_S = 1.0
RETRY_MAX_S = 300.0


@dataclass(slots=True)
class RefusedTopic:
    topic: str
    reason: str
    code: int
    count: int = 0
    waiting: set[int] = field(default_factory=set)  # outbox seqs of this topic refused and not delivered yet
    first: float = field(default_factory=time.time)
    last: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "reason": self.reason,
            "code": self.code,
            "count": self.count,
            "waiting": len(self.waiting),
            "first": round(self.first, 3),
            "last": round(self.last, 3),
        }


class Refusals:
    """Refused topics, their back-off and the state of the command subscription."""

    def __init__(self, *, retry_min_s: float = RETRY_MIN_S, retry_max_s: float = RETRY_MAX_S) -> None:
        self._min, self._max = retry_min_s, retry_max_s
        self.topics: dict[str, RefusedTopic] = {}
        self.subscription: str | None = None  # why commands are unavailable, or None

    def refused(self, topic: str, seq: int, reason: str, code: int, attempt: int) -> float:
        """Note a refused publish of outbox row ``seq`` (``attempt`` 0 for its first refusal in this session);
        the delay before its next try."""
        entry = self.topics.get(topic)
        if entry is None:
            entry = self.topics[topic] = RefusedTopic(topic, reason, code)
            log.error(
                "broker refused a publish on %s: %s (0x%02x); the message stays in the outbox", topic, reason, code
            )
        entry.reason, entry.code, entry.last = reason, code, time.time()
        entry.count += 1
        entry.waiting.add(seq)
        return float(min(self._max, self._min * 2.0 ** min(attempt, 20)))

    def delivered(self, topic: str, seq: int) -> bool:
        """Row ``seq`` on ``topic`` was acknowledged; True if that topic is no longer refused."""
        entry = self.topics.get(topic)
        if entry is None:
            return False
        entry.waiting.discard(seq)
        if not entry.waiting:
            del self.topics[topic]
            log.warning("broker accepts %s again", topic)
            return True
        return False

    @property
    def any(self) -> bool:
        return bool(self.topics)

    def details(self) -> dict[str, Any]:
        worst = max(self.topics.values(), key=lambda t: t.last) if self.topics else None
        out: dict[str, Any] = {"topics": [t.to_dict() for t in self.topics.values()]}
        if worst is not None:
            out.update(topic=worst.topic, reason=worst.reason)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "refused": [t.to_dict() for t in self.topics.values()],
            "commands_available": self.subscription is None,
            "commands_refused": self.subscription,
        }
