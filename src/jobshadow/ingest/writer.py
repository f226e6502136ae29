"""Group commit for the control-plane database (server).

Every signed request records its nonce (replay protection) and the device's ``last_seen``; every
chunk touches its upload; every segment inserts and updates a few rows. One transaction each would
be hundreds of write transactions a second against SQLite's single writer lock, and writers that
find it taken sleep in SQLite's busy handler (1, 2, 5 … 100 ms) instead of queueing.

``GroupCommit`` runs all writes of the request path on one thread. Callers submit an operation (a
function of an open connection); the thread takes everything submitted since its last round and
runs it in **one** transaction, then resolves each caller's future *after* the commit, so a caller
that waits for its result knows its write is durable (``synchronous=FULL``). Under load a round
carries tens of operations for the price of one commit; alone, an operation waits for one commit.

Operations must not raise for expected outcomes (return a value instead: e.g. a replayed nonce is
``INSERT … ON CONFLICT DO NOTHING`` with rowcount 0). If one raises anyway the round is rolled back
and every operation of it is run again in a transaction of its own, so one bad operation fails
only its own caller.

Bookkeeping nobody waits for (``last_seen``, an upload's ``updated_at``) is coalesced with
``touch``: the latest value per key is written with the next round (at most ``linger`` later).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Column, Engine, Table, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from jobshadow.errors import WriterClosed as WriterClosed  # defined in the one tree

log = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[Connection], Any]


class GroupCommit:
    def __init__(self, engine: Engine, *, name: str = "db-writer", max_ops: int = 1000,
                 linger: float = 1.0, lock_path: Path | None = None) -> None:
        self.engine = engine
        # SQLite has one writer at a time; with several collector processes, writers that find
        # the lock taken sleep in SQLite's busy handler (1, 2, 5 … 100 ms) and wake late. A file
        # lock taken first queues them in the kernel instead, each woken as the previous commits.
        self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600) if lock_path is not None else None
        self.max_ops = max_ops
        self.linger = linger
        self._ops: list[tuple[Op, concurrent.futures.Future[Any]]] = []
        # (table, key column, value column) -> {key: value}: latest value wins
        self._touches: dict[tuple[Table, str, str], dict[Any, Any]] = {}
        self._touched_at = 0.0
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self.rounds = 0
        self.ops = 0
        self.busy_s = 0.0

    # --- callers ------------------------------------------------------------------------------------
    def submit(self, op: Callable[[Connection], T]) -> concurrent.futures.Future[T]:
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._cv:
            if self._stop:
                raise WriterClosed("the database writer has stopped")
            self._start_locked()
            self._ops.append((op, fut))
            if len(self._ops) == 1:
                self._cv.notify()
        return fut

    def call(self, op: Callable[[Connection], T], timeout: float | None = 60.0) -> T:
        """Run ``op`` in the next group transaction and return its result once committed."""
        return self.submit(op).result(timeout)

    def touch(self, table: Table, key: Column[Any], column: Column[Any], key_value: Any, value: Any) -> None:
        """Set ``table.column = value`` where ``key == key_value`` with a later round (no waiting)."""
        with self._cv:
            if self._stop:
                return
            self._start_locked()
            slot = self._touches.setdefault((table, key.name, column.name), {})
            if not slot and not any(self._touches.values()):
                self._touched_at = time.monotonic()
            slot[key_value] = value

    def flush(self, timeout: float | None = 60.0) -> None:
        """Wait until everything submitted or touched so far is committed."""
        with self._cv:
            if not self._started or self._stop:
                return
        self.call(lambda c: None, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is pending, then stop; later submissions raise ``WriterClosed``."""
        with self._cv:
            if self._stop:
                return
            self._stop = True
            self._cv.notify()
            started = self._started
        if started:
            self._thread.join(timeout)
        if self._lock_fd is not None and not self._thread.is_alive():
            os.close(self._lock_fd)
            self._lock_fd = None

    def _start_locked(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    # --- the writer thread --------------------------------------------------------------------------
    def _take_touches(self) -> dict[tuple[Table, str, str], dict[Any, Any]]:
        touches, self._touches = self._touches, {}
        return {k: v for k, v in touches.items() if v}

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._ops and not self._stop:
                    pending_touch = any(self._touches.values())
                    if pending_touch:
                        left = self._touched_at + self.linger - time.monotonic()
                        if left <= 0:
                            break
                        self._cv.wait(left)
                    else:
                        self._cv.wait()
                ops, self._ops = self._ops[:self.max_ops], self._ops[self.max_ops:]
                touches = self._take_touches()
                stopping = self._stop and not self._ops
            if ops or touches:
                self._run_round(ops, touches)
            if stopping:
                return

    def _run_round(self, ops: list[tuple[Op, concurrent.futures.Future[Any]]],
                   touches: dict[tuple[Table, str, str], dict[Any, Any]]) -> None:
        results: list[Any] = []
        t0 = time.monotonic()
        try:
            with self._exclusive(), self.engine.begin() as c:
                for op, _ in ops:
                    results.append(op(c))
                _apply_touches(c, touches)
        except Exception as exc:
            if len(ops) == 1 and not touches:
                ops[0][1].set_exception(exc)
                return
            log.debug("a group transaction failed; running its operations one by one", exc_info=True)
            self._run_singly(ops, touches)
            return
        self.rounds += 1
        self.ops += len(ops)
        self.busy_s += time.monotonic() - t0
        for (_, fut), result in zip(ops, results, strict=True):
            fut.set_result(result)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self._lock_fd is None:
            yield
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _run_singly(self, ops: list[tuple[Op, concurrent.futures.Future[Any]]],
                    touches: dict[tuple[Table, str, str], dict[Any, Any]]) -> None:
        for op, fut in ops:
            try:
                with self._exclusive(), self.engine.begin() as c:
                    result = op(c)
            except Exception as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(result)
        if touches:
            try:
                with self._exclusive(), self.engine.begin() as c:
                    _apply_touches(c, touches)
            except Exception:
                log.warning("could not record last-seen and upload activity times", exc_info=True)


def _apply_touches(c: Connection, touches: dict[tuple[Table, str, str], dict[Any, Any]]) -> None:
    for (table, key, column), values in touches.items():
        stmt = update(table).where(table.c[key] == bindparam("_k")).values({column: bindparam("_v")})
        c.execute(stmt, [{"_k": k, "_v": v} for k, v in values.items()])


def insert_new(c: Connection, table: Table, values: dict[str, Any], keys: Sequence[str]) -> bool:
    """Insert a row unless one with the same unique ``keys`` exists; True if inserted.

    Never raises for the duplicate (a group transaction must not fail for an expected outcome).
    """
    dialect = c.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        res = c.execute(sqlite.insert(table).values(values).on_conflict_do_nothing(
            index_elements=[table.c[k] for k in keys]))
        return bool(res.rowcount == 1)
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        res = c.execute(postgresql.insert(table).values(values).on_conflict_do_nothing(
            index_elements=[table.c[k] for k in keys]))
        return bool(res.rowcount == 1)
    # Other databases: the writer thread is the only one inserting these rows in this process.
    exists = c.execute(select(table.c[keys[0]]).where(*(table.c[k] == values[k] for k in keys))).first()
    if exists is not None:
        return False
    c.execute(insert(table).values(values))
    return True
