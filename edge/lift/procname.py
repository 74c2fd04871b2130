"""The name a lift process shows in ps/top (Linux ``prctl(PR_SET_NAME)``, at most 15 bytes), so an operator
and the benchmarks can tell the detector process from the camera processes. A no-op where unsupported."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

PR_SET_NAME = 15


def set_process_name(name: str) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        return
