"""Which collector process commits to the landing table, and per-upload locks (server, landing zone).

A collector may run as several processes on one host (``jobshadow server start --workers N``).
Every process verifies, stores and records uploads; exactly one at a time appends landed rows to
the Iceberg landing table, because batch bookkeeping (``CollectorService._mark_batch``) assumes a
single appender. ``Lease`` is that role: an exclusive ``flock`` on a file, released by the kernel
when its holder exits or crashes, so another process takes over within a poll interval.

``staged_lock`` serialises work on one staged upload across threads *and* processes (a chunk
append, a completion): ``flock`` locks belong to open file descriptions, so two opens in one
process exclude each other as two processes do.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class Lease:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; never blocks."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


@contextlib.contextmanager
def staged_lock(path: Path, flags: int) -> Iterator[int | None]:
    """Open the staged upload ``path`` with ``flags`` and hold an exclusive lock on it.

    Yields the descriptor, or None when the file is gone (the upload landed or was dropped, and
    its staged bytes were removed): the caller re-reads the upload's state and answers from it.
    """
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        yield None
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)
