"""Process tuning for the always-on recorder: memory that stays flat, a process nobody can dump (device zone).

Owns the glibc knobs (one malloc arena, periodic ``malloc_trim``), the hardening every recorder
process applies before it holds a key or a pixel (no core dumps, no ptrace), and the process's
own resource figures for ``jobshadow record status``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import threading
from typing import Any

log = logging.getLogger(__name__)


class Malloc:
    """glibc tuning that keeps the recorder's memory flat (no-ops elsewhere).

    Each thread would otherwise get its own 64 MB-aligned malloc arena, and memory freed in one
    is not reused by another; the writer thread's transient buffers (colour conversion, chunk
    compression) then pin tens of MB. One arena plus a periodic ``malloc_trim`` (which returns
    free pages inside the heap, not only at its top) keeps PSS close to what is live.
    """

    def __init__(self) -> None:
        try:
            self._libc: Any = ctypes.CDLL(None)
            self._libc.mallopt(-8, 1)  # M_ARENA_MAX
            self._libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            self._libc = None
        self._last = 0.0

    def trim(self, now: float, every: float = 2.0) -> None:
        if self._libc is not None and now - self._last >= every:
            self._last = now
            self._libc.malloc_trim(0)


def harden_process() -> None:
    """No core dumps and no ptrace by other processes: memory holds unmasked pixels and keys."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
    except (OSError, AttributeError):
        log.warning("could not mark the process non-dumpable")


def resources() -> dict[str, float]:
    """This process's CPU seconds and memory (PSS/RSS in MB), read from its own /proc entries.

    Reported by the recorder itself because a non-dumpable process's /proc files are not
    readable by other processes of the same user.
    """
    t = os.times()
    out = {"cpu_s": round(t.user + t.system, 3), "pss_mb": 0.0, "rss_mb": 0.0,
           "threads": float(threading.active_count())}
    try:
        with open("/proc/self/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    out["pss_mb"] = round(int(line.split()[1]) / 1024, 1)
                elif line.startswith("Rss:"):
                    out["rss_mb"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    try:
        class _MI(ctypes.Structure):
            _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                       "fsmblks", "uordblks", "fordblks", "keepcost")]
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _MI
        mi = libc.mallinfo2()
        out["heap_mb"] = round(mi.arena / 2**20, 1)
        out["heap_used_mb"] = round(mi.uordblks / 2**20, 1)
        out["mmap_mb"] = round(mi.hblkhd / 2**20, 1)
    except (OSError, AttributeError):
        pass
    return out
