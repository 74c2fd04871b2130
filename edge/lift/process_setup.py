"""Setting up the lift's processes (camera process, detector process) to cost little memory.

- ``set_process_name``: the name shown in ps/top (Linux ``prctl(PR_SET_NAME)``, at most 15 bytes), so an
  operator and the benchmarks can tell ``cams-lifts`` from ``det-yolox_nano``;
- ``tune_malloc``: at most two malloc arenas and a fixed mmap threshold (glibc ``mallopt``), so the frames
  that camera threads allocate and free go back to the system instead of staying in per-thread heaps;
- ``start_without_main``: start a spawn process without re-running the gateway's main script in it
  (``edge`` imports the whole command line); the targets live in importable modules, so the child does
  not need it.

All three are no-ops where the platform does not support them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from multiprocessing.process import BaseProcess
from types import SimpleNamespace

PR_SET_NAME = 15
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
_main_lock = threading.Lock()


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def set_process_name(name: str) -> None:
    libc = _libc()
    if libc is not None:
        libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def tune_malloc(mmap_threshold: int = 256 * 1024, arenas: int = 2) -> None:
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_ARENA_MAX, arenas)
        libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)


def start_without_main(process: BaseProcess) -> None:
    """``process.start()`` for a spawn process whose child skips the parent's ``__main__`` (the ``edge``
    script, or a benchmark run with ``python -m``): multiprocessing does not re-run a main module named
    ``<package>.__main__``, so it is presented under such a name while the child's preparation data is
    taken. The lift's process targets live in importable modules, so the child does not need it."""
    main = sys.modules.get("__main__")
    if main is None:
        process.start()
        return
    with _main_lock:
        spec = getattr(main, "__spec__", None)
        main.__spec__ = SimpleNamespace(name="edge.__main__")  # type: ignore[assignment]
        try:
            process.start()
        finally:
            main.__spec__ = spec
