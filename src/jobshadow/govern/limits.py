"""The limits a governed query runs under: time, memory, cancellation (curated zone).

Every query has a ``QueryGuard``. It stops the query (``con.interrupt()``) when its time is up
(one watchdog thread serves every guard), and when its client goes away or the server stops
(``cancel``, from any thread); the door gives each DuckDB connection a memory limit with
spilling off, so a query past it fails instead of swapping. The HTTP layer makes the guard and
installs it for the thread that runs the query (``guarding``); the door takes it from there
(``active_guard``), or makes one with the configured timeout. ``failure`` turns DuckDB's errors
into ``QueryStopped`` or a message without data values (conversion errors quote the values they
could not convert).
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import threading
import time
from collections.abc import Callable, Iterator

import duckdb

from jobshadow.errors import ConfigError
from jobshadow.errors import QueryStopped as QueryStopped  # defined in the one tree

# Their messages quote data (the value that would not convert, the input that was invalid).
_VALUE_ERRORS = (duckdb.ConversionException, duckdb.InvalidInputException, duckdb.OutOfRangeException,
                 duckdb.TypeMismatchException, duckdb.ConstraintException)


class QueryGuard:
    """The time limit and cancellation of one query. Thread-safe; ``cancel`` may come from anywhere."""

    def __init__(self, timeout: float | None = None, memory_mb: int | None = None) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._interrupts: list[Callable[[], None]] = []
        if timeout is not None:
            _watchdog().watch(time.monotonic() + timeout, self)

    @property
    def reason(self) -> str | None:
        return self._reason

    def cancel(self, reason: str = "query_cancelled") -> None:
        """Stop the query: its running SQL is interrupted, its next step refused. Idempotent."""
        with self._lock:
            if self._reason is not None:
                return
            self._reason = reason
            interrupts = list(self._interrupts)
        for interrupt in interrupts:
            interrupt()

    def check(self) -> None:
        """Raise ``QueryStopped`` if the query was stopped (between its steps)."""
        if self._reason is not None:
            raise self._stopped()

    @contextlib.contextmanager
    def interrupting(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """While inside, stopping the query interrupts what ``con`` is running."""
        interrupt = con.interrupt  # one bound method: a native one need not compare equal to the next
        with self._lock:
            self._interrupts.append(interrupt)
        try:
            self.check()
            yield
        finally:
            with self._lock:
                self._interrupts = [f for f in self._interrupts if f is not interrupt]

    def failure(self, exc: duckdb.Error) -> ConfigError:
        """What to raise for a DuckDB error: why the query stopped, or a message with no values."""
        if self._reason is not None or isinstance(exc, duckdb.InterruptException):
            return self._stopped()
        if isinstance(exc, duckdb.OutOfMemoryException):
            limit = f" ({self.memory_mb} MiB)" if self.memory_mb else ""
            return QueryStopped("query_memory", f"the query needed more memory than it may use{limit} and was "
                                                "stopped; aggregate, filter or add LIMIT")
        if isinstance(exc, _VALUE_ERRORS):
            return ConfigError(f"query failed: {type(exc).__name__.removesuffix('Exception')} error "
                               "(details withheld: they may quote data values)")
        return ConfigError(f"query failed: {str(exc).splitlines()[0][:500]}")

    def _stopped(self) -> QueryStopped:
        if self._reason == "query_timeout":
            return QueryStopped("query_timeout", f"the query ran longer than {self.timeout:g} s and was stopped")
        if self._reason == "shutting_down":
            return QueryStopped("shutting_down", "the server is stopping; the query was cancelled")
        return QueryStopped("query_cancelled", "the query was cancelled (its client went away)")


_active: contextvars.ContextVar[QueryGuard | None] = contextvars.ContextVar("query_guard", default=None)


@contextlib.contextmanager
def guarding(guard: QueryGuard) -> Iterator[QueryGuard]:
    """Queries the door runs in this context (thread) use ``guard``."""
    token = _active.set(guard)
    try:
        yield guard
    finally:
        _active.reset(token)


def active_guard() -> QueryGuard | None:
    return _active.get()


class _Watchdog:
    """One daemon thread that cancels guards whose time is up (a Timer per query would be a thread each)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, QueryGuard]] = []
        self._cond = threading.Condition()
        self._seq = 0
        threading.Thread(target=self._run, name="query-watchdog", daemon=True).start()

    def watch(self, deadline: float, guard: QueryGuard) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (deadline, self._seq, guard))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, guard = heapq.heappop(self._heap)
            guard.cancel("query_timeout")  # a guard whose query finished has nothing left to interrupt


_dog: _Watchdog | None = None
_dog_lock = threading.Lock()


def _watchdog() -> _Watchdog:
    global _dog
    with _dog_lock:
        if _dog is None:
            _dog = _Watchdog()
        return _dog
