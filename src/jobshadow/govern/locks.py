"""Table locks: a purge never removes a file that a concurrent commit or read still needs (curated zone).

Iceberg commits are optimistic and never lose a commit, but removing unreferenced files is not:
a purge lists what the current snapshot references and deletes the rest, and a commit that lands
meanwhile (a landing batch, a curation append, a quarantine flag) references data, manifest and
metadata files the purge never saw, while a reader half-way through an older snapshot still opens
files it planned. So every commit and every scan of a table holds that table's lock shared, and
a purge (erasure, retention) holds it exclusively: it waits for them to finish and they wait for
it. A turnstile gives the purge priority: once it waits, new holders queue behind it, so a
stream of overlapping commits cannot starve it.

The locks are ``flock`` on files under the server's state folder, so they hold across the
collector's worker processes, the governance door and host maintenance on one host (and are
released by the kernel when a holder dies). Collectors or doors on several hosts sharing one
catalog would need the lock in the shared database instead; that is not built (as for the
commit lease). Thread-safe; re-entrant per thread (a thread holding a table exclusively may scan
it), but a thread holding a lock shared must not ask for it exclusively.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class TableLocks:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._held = threading.local()

    def _path(self, table: str, suffix: str) -> Path:
        return self.root / f"{_SAFE.sub('_', table)}.{suffix}"

    def _mine(self) -> dict[str, str]:
        held: dict[str, str] | None = getattr(self._held, "tables", None)
        if held is None:
            held = self._held.tables = {}
        return held

    @contextlib.contextmanager
    def _flock(self, path: Path, mode: int) -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @contextlib.contextmanager
    def shared(self, table: str) -> Iterator[None]:
        """Held by every commit to and every scan of ``table``."""
        mine = self._mine()
        if table in mine:
            yield
            return
        fd = os.open(self._path(table, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # Through the turnstile: a purge waiting for the table holds it, so this waits too.
            with self._flock(self._path(table, "turnstile"), fcntl.LOCK_SH):
                fcntl.flock(fd, fcntl.LOCK_SH)
            mine[table] = "shared"
            try:
                yield
            finally:
                del mine[table]
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def exclusive(self, table: str) -> Iterator[None]:
        """Held while files of ``table`` are expired and removed."""
        mine = self._mine()
        if mine.get(table) == "shared":
            raise RuntimeError(f"a thread holding {table} shared asked for it exclusively (deadlock)")
        if table in mine:
            yield
            return
        with self._flock(self._path(table, "turnstile"), fcntl.LOCK_EX), \
                self._flock(self._path(table, "lock"), fcntl.LOCK_EX):
            mine[table] = "exclusive"
            try:
                yield
            finally:
                del mine[table]
