"""Time the gateway can trust: a persisted high-water mark of the wall clock.

A Pi without a battery-backed clock can boot into the past (until NTP answers, or for good without a network).
Expiry and replay checks on the wall clock would then accept an old command whose replay entry was already purged.
The gateway keeps the latest wall time it has seen in ``<data_dir>/clock.json`` (written every few seconds, atomic
rename). A wall clock earlier than that mark (beyond ``TOLERANCE_S``) is detected at start and while running:
the local alarm ``clock.behind`` is raised, and commands are checked against ``now()``, the later of the two.
The alarm clears once the wall clock has caught up with the mark (NTP has stepped it).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

FILE = "clock.json"
TOLERANCE_S = 60.0  # a clock this much behind its mark is "behind" (small NTP slews are not)


class TrustedClock:
    def __init__(self, data_dir: Path, *, wall: Callable[[], float] = time.time) -> None:
        self._path = data_dir / FILE
        self._wall = wall
        self.mark = self._load()

    def _load(self) -> float:
        try:
            value = float(json.loads(self._path.read_text())["high_water"])
        except FileNotFoundError:
            return 0.0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("clock mark %s unreadable (%s): starting a new one", self._path, exc)
            return 0.0
        return value if value == value and value < 1e11 else 0.0  # not NaN, not absurd

    def now(self) -> float:
        """The later of the wall clock and the last known good time."""
        return max(self._wall(), self.mark)

    @property
    def behind_s(self) -> float:
        """How far the wall clock is behind the mark (0 when it is not)."""
        lag = self.mark - self._wall()
        return lag if lag > TOLERANCE_S else 0.0

    def advance(self) -> None:
        """Move the mark up to the wall clock (never down) and persist it."""
        wall = self._wall()
        if wall <= self.mark:
            return
        self.mark = wall
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps({"high_water": wall}))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self._path)
