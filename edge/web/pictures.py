"""Alarm pictures on disk: the snapshot an alarm was raised with (e-bike in the lift, forced gate, falling object),
one JPEG file per alarm in ``web.alarm_pictures.folder`` (default ``<data_dir>/alarm-pictures``).

The folder is bounded by count and by bytes (``max_count``, ``max_bytes``); past either the oldest pictures are
deleted first. Files are written to a temporary name and renamed, so a crash leaves either the whole picture or
none. At start the folder is read back, so the pictures of alarms still in the history survive a restart of the
gateway; pictures of alarms the history no longer has (retention) are deleted then.
"""

from __future__ import annotations

import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

ALARM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
SUFFIX = ".jpg"


class AlarmPictures:
    """One alarm's picture per file, the oldest deleted first past ``max_count`` pictures or ``max_bytes``."""

    def __init__(
        self,
        folder: Path,
        *,
        max_count: int,
        max_bytes: int,
        keep: Callable[[str], bool] | None = None,
    ) -> None:
        if max_count < 1 or max_bytes < 1:
            raise ValueError("alarm pictures: max_count and max_bytes must be at least 1")
        self.folder = folder
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._sizes: OrderedDict[str, int] = OrderedDict()  # alarm id -> bytes, oldest first
        self.total_bytes = 0
        folder.mkdir(parents=True, exist_ok=True)
        self._load(keep)

    def __contains__(self, alarm_id: object) -> bool:
        return alarm_id in self._sizes

    def __len__(self) -> int:
        return len(self._sizes)

    def ids(self) -> list[str]:
        """Alarm ids with a picture, oldest first."""
        return list(self._sizes)

    def put(self, alarm_id: str, jpeg: bytes) -> bool:
        """Keep ``jpeg`` as the picture of ``alarm_id``; False (nothing kept) if the id is not a safe file name
        or the picture alone is larger than ``max_bytes``."""
        if not ALARM_ID.match(alarm_id) or len(jpeg) > self.max_bytes:
            return False
        path = self._path(alarm_id)
        temporary = path.with_suffix(".tmp")
        try:
            temporary.write_bytes(jpeg)
            os.replace(temporary, path)
        except OSError as exc:  # a full or read-only disk: the alarm still shows, without its picture
            log.error("alarm picture %s not kept: %s", alarm_id, exc)
            temporary.unlink(missing_ok=True)
            return False
        self._forget(alarm_id)
        self._sizes[alarm_id] = len(jpeg)
        self.total_bytes += len(jpeg)
        self._bound()
        return True

    def get(self, alarm_id: str) -> bytes | None:
        if alarm_id not in self._sizes:
            return None
        try:
            return self._path(alarm_id).read_bytes()
        except FileNotFoundError:  # deleted behind our back
            self._forget(alarm_id)
            return None

    def _path(self, alarm_id: str) -> Path:
        return self.folder / f"{alarm_id}{SUFFIX}"

    def _forget(self, alarm_id: str) -> None:
        size = self._sizes.pop(alarm_id, None)
        if size is not None:
            self.total_bytes -= size

    def _remove(self, alarm_id: str) -> None:
        self._forget(alarm_id)
        self._path(alarm_id).unlink(missing_ok=True)

    def _bound(self) -> None:
        while self._sizes and (len(self._sizes) > self.max_count or self.total_bytes > self.max_bytes):
            self._remove(next(iter(self._sizes)))

    def _load(self, keep: Callable[[str], bool] | None) -> None:
        """Read the folder back, oldest file first; drop leftovers, foreign names and pictures not to keep."""
        found: list[tuple[float, str, int]] = []
        for path in self.folder.iterdir():
            if path.suffix == ".tmp":
                path.unlink(missing_ok=True)  # an interrupted write
                continue
            alarm_id = path.name.removesuffix(SUFFIX)
            if path.suffix != SUFFIX or not ALARM_ID.match(alarm_id) or not path.is_file():
                continue  # not ours: left alone
            if keep is not None and not keep(alarm_id):
                path.unlink(missing_ok=True)
                continue
            stat = path.stat()
            found.append((stat.st_mtime, alarm_id, stat.st_size))
        for _, alarm_id, size in sorted(found):
            self._sizes[alarm_id] = size
            self.total_bytes += size
        self._bound()
        if self._sizes:
            log.info("alarm pictures: %d kept from before (%d bytes)", len(self._sizes), self.total_bytes)
