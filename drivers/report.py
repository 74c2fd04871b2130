"""Report strategy of a polled device: which of a poll's values go to the pipeline (and on to the platform).

``report: every_poll`` (the default) sends every value of every poll. ``report: on_change`` (report by
exception) keeps one ``ChangeFilter`` per device that lets through only the values that differ from the
last one sent, and, with ``report_every_s``, every value again at least that often (a heartbeat, so the
platform knows the values are current). Those are ThingsBoard's ON_CHANGE and ON_CHANGE_OR_REPORT_PERIOD.

Alarm rules (edge/rules.py) are level-triggered and their hold times elapse by deadline, so a repeated
value changes nothing there: feeding only the changes raises and clears the same alarms.

Pure: no I/O, time is passed in (monotonic seconds).
"""

from __future__ import annotations

from typing import Any


def changed(old: Any, new: Any) -> bool:
    """True if ``new`` is a different value from ``old``: a different type counts (True == 1 in Python)."""
    if type(old) is not type(new):
        return True
    if isinstance(new, float) and new != new and old != old:
        return False  # NaN is never equal to itself, but two NaNs are the same reading
    return bool(old != new)


class ChangeFilter:
    """Report by exception for one device: the values of a poll worth sending."""

    def __init__(self, report_every_s: float | None = None) -> None:
        if report_every_s is not None and report_every_s <= 0:
            raise ValueError("report_every_s must be positive")
        self.report_every_s = report_every_s
        self._sent: dict[str, Any] = {}
        self._full_at: float | None = None  # when every value was last sent

    def filter(self, values: dict[str, Any], now: float) -> dict[str, Any]:
        """The values to send: all of them on the first call and once ``report_every_s`` has passed since
        the last full send; otherwise only the keys that are new or whose value differs from the last sent."""
        due = self._full_at is None or (self.report_every_s is not None and now - self._full_at >= self.report_every_s)
        if due:
            self._full_at = now
            out = dict(values)
        else:
            sent = self._sent
            out = {k: v for k, v in values.items() if k not in sent or changed(sent[k], v)}
        self._sent.update(out)
        return out

    def reset(self) -> None:
        """Forget what was sent: the next poll sends every value (a device back online, a restarted bus)."""
        self._sent.clear()
        self._full_at = None
